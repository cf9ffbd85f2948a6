//! Sources: splits with serialisable positions, read by one reader per subtask.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;

/// Where a record came from: a split of the reader (its index in the reader's own list) and a
/// position in it (an offset, a sequence number). Sixteen bytes, copied with every record, so a bad
/// record can be reported as `orders/3@1200` without keeping names per record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The reader-local split index.
    pub split: u32,
    /// The position of the record in its split.
    pub position: i64,
}

/// A record in flight, with its event timestamp and origin.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRecord<T> {
    /// The record.
    pub value: T,
    /// Event time in milliseconds since the epoch, if the record has one.
    pub timestamp: Option<i64>,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> StreamRecord<T> {
    /// The same timestamp and origin with another value.
    pub fn with_value<U>(&self, value: U) -> StreamRecord<U> {
        StreamRecord {
            value,
            timestamp: self.timestamp,
            origin: self.origin,
        }
    }
}

/// A record that could not be decoded, transformed, assigned or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    /// Where it came from.
    pub origin: Origin,
    /// What is wrong with it.
    pub reason: String,
    /// Its bytes, for the dead-letter bucket, when known.
    pub payload: Option<Vec<u8>>,
}

/// What a reader hands over in one poll: good records and bad ones.
#[derive(Debug)]
pub struct Batch<T> {
    /// Records to process, in order.
    pub records: Vec<StreamRecord<T>>,
    /// Records that could not be decoded; the job's bad-record policy decides.
    pub bad: Vec<BadRecord>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            records: Vec::new(),
            bad: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    /// True when there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.bad.is_empty()
    }
}

/// What a poll says about the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// More may come.
    More,
    /// Every split of this reader is finished (bounded sources); no more polls.
    Finished,
}

/// Whether a source ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundedness {
    /// It runs until stopped.
    Unbounded,
    /// It ends, after about this many records if known (for progress bars).
    Bounded {
        /// Expected records over all splits, if known.
        expected_records: Option<u64>,
    },
}

/// Which part of the job a reader serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubtaskInfo {
    /// Index of the subtask in this process, `0..parallelism`.
    pub index: usize,
    /// Subtasks in this process.
    pub parallelism: usize,
    /// Index of this process among the job's workers, `0..workers`.
    pub worker: usize,
    /// Worker processes of the job.
    pub workers: usize,
}

impl SubtaskInfo {
    /// A single subtask of a single worker.
    pub fn single() -> Self {
        SubtaskInfo {
            index: 0,
            parallelism: 1,
            worker: 0,
            workers: 1,
        }
    }

    /// The subtask's index among all subtasks of all workers (in part names).
    pub fn global_index(&self) -> usize {
        self.worker * self.parallelism + self.index
    }

    /// Subtasks of all workers.
    pub fn global_count(&self) -> usize {
        self.workers * self.parallelism
    }

    /// True when the split with this stable key and number belongs to this subtask. The rule is
    /// Flink's Kafka rule: splits of one key (a topic) start at a position given by the key's hash
    /// and go round-robin, so every worker computes the same assignment on every start.
    pub fn owns(&self, key: &str, number: u64) -> bool {
        assign_split(key, number, self.global_count()) == self.global_index()
    }
}

/// The global subtask index that owns split `number` of `key`, among `count` subtasks.
pub fn assign_split(key: &str, number: u64, count: usize) -> usize {
    let count = count.max(1) as u64;
    let start = (crate::sink::fnv1a(key.as_bytes()) & 0x7fff_ffff) % count;
    ((start + number % count) % count) as usize
}

/// What a reader is created with.
#[derive(Clone, Debug)]
pub struct ReaderContext {
    /// The job's name.
    pub job_name: String,
    /// Which subtask this reader serves.
    pub subtask: SubtaskInfo,
    /// Positions of every split in the restored checkpoint (empty on a fresh start), keyed by split
    /// id. A reader takes those of its splits; they win over any configured start position.
    pub restored: Arc<BTreeMap<String, serde_json::Value>>,
}

/// A source of records (Flink's `Source`): it names its splits and creates one reader per subtask.
#[async_trait]
pub trait Source<T>: Send + Sync + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &str;

    /// Whether it ends.
    fn boundedness(&self) -> Boundedness {
        Boundedness::Unbounded
    }

    /// The reader of one subtask.
    async fn create_reader(&self, ctx: ReaderContext) -> Result<Box<dyn SourceReader<T>>>;
}

/// Reads the splits of one subtask (Flink's `SourceReader`).
#[async_trait]
pub trait SourceReader<T>: Send {
    /// Waits for records and appends up to `max` to `batch` (an empty batch is fine, for example
    /// after a poll timeout). The runtime may drop the future to serve a checkpoint barrier; records
    /// appended before that are processed, so the reader must advance its positions as it appends.
    async fn poll(&mut self, batch: &mut Batch<T>, max: usize) -> Result<ReadStatus>;

    /// The position of every split after the records handed over so far, by split id.
    fn snapshot(&mut self) -> Result<Vec<(String, serde_json::Value)>>;

    /// The checkpoint that covers the positions of an earlier [`snapshot`](Self::snapshot) is
    /// durable (a Kafka reader commits its offsets to the broker here, for monitoring).
    async fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        let _ = checkpoint_id;
        Ok(())
    }

    /// The reader's watermark: no record with an earlier event time is expected.
    fn watermark(&self) -> Option<i64> {
        None
    }

    /// A human-readable origin: `orders/3@1200`.
    fn describe_origin(&self, origin: Origin) -> String;

    /// Records behind the end of each split, by split id (a Kafka reader's consumer lag), when the
    /// reader knows. Asked on ticks and checkpoints, not per batch.
    fn lags(&self) -> Vec<(String, i64)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_stable_and_balanced() {
        // Fixed values: the assignment must never change between releases.
        assert_eq!(assign_split("orders", 0, 4), assign_split("orders", 0, 4));
        let start = assign_split("orders", 0, 4);
        for p in 0..8 {
            assert_eq!(assign_split("orders", p, 4), (start + p as usize) % 4);
        }
        let mut load = [0usize; 6];
        for topic in ["a", "b", "c"] {
            for p in 0..12 {
                load[assign_split(topic, p, 6)] += 1;
            }
        }
        assert_eq!(load, [6; 6]);
        assert_eq!(assign_split("x", 5, 0), 0);
    }

    #[test]
    fn workers_split_the_same_way() {
        let owners = |workers: usize, parallelism: usize| {
            (0..10u64)
                .map(|p| {
                    let mut owner = None;
                    for w in 0..workers {
                        for i in 0..parallelism {
                            let s = SubtaskInfo {
                                index: i,
                                parallelism,
                                worker: w,
                                workers,
                            };
                            if s.owns("t", p) {
                                assert!(owner.is_none(), "split {p} owned twice");
                                owner = Some(s.global_index());
                            }
                        }
                    }
                    owner.expect("every split has an owner")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(owners(2, 2), owners(1, 4), "same global count, same owners");
    }
}
