//! Crashes at many points of the write / snapshot / commit cycle, on the in-memory target that
//! loses everything not persisted; after recovering and replaying the source from the checkpoint,
//! the published Parquet files hold every record exactly once.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use bytes::Bytes;
use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
use sink_core::fs::testing::MemTarget;
use sink_core::sink::{
    CheckpointRollingPolicy, Context, FieldBucketAssigner, FileSink, FileSinkState,
    OnCheckpointRollingPolicy, WriterContext,
};

#[derive(serde::Serialize)]
struct Rec {
    id: u64,
    shard: String,
    text: String,
}

impl sink_core::sink::FieldAccess for Rec {
    fn field(&self, name: &str) -> Option<sink_core::sink::FieldValue<'_>> {
        (name == "shard").then(|| sink_core::sink::FieldValue::Str(self.shard.as_str().into()))
    }
}

fn record(id: u64) -> Rec {
    Rec {
        id,
        shard: format!("s{}", id % 5),
        text: format!("record {id} {}", "x".repeat((id % 50) as usize)),
    }
}

/// A small deterministic random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The durable checkpoint: the source position and the sink's state.
#[derive(Clone)]
struct Checkpoint {
    id: u64,
    position: u64,
    state: FileSinkState,
}

#[tokio::test]
async fn exactly_once_across_crashes() {
    let schema: SchemaConfig = toml::from_str(
        r#"fields = [
            { name = "id", type = "uint64", nullable = false },
            { name = "text", type = "string" },
        ]"#,
    )
    .unwrap();
    let total = 20_000u64;
    for seed in 1..=4u64 {
        let target = MemTarget::new();
        let factory = ParquetWriterFactory::<Rec>::for_serde_with_schema_config(
            &schema,
            ParquetOptions::default()
                .with_batch_size(100)
                .with_max_row_group_size(1000)
                .with_drop_columns(["shard"]),
        )
        .unwrap();
        // Parts also roll on size and under memory pressure, between checkpoints.
        let policy: CheckpointRollingPolicy =
            OnCheckpointRollingPolicy::build().with_max_part_size(64 * 1024);
        let sink = FileSink::for_bulk_format(target.clone(), factory)
            .with_bucket_assigner(FieldBucketAssigner::hive(["shard"]).unwrap())
            .with_rolling_policy(policy)
            .with_memory_budget(256 * 1024)
            .build()
            .unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut durable: Option<Checkpoint> = None;
        let mut crashes = 0;
        'run: loop {
            // (Re)start from the durable checkpoint.
            let restored: Vec<FileSinkState> = durable.iter().map(|c| c.state.clone()).collect();
            sink.recover("run", &restored).await.unwrap();
            let mut w = sink
                .writer(WriterContext::new(0, "run"), restored)
                .await
                .unwrap();
            let mut position = durable.as_ref().map_or(0, |c| c.position);
            let mut next_id = durable.as_ref().map_or(1, |c| c.id + 1);
            loop {
                let n = 1 + rng.below(3000);
                let end = (position + n).min(total);
                for id in position..end {
                    w.write(&record(id), &Context::default()).await.unwrap();
                }
                position = end;
                let done = position == total;
                if done {
                    w.close_all().await.unwrap();
                }
                if !done && rng.below(4) == 0 {
                    crashes += 1;
                    target.crash();
                    continue 'run; // crash while writing, before the snapshot
                }
                let state = w.snapshot(next_id).await.unwrap();
                if !done && rng.below(3) == 0 {
                    crashes += 1;
                    target.crash();
                    continue 'run; // crash before the checkpoint is durable
                }
                durable = Some(Checkpoint {
                    id: next_id,
                    position,
                    state,
                });
                if !done && rng.below(3) == 0 {
                    crashes += 1;
                    target.crash();
                    continue 'run; // crash after it is durable, before publishing
                }
                w.notify_checkpoint_complete(next_id).await.unwrap();
                next_id += 1;
                if done {
                    break 'run;
                }
            }
        }
        assert!(crashes > 0, "seed {seed}: no crash happened");
        assert_eq!(target.in_progress_count(), 0, "seed {seed}");

        let mut seen = vec![0u32; total as usize];
        for (path, bytes) in target.published() {
            let shard = path.as_str().split('/').next().unwrap().to_string();
            for b in common::read_bytes(Bytes::from(bytes)) {
                assert!(b.column_by_name("shard").is_none());
                let ids = b.column(0).as_primitive::<UInt64Type>();
                for id in ids.values().iter() {
                    seen[*id as usize] += 1;
                    assert_eq!(shard, format!("shard=s{}", id % 5));
                }
            }
        }
        let wrong: Vec<(usize, u32)> = seen
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 1)
            .map(|(i, c)| (i, *c))
            .take(10)
            .collect();
        assert!(wrong.is_empty(), "seed {seed}: (id, times) {wrong:?}");
        println!("seed {seed}: {crashes} crashes, exactly once");
    }
}
