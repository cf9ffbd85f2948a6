//! Property test of the row format on an in-memory target that loses unpersisted bytes in a crash:
//! random writes, checkpoints and crashes, restoring from the last checkpoint each time; at the end
//! every published part is parsed by a small SequenceFile reader written here (independent of the
//! writer: it checks the header, every sync entry against the header's marker, the lengths, and
//! decompresses values), and the records, part after part, are exactly those the checkpoints
//! covered, in order. Hadoop's own reader checks the same flow in `hadoop_reader.rs`.

use std::io::Read;

use connector_sequencefile::vint::read_vlong;
use connector_sequencefile::{Codec, CompressionType, SequenceFileEncoder, SequenceFileOptions};
use proptest::prelude::*;
use sink_core::fs::testing::MemTarget;
use sink_core::sink::{
    BasePathBucketAssigner, Context, DefaultRollingPolicy, FileSink, FileSinkState, WriterContext,
};

type Record = (i64, String);

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("{n} bytes wanted, {} left", self.0.len()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn vlong(&mut self) -> Result<i64, String> {
        let (v, n) = read_vlong(self.0).ok_or("short vint")?;
        self.take(n)?;
        Ok(v)
    }
    fn text(&mut self) -> Result<String, String> {
        let n = self.vlong()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|e| e.to_string())
    }
}

fn inflate(codec: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let r = if codec.ends_with("GzipCodec") {
        flate2::read::GzDecoder::new(data).read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(data).read_to_end(&mut out)
    };
    r.map_err(|e| e.to_string())?;
    Ok(out)
}

/// Parses an uncompressed or record-compressed file of `LongWritable` keys and `Text` values.
fn parse(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut c = Cursor(bytes);
    if c.take(4)? != b"SEQ\x06" {
        return Err("bad magic".into());
    }
    let (k, v) = (c.text()?, c.text()?);
    if k != "org.apache.hadoop.io.LongWritable" || v != "org.apache.hadoop.io.Text" {
        return Err(format!("classes {k} {v}"));
    }
    let compressed = c.take(1)?[0] == 1;
    if c.take(1)?[0] != 0 {
        return Err("block compression is not expected here".into());
    }
    let codec = if compressed { c.text()? } else { String::new() };
    for _ in 0..c.i32()? {
        c.text()?;
        c.text()?;
    }
    let sync = c.take(16)?.to_vec();
    let mut out = Vec::new();
    while !c.0.is_empty() {
        let len = c.i32()?;
        if len == -1 {
            if c.take(16)? != sync.as_slice() {
                return Err("a sync entry with another marker".into());
            }
            continue;
        }
        let key_len = c.i32()?;
        if key_len != 8 || len < 8 {
            return Err(format!("record {len} key {key_len}"));
        }
        let key = i64::from_be_bytes(c.take(8)?.try_into().unwrap());
        let raw = c.take(len as usize - 8)?;
        let value = if compressed {
            inflate(&codec, raw)?
        } else {
            raw.to_vec()
        };
        let mut vc = Cursor(&value);
        let text = vc.text()?;
        if !vc.0.is_empty() {
            return Err("bytes after the value".into());
        }
        out.push((key, text));
    }
    Ok(out)
}

fn record(i: u64) -> Record {
    (
        i as i64 * 7 - 3,
        format!("v{i}-{}", "x".repeat(i as usize % 60)),
    )
}

#[derive(Clone, Debug)]
enum Op {
    Write(u8),
    Checkpoint,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..80).prop_map(Op::Write),
        2 => Just(Op::Checkpoint),
        1 => Just(Op::Crash),
    ]
}

fn run(ops: Vec<Op>, compression: CompressionType, codec: Codec) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let target = MemTarget::new();
        let sink = FileSink::for_row_format(
            target.clone(),
            SequenceFileEncoder::<Record>::new(
                SequenceFileOptions::default().with_compression(compression, codec),
            )
            .unwrap(),
        )
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(
            DefaultRollingPolicy::builder()
                .with_max_part_size(6000)
                .build(),
        )
        .with_write_buffer_size(700)
        .build()
        .unwrap();
        let ctx = Context::default();
        let mut states: Vec<FileSinkState> = Vec::new();
        let mut w = sink
            .writer(WriterContext::new(0, "r"), vec![])
            .await
            .unwrap();
        let (mut durable, mut since) = (Vec::new(), Vec::new());
        let mut next = 0u64;
        let mut checkpoint = 0;
        for op in ops {
            match op {
                Op::Write(n) => {
                    for _ in 0..n {
                        let r = record(next);
                        next += 1;
                        w.write(&r, &ctx).await.unwrap();
                        since.push(r);
                    }
                }
                Op::Checkpoint => {
                    checkpoint += 1;
                    states = vec![w.snapshot(checkpoint).await.unwrap()];
                    w.notify_checkpoint_complete(checkpoint).await.unwrap();
                    durable.append(&mut since);
                }
                Op::Crash => {
                    drop(w);
                    target.crash();
                    since.clear();
                    sink.recover("r", &states).await.unwrap();
                    w = sink
                        .writer(WriterContext::new(0, "r"), states.clone())
                        .await
                        .unwrap();
                }
            }
        }
        w.close_all().await.unwrap();
        w.snapshot(checkpoint + 1).await.unwrap();
        w.notify_checkpoint_complete(checkpoint + 1).await.unwrap();
        durable.append(&mut since);

        let mut parts: Vec<(u64, Vec<u8>)> = target
            .published()
            .into_iter()
            .map(|(p, b)| {
                let n = p
                    .as_str()
                    .trim_end_matches(".seq")
                    .rsplit('-')
                    .next()
                    .unwrap();
                (n.parse().unwrap(), b)
            })
            .collect();
        parts.sort();
        let mut got = Vec::new();
        for (n, bytes) in &parts {
            let recs = parse(bytes).map_err(|e| TestCaseError::fail(format!("part {n}: {e}")))?;
            got.extend(recs);
        }
        prop_assert_eq!(got.len(), durable.len());
        prop_assert!(got == durable, "records differ");
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn uncompressed_parts_survive_crashes(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, CompressionType::None, Codec::Default)?;
    }

    #[test]
    fn record_compressed_parts_survive_crashes(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, CompressionType::Record, Codec::Gzip)?;
    }
}
