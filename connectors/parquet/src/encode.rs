//! Background encoding: a part hands its record batches to a small pool of encoder threads,
//! shared by every part of the process, which write them into the part's `ArrowWriter` in order.
//!
//! * The pool has one thread fewer than the machine has cores (`available_parallelism`; at least
//!   one), started with the first batch: the pipeline keeps the other core busy. Parts waiting
//!   for a thread queue up in order, and a part takes turns with the others batch by batch; one
//!   thread at a time encodes a part's batches, so they are written in order.
//! * A part has at most [`IN_FLIGHT`] batches handed over and not yet encoded: the pipeline waits
//!   (on a condition variable) for room beyond that.
//! * The part's `ArrowWriter` lives in the part's shared state while no thread encodes. Closing a
//!   row group or the file is a job like a batch, after the batches in flight, and the pipeline
//!   waits for it. Bytes produced are moved to an output buffer the pipeline takes. Encoded
//!   batches are dropped by the pipeline, which allocated them.
//! * An encoding error (or panic) is kept and returned, as [`Error::Format`] naming the part's
//!   bucket, by the part's next call that hands over a batch, flushes or finishes; the batches
//!   after it are dropped.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;

use sink_core::Error;

use crate::error::{format_error, WriteFailure};
use crate::plan::{reserve_for_row_group, Plan};

/// Batches a part may have handed over and not yet encoded (one encoding, one waiting).
pub(crate) const IN_FLIGHT: usize = 2;

/// A part's shared state on the heap (the writer's own structure included), with its queue.
pub(crate) const PART_MEMORY: usize =
    std::mem::size_of::<Part>() + 16 + IN_FLIGHT * std::mem::size_of::<Job>();

/// The figures of an `ArrowWriter` the pipeline accounts for, as of its last batch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Snapshot {
    pub in_progress_rows: usize,
    pub in_progress_size: usize,
    /// Parquet's own estimate of the open row group's memory.
    pub memory_size: usize,
    /// The writer's output buffer's capacity.
    pub inner_capacity: usize,
    /// Row groups closed.
    pub groups: usize,
    /// This file's encoded bytes per row in thousandths (0 before any row).
    pub bytes_per_row_milli: u64,
}

impl Snapshot {
    pub(crate) fn of(w: &ArrowWriter<Vec<u8>>, rows_encoded: u64) -> Snapshot {
        let encoded = (w.bytes_written() + w.in_progress_size()) as u64;
        Snapshot {
            in_progress_rows: w.in_progress_rows(),
            in_progress_size: w.in_progress_size(),
            memory_size: w.memory_size(),
            inner_capacity: w.inner().capacity(),
            groups: w.flushed_row_groups().len(),
            bytes_per_row_milli: match rows_encoded {
                0 => 0,
                n => (encoded * 1000 / n).max(1),
            },
        }
    }
}

/// What the pipeline sees of a part's background state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct View {
    pub snapshot: Snapshot,
    /// Rows and memory of the batches handed over and not yet encoded.
    pub in_flight_rows: usize,
    pub in_flight_memory: usize,
    /// Bytes produced and not yet taken, and their buffer's capacity.
    pub out_len: usize,
    pub out_capacity: usize,
}

struct State {
    /// The Parquet writer, unless an encoder thread holds it.
    writer: Option<ArrowWriter<Vec<u8>>>,
    queue: VecDeque<Job>,
    /// Encoded batches, dropped by the pipeline that allocated them (freeing memory on the thread
    /// that allocated it keeps the allocator's per-thread caches as without background encoding).
    spent: Vec<RecordBatch>,
    /// Their memory.
    spent_memory: usize,
    /// Queued in the pool or being encoded.
    busy: bool,
    rows_encoded: u64,
    view: View,
    out: Vec<u8>,
    /// The first failure, returned by every later call (hence shared).
    error: Option<Arc<WriteFailure>>,
    /// The part was dropped: nothing more to encode.
    cancelled: bool,
}

/// A part's side of background encoding.
pub(crate) struct Part {
    plan: Arc<Plan>,
    /// The part's bucket directory, for errors (none for a writer used without a sink).
    location: Option<Arc<str>>,
    state: Mutex<State>,
    /// Signalled when a batch is encoded or the part goes idle.
    done: Condvar,
    /// Bumped whenever `view` changes, so the pipeline reads it only then.
    generation: AtomicU64,
    /// Output is waiting in `out`.
    has_output: AtomicBool,
}

impl Part {
    pub(crate) fn new(
        plan: Arc<Plan>,
        writer: ArrowWriter<Vec<u8>>,
        location: Option<Arc<str>>,
    ) -> Arc<Part> {
        let view = View {
            snapshot: Snapshot::of(&writer, 0),
            ..View::default()
        };
        Arc::new(Part {
            plan,
            location,
            state: Mutex::new(State {
                writer: Some(writer),
                queue: VecDeque::with_capacity(IN_FLIGHT),
                spent: Vec::with_capacity(IN_FLIGHT),
                spent_memory: 0,
                busy: false,
                rows_encoded: 0,
                view,
                out: Vec::new(),
                error: None,
                cancelled: false,
            }),
            done: Condvar::new(),
            generation: AtomicU64::new(1),
            has_output: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept failure as the sink's error.
    fn kept(&self, e: &Arc<WriteFailure>) -> Error {
        format_error(self.location.as_deref(), Arc::clone(e))
    }

    /// Hands a batch to the encoders, after waiting for room; fails with an earlier batch's error.
    pub(crate) fn submit(self: &Arc<Self>, batch: RecordBatch) -> sink_core::Result<()> {
        let memory = batch.get_array_memory_size();
        self.push(Job::Batch(batch, memory))
    }

    /// Closes the open row group (after the batches in flight) and waits for it.
    pub(crate) fn flush(self: &Arc<Self>) -> sink_core::Result<()> {
        self.push(Job::Flush)?;
        self.wait_idle()
    }

    /// Writes the rest of the file with its footer (after the batches in flight) and waits for it;
    /// the bytes are then to [`take`](Self::take_output).
    pub(crate) fn finish(self: &Arc<Self>) -> sink_core::Result<()> {
        self.push(Job::Finish)?;
        self.wait_idle()
    }

    fn push(self: &Arc<Self>, job: Job) -> sink_core::Result<()> {
        let mut s = self.lock();
        while s.error.is_none() && s.queue.len() + usize::from(s.busy) >= IN_FLIGHT {
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let spent = take_spent(&mut s);
        if let Some(e) = &s.error {
            return Err(self.kept(e));
        }
        if let Job::Batch(batch, memory) = &job {
            s.view.in_flight_rows += batch.num_rows();
            s.view.in_flight_memory += memory;
        }
        s.queue.push_back(job);
        self.generation.fetch_add(1, Ordering::Release);
        if !s.busy {
            s.busy = true;
            drop(s);
            pool().schedule(Arc::clone(self));
        } else {
            drop(s);
        }
        drop(spent);
        Ok(())
    }

    /// Waits until nothing is in flight; fails with an encoding error.
    pub(crate) fn wait_idle(&self) -> sink_core::Result<()> {
        let mut s = self.lock();
        while s.busy {
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let spent = take_spent(&mut s);
        self.generation.fetch_add(1, Ordering::Release);
        let res = match &s.error {
            Some(e) => Err(self.kept(e)),
            None => Ok(()),
        };
        drop(s);
        drop(spent);
        res
    }

    /// Moves the bytes produced so far to the end of `out`.
    pub(crate) fn take_output(&self, out: &mut Vec<u8>) -> bool {
        if !self.has_output.load(Ordering::Acquire) {
            return false;
        }
        let mut s = self.lock();
        let bytes = std::mem::take(&mut s.out);
        s.view.out_len = 0;
        s.view.out_capacity = 0;
        self.has_output.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        drop(s);
        if out.is_empty() {
            *out = bytes;
        } else {
            out.extend_from_slice(&bytes);
        }
        true
    }

    /// The current view, if it changed since generation `seen` (which it updates).
    pub(crate) fn view_if_changed(&self, seen: &AtomicU64) -> Option<View> {
        let g = self.generation.load(Ordering::Acquire);
        if g == seen.load(Ordering::Relaxed) {
            return None;
        }
        let s = self.lock();
        seen.store(self.generation.load(Ordering::Acquire), Ordering::Relaxed);
        Some(s.view)
    }

    /// The part is dropped: batches not yet encoded are dropped too.
    pub(crate) fn cancel(&self) {
        let mut s = self.lock();
        s.cancelled = true;
        s.queue.clear();
        let spent = take_spent(&mut s);
        drop(s);
        drop(spent);
    }

    /// Does the part's next job (on a pool thread); returns whether more are queued.
    fn run_next(&self) -> bool {
        let (w, job) = {
            let mut s = self.lock();
            let next = if s.cancelled || s.error.is_some() {
                None
            } else {
                s.queue.pop_front()
            };
            let Some(job) = next else {
                self.go_idle(&mut s);
                return false;
            };
            match s.writer.take() {
                Some(w) => (w, job),
                None => {
                    s.error = Some(Arc::new(WriteFailure::new("write", "the file is finished")));
                    self.go_idle(&mut s);
                    return false;
                }
            }
        };
        let (rows, memory) = match &job {
            Job::Batch(batch, memory) => (batch.num_rows(), *memory),
            _ => (0, 0),
        };
        let plan = &self.plan;
        let mut finished = None;
        let result = catch_unwind(AssertUnwindSafe(|| run_job(plan, w, &job, &mut finished)));
        let mut s = self.lock();
        if let Job::Batch(batch, _) = job {
            s.spent.push(batch);
            s.spent_memory += memory;
        }
        match result {
            Ok(Ok(w)) => {
                s.rows_encoded += rows as u64;
                match w {
                    Some(mut w) => {
                        move_output(&mut w, &mut s.out);
                        s.view.snapshot = Snapshot::of(&w, s.rows_encoded);
                        s.writer = Some(w);
                    }
                    None => {
                        let mut bytes = finished.take().unwrap_or_default();
                        if s.out.is_empty() {
                            s.out = bytes;
                        } else {
                            s.out.append(&mut bytes);
                        }
                        s.view.snapshot = Snapshot::default();
                    }
                }
                s.view.out_len = s.out.len();
                s.view.out_capacity = s.out.capacity();
                if s.view.snapshot.bytes_per_row_milli > 0 {
                    plan.bytes_per_row_milli
                        .store(s.view.snapshot.bytes_per_row_milli, Ordering::Relaxed);
                }
                self.has_output.store(!s.out.is_empty(), Ordering::Release);
            }
            Ok(Err(e)) => s.error = Some(Arc::new(e)),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                s.error = Some(Arc::new(WriteFailure::new(
                    "write",
                    format!("encoder panicked: {why}"),
                )));
            }
        }
        // The batch's memory counts until the pipeline drops it.
        s.view.in_flight_rows -= rows;
        self.generation.fetch_add(1, Ordering::Release);
        let more = !s.queue.is_empty() && s.error.is_none() && !s.cancelled;
        if more {
            // Room for the next job.
            self.done.notify_all();
        } else {
            self.go_idle(&mut s);
        }
        more
    }

    /// Nothing more to do until the next job: drops what is left (after an error) and wakes the
    /// pipeline.
    fn go_idle(&self, s: &mut State) {
        s.queue.clear();
        s.busy = false;
        s.view.in_flight_rows = 0;
        s.view.in_flight_memory = s.spent_memory;
        self.generation.fetch_add(1, Ordering::Release);
        self.done.notify_all();
    }
}

/// What a part asks of its writer.
enum Job {
    /// Encode a batch (with its arrays' memory).
    Batch(RecordBatch, usize),
    /// Close the row group.
    Flush,
    /// Close the row group and write the footer.
    Finish,
}

/// Does `job` with `w`; returns the writer, or none when the file is finished (its last bytes in
/// `finished`).
fn run_job(
    plan: &Plan,
    mut w: ArrowWriter<Vec<u8>>,
    job: &Job,
    finished: &mut Option<Vec<u8>>,
) -> Result<Option<ArrowWriter<Vec<u8>>>, WriteFailure> {
    let groups = w.flushed_row_groups().len();
    match job {
        Job::Batch(batch, _) => {
            if w.in_progress_rows() + batch.num_rows() >= plan.max_row_group_size {
                reserve_for_row_group(&mut w);
            }
            w.write(batch).map_err(|e| WriteFailure::new("write", e))?;
            // A row group may have closed: move its bytes out of the writer's buffer.
            w.sync().map_err(|e| WriteFailure::new("write", e))?;
        }
        Job::Flush => {
            reserve_for_row_group(&mut w);
            w.flush().map_err(|e| WriteFailure::new("flush", e))?;
            w.sync().map_err(|e| WriteFailure::new("flush", e))?;
        }
        Job::Finish => {
            w.flush().map_err(|e| WriteFailure::new("finish", e))?;
            plan.note_row_groups(&w.flushed_row_groups()[groups..]);
            *finished = Some(w.into_inner().map_err(|e| WriteFailure::new("finish", e))?);
            return Ok(None);
        }
    }
    if w.flushed_row_groups().len() > groups {
        plan.note_row_groups(&w.flushed_row_groups()[groups..]);
    }
    Ok(Some(w))
}

/// Takes the encoded batches, to drop outside the lock.
fn take_spent(s: &mut State) -> Vec<RecordBatch> {
    s.view.in_flight_memory -= s.spent_memory;
    s.spent_memory = 0;
    // Into a vector of the pipeline's (the part's keeps its room).
    s.spent.drain(..).collect()
}

/// Moves the writer's output (closed row groups) to the end of `out`.
fn move_output(w: &mut ArrowWriter<Vec<u8>>, out: &mut Vec<u8>) {
    let buf = w.inner_mut();
    if buf.is_empty() {
        return;
    }
    // Taking the bytes is safe: the writer counts what it wrote itself and never reads its sink
    // back, so offsets in the footer stay right (tested by reading files back).
    if out.is_empty() {
        *out = std::mem::take(buf);
    } else if out.capacity() - out.len() >= buf.len() {
        out.extend_from_slice(buf);
        buf.clear();
    } else {
        // Keep the larger buffer (a row group's, sized for it) rather than grow the smaller.
        let mut bytes = std::mem::take(buf);
        bytes.splice(0..0, out.iter().copied());
        *out = bytes;
    }
}

/// The encoder threads and the parts waiting for one.
struct Pool {
    ready: Mutex<VecDeque<Arc<Part>>>,
    wake: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            ready: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
        }));
        // The pipeline keeps a core busy: one thread fewer than cores (at least one).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().max(2) - 1);
        for i in 0..threads {
            std::thread::Builder::new()
                .name(format!("parquet-encode-{i}"))
                .spawn(move || pool.run())
                .expect("start a Parquet encoder thread");
        }
        pool
    })
}

impl Pool {
    fn schedule(&self, part: Arc<Part>) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(part);
        self.wake.notify_one();
    }

    fn run(&self) {
        loop {
            let part = {
                let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(p) = ready.pop_front() {
                        break p;
                    }
                    ready = self.wake.wait(ready).unwrap_or_else(|e| e.into_inner());
                }
            };
            // One batch, then the part takes its turn again behind the others.
            if part.run_next() {
                self.schedule(part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};
    use arrow_schema::{DataType, Field, Schema};
    use sink_core::ErrorKind;

    use crate::options::ParquetOptions;

    #[test]
    fn a_kept_failure_is_a_format_error_naming_the_bucket_and_comes_back() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let plan = Arc::new(Plan::new(schema, &ParquetOptions::default()).unwrap());
        let (w, _) = plan.open_writer(&[]).unwrap();
        let part = Part::new(Arc::clone(&plan), w, Some("country=DE/".into()));
        part.finish().unwrap();
        assert!(
            part.take_output(&mut Vec::new()),
            "the finished file's bytes"
        );
        // A batch after the end fails on the encoder thread; the failure is kept.
        let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_new(Arc::clone(&plan.schema), vec![values]).unwrap();
        part.submit(batch).unwrap();
        let want = "Parquet writer at country=DE/: write: the file is finished";
        for e in [part.wait_idle().unwrap_err(), part.flush().unwrap_err()] {
            assert!(
                matches!(&e, Error::Format { format: "Parquet", path: Some(p), .. } if p == "country=DE/"),
                "{e:?}"
            );
            assert_eq!(e.to_string(), want);
            assert_eq!(e.kind(), ErrorKind::Internal);
        }
    }
}
