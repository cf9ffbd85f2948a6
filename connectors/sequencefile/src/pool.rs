//! A few threads that compress SequenceFile blocks while writers go on adding records, so that
//! block compression uses the cores the sink's own task does not.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crate::codec::{Codec, Compressor};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Threads at most: the machine's cores, up to four.
const MAX_THREADS: usize = 4;

fn sender() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, MAX_THREADS);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("seqfile-compress-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("start a compression thread");
        }
        Mutex::new(tx)
    })
}

thread_local! {
    static COMPRESSORS: RefCell<HashMap<(Codec, u32), Compressor>> = RefCell::new(HashMap::new());
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's compressor of `codec` at `level` (created once per thread, reset
/// before every buffer) and this thread's scratch buffer.
pub(crate) fn with_compressor<R>(
    codec: Codec,
    level: u32,
    f: impl FnOnce(&mut Compressor, &mut Vec<u8>) -> R,
) -> R {
    COMPRESSORS.with(|c| {
        SCRATCH.with(|s| {
            let mut map = c.borrow_mut();
            let comp = map
                .entry((codec, level))
                .or_insert_with(|| Compressor::with_level(codec, level));
            f(comp, &mut s.borrow_mut())
        })
    })
}

/// Runs `work` on a compression thread; its result, or the message of its panic, arrives on the
/// returned receiver.
pub(crate) fn spawn<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> mpsc::Receiver<Result<R, String>> {
    let (tx, rx) = mpsc::channel();
    let job: Job = Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(work)).map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "compression panicked".into())
        });
        let _ = tx.send(r);
    });
    let sent = sender()
        .lock()
        .map_err(|_| ())
        .and_then(|s| s.send(job).map_err(|_| ()));
    if let Err(()) = sent {
        // No thread to run it (cannot happen while the process lives); the receiver reports it.
    }
    rx
}
