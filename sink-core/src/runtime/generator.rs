//! A built-in source of deterministic e-commerce user-behaviour events (in the shape of Alibaba's
//! public *UserBehavior* data set): `{event_id, user_id, item_id, category_id, behavior, ts}`.
//!
//! Every field is derived from the event's sequence number in its split, so a run is reproducible
//! and exactly-once can be checked by counting ids: split `s` of `n` emits `event_id = seq * n + s`
//! for `seq = 0, 1, 2, ...`, so a bounded run of `count` events emits the ids `0..count` once each.
//! Event time is `start + event_id * step`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::source::{
    Batch, Boundedness, Origin, ReadStatus, ReaderContext, Source, SourceReader, StreamRecord,
};
use crate::error::{Error, Result};
use crate::sink::{FieldAccess, FieldValue};

/// What a user did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Page view.
    Pv,
    /// Added to cart.
    Cart,
    /// Favourited.
    Fav,
    /// Bought.
    Buy,
}

impl Behavior {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Pv => "pv",
            Behavior::Cart => "cart",
            Behavior::Fav => "fav",
            Behavior::Buy => "buy",
        }
    }
}

/// One generated event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique across all splits: `seq * splits + split`.
    pub event_id: u64,
    /// The user, `1..=users`.
    pub user_id: u64,
    /// The item, `1..=items`.
    pub item_id: u64,
    /// The item's category, `1..=categories` (fixed per item).
    pub category_id: u64,
    /// What happened.
    pub behavior: Behavior,
    /// Event time, milliseconds since the epoch.
    pub ts: i64,
}

impl fmt::Display for Event {
    /// The UserBehavior CSV form: `event_id,user_id,item_id,category_id,behavior,ts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},{},{}",
            self.event_id,
            self.user_id,
            self.item_id,
            self.category_id,
            self.behavior.as_str(),
            self.ts
        )
    }
}

impl FieldAccess for Event {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match name {
            "event_id" => FieldValue::UInt(self.event_id),
            "user_id" => FieldValue::UInt(self.user_id),
            "item_id" => FieldValue::UInt(self.item_id),
            "category_id" => FieldValue::UInt(self.category_id),
            "behavior" => FieldValue::Str(Cow::Borrowed(self.behavior.as_str())),
            "ts" => FieldValue::Int(self.ts),
            _ => return None,
        })
    }
}

/// 2026-11-24T00:00:00Z, the default start of event time.
pub const DEFAULT_START_MILLIS: i64 = 1_795_478_400_000;

/// Settings of the generator.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Splits (independent sequences). Fixed for the life of a job.
    pub splits: u32,
    /// Events in all, over all splits; `None` runs until stopped.
    pub count: Option<u64>,
    /// Events per second over all splits; `None` is as fast as possible.
    pub rate: Option<f64>,
    /// Event time of event 0, ms since the epoch.
    pub start_millis: i64,
    /// Event time between consecutive event ids.
    pub step: Duration,
    /// Distinct users.
    pub users: u64,
    /// Distinct items.
    pub items: u64,
    /// Distinct categories.
    pub categories: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            splits: 4,
            count: None,
            rate: None,
            start_millis: DEFAULT_START_MILLIS,
            step: Duration::from_millis(100),
            users: 100_000,
            items: 1_000_000,
            categories: 1_000,
        }
    }
}

impl GeneratorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.splits == 0 {
            return Err(Error::config("source.splits", "must be at least 1"));
        }
        if let Some(r) = self.rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err(Error::config(
                    "source.rate",
                    "must be a positive number of events per second",
                ));
            }
        }
        for (name, v) in [
            ("source.users", self.users),
            ("source.items", self.items),
            ("source.categories", self.categories),
        ] {
            if v == 0 {
                return Err(Error::config(name, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// Events of split `split` in a bounded run.
    pub fn split_count(&self, split: u32) -> Option<u64> {
        let n = self.splits as u64;
        self.count
            .map(|c| c / n + u64::from((split as u64) < c % n))
    }

    /// The event with this sequence number in this split.
    pub fn event(&self, split: u32, seq: u64) -> Event {
        let event_id = seq * self.splits as u64 + split as u64;
        let h = mix(event_id);
        let item_id = 1 + mix(h ^ 0x1d) % self.items;
        let r = mix(h ^ 0x2b) % 1000;
        let behavior = match r {
            0..=894 => Behavior::Pv,
            895..=949 => Behavior::Cart,
            950..=977 => Behavior::Fav,
            _ => Behavior::Buy,
        };
        let step_ns = self.step.as_nanos() as u64;
        let offset_ms = match event_id.checked_mul(step_ns) {
            Some(ns) => ns / 1_000_000,
            None => (event_id as u128 * self.step.as_nanos() / 1_000_000) as u64,
        };
        let ts = self.start_millis.saturating_add(offset_ms as i64);
        Event {
            event_id,
            user_id: 1 + h % self.users,
            item_id,
            category_id: 1 + mix(item_id) % self.categories,
            behavior,
            ts,
        }
    }
}

/// SplitMix64's finaliser: a fast, well-mixed, stable hash of a number.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator as a [`Source`].
#[derive(Clone, Debug)]
pub struct GeneratorSource {
    config: GeneratorConfig,
}

impl GeneratorSource {
    /// A source with these settings.
    pub fn new(config: GeneratorConfig) -> Result<Self> {
        config.validate()?;
        Ok(GeneratorSource { config })
    }

    /// The split id of split `i` in checkpoints.
    pub fn split_id(i: u32) -> String {
        format!("gen-{i}")
    }
}

#[async_trait]
impl Source<Event> for GeneratorSource {
    fn name(&self) -> &str {
        "generator"
    }

    fn boundedness(&self) -> Boundedness {
        match self.config.count {
            Some(c) => Boundedness::Bounded {
                expected_records: Some(c),
            },
            None => Boundedness::Unbounded,
        }
    }

    async fn create_reader(&self, ctx: ReaderContext) -> Result<Box<dyn SourceReader<Event>>> {
        let mut splits = Vec::new();
        for i in 0..self.config.splits {
            if !ctx.subtask.owns("generator", i as u64) {
                continue;
            }
            let id = Self::split_id(i);
            let next = match ctx.restored.get(&id) {
                Some(v) => v.as_u64().ok_or_else(|| {
                    Error::checkpoint(
                        &id,
                        format!("generator position {v} is not a sequence number"),
                    )
                })?,
                None => 0,
            };
            splits.push(GenSplit {
                split: i,
                next,
                end: self.config.split_count(i),
            });
        }
        let share = splits.len() as f64 / self.config.splits as f64;
        Ok(Box::new(GeneratorReader {
            rate: self.config.rate.map(|r| r * share),
            config: self.config.clone(),
            splits,
            cursor: 0,
            started: None,
            emitted: 0,
        }))
    }
}

#[derive(Clone, Debug)]
struct GenSplit {
    split: u32,
    next: u64,
    end: Option<u64>,
}

impl GenSplit {
    fn done(&self) -> bool {
        self.end.is_some_and(|e| self.next >= e)
    }
}

struct GeneratorReader {
    config: GeneratorConfig,
    splits: Vec<GenSplit>,
    rate: Option<f64>,
    cursor: usize,
    started: Option<tokio::time::Instant>,
    emitted: u64,
}

#[async_trait]
impl SourceReader<Event> for GeneratorReader {
    async fn poll(&mut self, batch: &mut Batch<Event>, max: usize) -> Result<ReadStatus> {
        if self.splits.iter().all(GenSplit::done) {
            return Ok(ReadStatus::Finished);
        }
        let mut budget = max.max(1);
        if let Some(rate) = self.rate {
            if rate <= 0.0 {
                std::future::pending::<()>().await;
            }
            let started = *self.started.get_or_insert_with(tokio::time::Instant::now);
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            if due > self.emitted {
                budget = budget.min((due - self.emitted) as usize);
            } else {
                // Sleep until the next event is due, then emit it. (Recomputing `due` after the
                // sleep could round down and spin.)
                let next_at = started + Duration::from_secs_f64((self.emitted + 1) as f64 / rate);
                tokio::time::sleep_until(next_at).await;
                budget = 1;
            }
        }
        // Round-robin over the splits, one event each, so event time advances evenly.
        let n = self.splits.len();
        let mut idle_turns = 0;
        while budget > 0 && idle_turns < n {
            let s = &mut self.splits[self.cursor];
            self.cursor = (self.cursor + 1) % n;
            if s.done() {
                idle_turns += 1;
                continue;
            }
            idle_turns = 0;
            let e = self.config.event(s.split, s.next);
            batch.records.push(StreamRecord {
                timestamp: Some(e.ts),
                origin: Origin {
                    split: s.split,
                    position: s.next as i64,
                },
                value: e,
            });
            s.next += 1;
            budget -= 1;
            self.emitted += 1;
        }
        Ok(if self.splits.iter().all(GenSplit::done) {
            ReadStatus::Finished
        } else {
            ReadStatus::More
        })
    }

    fn snapshot(&mut self) -> Result<Vec<(String, serde_json::Value)>> {
        Ok(self
            .splits
            .iter()
            .map(|s| {
                (
                    GeneratorSource::split_id(s.split),
                    serde_json::json!(s.next),
                )
            })
            .collect())
    }

    fn watermark(&self) -> Option<i64> {
        // Event time only grows within a split; the slowest open split holds the watermark.
        self.splits
            .iter()
            .filter(|s| !s.done())
            .map(|s| self.config.event(s.split, s.next).ts - 1)
            .min()
    }

    fn describe_origin(&self, origin: Origin) -> String {
        format!("generator/{}#{}", origin.split, origin.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::source::SubtaskInfo;
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Arc;

    #[test]
    fn events_are_deterministic_and_well_formed() {
        let c = GeneratorConfig::default();
        let a = c.event(2, 10);
        assert_eq!(a, c.event(2, 10));
        assert_eq!(a.event_id, 42);
        assert_eq!(a.ts, DEFAULT_START_MILLIS + 4200);
        assert!((1..=c.users).contains(&a.user_id));
        assert_eq!(c.event(0, 5).category_id, {
            let e = c.event(0, 5);
            1 + mix(e.item_id) % c.categories
        });
        let mut counts = BTreeMap::new();
        for i in 0..100_000 {
            *counts.entry(c.event(0, i).behavior).or_insert(0u32) += 1;
        }
        assert!(
            counts[&Behavior::Pv] > 85_000 && counts[&Behavior::Buy] > 1_500,
            "{counts:?}"
        );
        let json = serde_json::to_string(&c.event(0, 0)).unwrap();
        assert!(json.starts_with("{\"event_id\":0,\"user_id\":"), "{json}");
        assert!(json.contains("\"behavior\":\"pv\"") || json.contains("\"behavior\":\""));
    }

    #[test]
    fn bounded_counts_split_evenly() {
        let c = GeneratorConfig {
            splits: 3,
            count: Some(10),
            ..GeneratorConfig::default()
        };
        assert_eq!(
            (0..3)
                .map(|s| c.split_count(s).unwrap())
                .collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
    }

    async fn read_all(
        src: &GeneratorSource,
        subtask: SubtaskInfo,
        restored: BTreeMap<String, serde_json::Value>,
    ) -> (Vec<Event>, Vec<(String, serde_json::Value)>) {
        let mut r = src
            .create_reader(ReaderContext {
                job_name: "t".into(),
                subtask,
                restored: Arc::new(restored),
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut b = Batch::default();
            let st = r.poll(&mut b, 7).await.unwrap();
            out.extend(b.records.into_iter().map(|r| r.value));
            if st == ReadStatus::Finished {
                break;
            }
        }
        (out, r.snapshot().unwrap())
    }

    #[tokio::test]
    async fn readers_cover_ids_once_and_resume_from_positions() {
        let src = GeneratorSource::new(GeneratorConfig {
            splits: 5,
            count: Some(103),
            ..GeneratorConfig::default()
        })
        .unwrap();
        let mut ids = HashSet::new();
        for i in 0..2 {
            let sub = SubtaskInfo {
                index: i,
                parallelism: 2,
                worker: 0,
                workers: 1,
            };
            let (events, _) = read_all(&src, sub, BTreeMap::new()).await;
            for e in events {
                assert!(ids.insert(e.event_id), "id {} twice", e.event_id);
            }
        }
        assert_eq!(ids, (0..103).collect());
        // Resume split gen-0 from position 10.
        let restored = BTreeMap::from([("gen-0".to_string(), serde_json::json!(10))]);
        let (events, positions) = read_all(&src, SubtaskInfo::single(), restored).await;
        assert_eq!(events.len(), 103 - 10);
        assert!(positions.contains(&("gen-0".to_string(), serde_json::json!(21))));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_is_respected() {
        let src = GeneratorSource::new(GeneratorConfig {
            splits: 1,
            rate: Some(100.0),
            ..GeneratorConfig::default()
        })
        .unwrap();
        let mut r = src
            .create_reader(ReaderContext {
                job_name: "t".into(),
                subtask: SubtaskInfo::single(),
                restored: Arc::default(),
            })
            .await
            .unwrap();
        let start = tokio::time::Instant::now();
        let mut n = 0;
        while n < 300 {
            let mut b = Batch::default();
            r.poll(&mut b, 1000).await.unwrap();
            n += b.records.len();
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(2900) && took <= Duration::from_millis(3100),
            "{took:?}"
        );
    }
}
