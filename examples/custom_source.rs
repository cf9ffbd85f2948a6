//! Spillway's runtime with your own `Source` and record type.
//!
//! A source of temperature readings from a few sensors (each sensor is a split, its position the
//! number of readings sent), filtered and converted, written as JSON lines bucketed by sensor,
//! exactly once, with checkpoints. Run it with `cargo run --example custom_source`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spillway::fs::LocalTarget;
use spillway::runtime::{
    Batch, Boundedness, Job, LocalCheckpointStore, Origin, ReadStatus, ReaderContext, Source,
    SourceReader, StreamRecord,
};
use spillway::sink::{FieldAccess, FieldBucketAssigner, FieldValue, FileSink, JsonLinesEncoder};

/// What the sensors send.
#[derive(Clone, Debug)]
struct Reading {
    sensor: u32,
    seq: u64,
    millicelsius: i64,
    ts: i64,
}

/// What we store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Celsius {
    sensor: String,
    seq: u64,
    celsius: f64,
    ts: i64,
}

impl FieldAccess for Celsius {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match name {
            "sensor" => Some(FieldValue::Str(self.sensor.as_str().into())),
            _ => None,
        }
    }
}

/// `sensors` sensors, `per_sensor` readings each.
struct SensorSource {
    sensors: u32,
    per_sensor: u64,
}

#[async_trait]
impl Source<Reading> for SensorSource {
    fn name(&self) -> &str {
        "sensors"
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded {
            expected_records: Some(self.sensors as u64 * self.per_sensor),
        }
    }

    async fn create_reader(
        &self,
        ctx: ReaderContext,
    ) -> spillway::Result<Box<dyn SourceReader<Reading>>> {
        // Each subtask takes the sensors the fixed rule gives it, from their restored positions.
        let mine: Vec<(u32, u64)> = (0..self.sensors)
            .filter(|s| ctx.subtask.owns("sensors", *s as u64))
            .map(|s| {
                let pos = ctx
                    .restored
                    .get(&format!("sensor-{s}"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                (s, pos)
            })
            .collect();
        Ok(Box::new(SensorReader {
            sensors: mine,
            end: self.per_sensor,
        }))
    }
}

struct SensorReader {
    sensors: Vec<(u32, u64)>,
    end: u64,
}

#[async_trait]
impl SourceReader<Reading> for SensorReader {
    async fn poll(
        &mut self,
        batch: &mut Batch<Reading>,
        max: usize,
    ) -> spillway::Result<ReadStatus> {
        let mut n = 0;
        for (i, (sensor, next)) in self.sensors.iter_mut().enumerate() {
            while *next < self.end && n < max {
                let seq = *next;
                let r = Reading {
                    sensor: *sensor,
                    seq,
                    millicelsius: 15_000
                        + ((seq * 7919 + *sensor as u64 * 104_729) % 10_000) as i64,
                    ts: 1_795_478_400_000 + seq as i64 * 1000,
                };
                batch.records.push(StreamRecord {
                    timestamp: Some(r.ts),
                    origin: Origin {
                        split: i as u32,
                        position: seq as i64,
                    },
                    value: r,
                });
                // Advance the position as the record is handed over.
                *next += 1;
                n += 1;
            }
        }
        let done = self.sensors.iter().all(|(_, next)| *next >= self.end);
        Ok(if done {
            ReadStatus::Finished
        } else {
            ReadStatus::More
        })
    }

    fn snapshot(&mut self) -> spillway::Result<Vec<(String, serde_json::Value)>> {
        Ok(self
            .sensors
            .iter()
            .map(|(s, next)| (format!("sensor-{s}"), serde_json::json!(next)))
            .collect())
    }

    fn describe_origin(&self, origin: Origin) -> String {
        let sensor = self.sensors.get(origin.split as usize).map_or(0, |s| s.0);
        format!("sensor-{sensor}#{}", origin.position)
    }
}

async fn run(lake: &Path, checkpoints: &Path) -> spillway::Result<u64> {
    let sink =
        FileSink::for_row_format(LocalTarget::new(lake)?, JsonLinesEncoder::<Celsius>::new())
            .with_bucket_assigner(FieldBucketAssigner::hive(["sensor"]).expect("one field"))
            .build()?;
    let summary = Job::builder("sensors")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(100))
        .checkpoint_store(LocalCheckpointStore::new(checkpoints)?)
        .from_source(SensorSource {
            sensors: 5,
            per_sensor: 20_000,
        })
        // Drop implausible readings, then convert.
        .filter(|r: &Reading| r.millicelsius < 24_000)
        .map(|r: Reading| Celsius {
            sensor: format!("s{}", r.sensor),
            seq: r.seq,
            celsius: r.millicelsius as f64 / 1000.0,
            ts: r.ts,
        })
        .sink_to(sink)
        .run()
        .await?;
    println!(
        "{} readings in, {} written into {} files in {} buckets",
        summary.records_in, summary.records_out, summary.files_committed, summary.buckets
    );
    Ok(summary.records_out)
}

fn read_back(lake: &Path) -> BTreeMap<(String, u64), usize> {
    let mut seen = BTreeMap::new();
    for bucket in std::fs::read_dir(lake).unwrap() {
        let bucket = bucket.unwrap().path();
        for f in std::fs::read_dir(&bucket).unwrap() {
            let f = f.unwrap().path();
            for line in std::fs::read_to_string(&f).unwrap().lines() {
                let c: Celsius = serde_json::from_str(line).unwrap();
                *seen.entry((c.sensor, c.seq)).or_default() += 1;
            }
        }
    }
    seen
}

#[tokio::main]
async fn main() -> spillway::Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (lake, checkpoints) = (dir.path().join("lake"), dir.path().join("checkpoints"));
    let written = run(&lake, &checkpoints).await?;
    let seen = read_back(&lake);
    assert_eq!(seen.len() as u64, written, "every reading once");
    assert!(seen.values().all(|n| *n == 1));
    let buckets: Vec<String> = std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    println!("buckets: {buckets:?}");
    assert_eq!(buckets.len(), 5);
    Ok(())
}

#[test]
fn example_runs() {
    main().unwrap();
}
