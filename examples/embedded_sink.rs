//! Your own program drives a `FileSink` directly, with no Spillway runtime: it writes records,
//! takes its own checkpoints (the sink's state plus its own position, stored atomically), commits
//! once a checkpoint is durable, and after a crash restores and continues, exactly once.
//!
//! Run it with `cargo run --example embedded_sink`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use spillway::fs::LocalTarget;
use spillway::sink::{
    Context, DateTimeBucketAssigner, FileSink, FileSinkState, SimpleStringEncoder, WriterContext,
};

/// Your program's checkpoint: where your input stood, and the sink's state.
#[derive(Serialize, Deserialize)]
struct MyCheckpoint {
    id: u64,
    next_line: u64,
    sink: FileSinkState,
}

/// Writes a checkpoint atomically: a temporary file, fsync, rename.
fn store(path: &Path, c: &MyCheckpoint) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(c)?)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn load(path: &Path) -> Option<MyCheckpoint> {
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).expect("a checkpoint this program wrote"))
}

/// The sink, built the same way on every start.
fn sink(lake: &Path) -> spillway::Result<FileSink<String>> {
    FileSink::for_row_format(
        LocalTarget::new(lake)?,
        SimpleStringEncoder::<String>::new(),
    )
    // One directory per hour of the records' own timestamps.
    .with_bucket_assigner(DateTimeBucketAssigner::new().with_event_time())
    .build()
}

/// Processes lines `next..end`, checkpointing every 1000 lines. Returns early ("crashes") after
/// `crash_after` lines if given, without a final checkpoint.
async fn process(
    lake: &Path,
    ckpt: &Path,
    end: u64,
    crash_after: Option<u64>,
) -> spillway::Result<()> {
    let sink = sink(lake)?;
    const RUN: &str = "emb1"; // in part names; keep it fixed for the life of the output
    let restored = load(ckpt);
    let states: Vec<FileSinkState> = restored.iter().map(|c| c.sink.clone()).collect();
    // Once per start, before writing: tidy what a crash left behind.
    sink.recover(RUN, &states).await?;
    let mut writer = sink.writer(WriterContext::new(0, RUN), states).await?;
    let (mut id, mut next) = restored.map_or((0, 0), |c| (c.id, c.next_line));
    let mut written = 0;
    while next < end {
        let ts = 1_795_478_400_000 + next as i64 * 1000; // one line per second
        let ctx = Context {
            timestamp: Some(ts),
            processing_time: ts,
            watermark: None,
        };
        writer
            .write(&format!("line {next}"), &ctx)
            .await
            .map_err(|e| spillway::Error::Internal(e.to_string()))?;
        next += 1;
        written += 1;
        if crash_after == Some(written) {
            println!("crashing at line {next} without a checkpoint");
            return Ok(());
        }
        if next % 1000 == 0 || next == end {
            id += 1;
            if next == end {
                writer.close_all().await?; // end of input: publish everything
            }
            let state = writer.snapshot(id).await?;
            store(
                ckpt,
                &MyCheckpoint {
                    id,
                    next_line: next,
                    sink: state,
                },
            )
            .map_err(|e| spillway::Error::io("store checkpoint", ckpt.display(), e))?;
            // Durable: now the parts closed up to `id` may be published.
            writer.notify_checkpoint_complete(id).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> spillway::Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (lake, ckpt) = (
        dir.path().join("lake"),
        dir.path().join("my-checkpoint.json"),
    );
    process(&lake, &ckpt, 10_000, Some(4_321)).await?; // crashes mid-way
    process(&lake, &ckpt, 10_000, Some(2_500)).await?; // crashes again
    process(&lake, &ckpt, 10_000, None).await?; // finishes
    let mut lines: Vec<u64> = Vec::new();
    let mut stack = vec![lake.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                assert!(!name.starts_with('.'), "in-progress file left: {name}");
                for l in std::fs::read_to_string(&p).unwrap().lines() {
                    lines.push(l.trim_start_matches("line ").parse().unwrap());
                }
            }
        }
    }
    lines.sort_unstable();
    assert_eq!(
        lines,
        (0..10_000).collect::<Vec<_>>(),
        "every line exactly once"
    );
    println!("10000 lines, exactly once, after two crashes");
    Ok(())
}

#[test]
fn example_runs() {
    main().unwrap();
}
