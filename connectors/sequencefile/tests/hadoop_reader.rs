//! Files written by Spillway, read by Hadoop 2.7.3's own Java reader: `hdfs dfs -text` for the
//! records, and `SequenceFile.Reader` (through `connector_sequencefile::hadoop`) for the header
//! fields and for reading in MapReduce splits, which only finds every record exactly once when the
//! sync entries are right. Every compression type, every codec, every Writable type; the standalone
//! writer, the row encoder (with a crash and a resume in place) and the bulk writer.
//!
//! Needs `SPILLWAY_HADOOP_HDFS` (Hadoop's `hdfs` wrapper; `integration/services/hdfs.sh install`).

use std::path::{Path, PathBuf};

use connector_sequencefile::hadoop::{file_url, Hadoop};
use connector_sequencefile::writable::{write_bytes, write_int, write_long, write_text};
use connector_sequencefile::{
    Codec, CompressionType, FnMapper, SequenceFileEncoder, SequenceFileOptions,
    SequenceFileWriterFactory, WritableType, Writer,
};
use sink_core::fs::LocalTarget;
use sink_core::sink::{
    BasePathBucketAssigner, Context, EncodeError, FileSink, FileSinkState, OutputFileConfig,
    WriterContext,
};
use sink_core::test_support::service;

fn hadoop() -> Option<Hadoop> {
    let hdfs = service("SPILLWAY_HADOOP_HDFS", "Hadoop's shell")?;
    Some(Hadoop::new(hdfs).expect("the hdfs wrapper"))
}

const COMPRESSIONS: [(CompressionType, Codec); 7] = [
    (CompressionType::None, Codec::Default),
    (CompressionType::Record, Codec::Default),
    (CompressionType::Record, Codec::Gzip),
    (CompressionType::Record, Codec::Bzip2),
    (CompressionType::Block, Codec::Default),
    (CompressionType::Block, Codec::Gzip),
    (CompressionType::Block, Codec::Bzip2),
];

/// Every type is a key and a value at least once.
const TYPES: [(WritableType, WritableType); 6] = [
    (WritableType::Long, WritableType::Text),
    (WritableType::Int, WritableType::Bytes),
    (WritableType::Null, WritableType::Long),
    (WritableType::Text, WritableType::Int),
    (WritableType::Bytes, WritableType::Null),
    (WritableType::Text, WritableType::Text),
];

/// The `i`-th value of a type: its serialised form and what its `toString` prints.
fn value(t: WritableType, i: u64, out: &mut Vec<u8>) -> String {
    let i = i as i64;
    match t {
        WritableType::Long => {
            let v = (i - 250) * 1_000_000_007;
            write_long(out, v);
            v.to_string()
        }
        WritableType::Int => {
            let v = (i as i32 - 250) * 1000;
            write_int(out, v);
            v.to_string()
        }
        WritableType::Text => {
            let v = format!("text {i} {}", "abc".repeat(i as usize % 40));
            write_text(out, &v);
            v
        }
        WritableType::Bytes => {
            let v: Vec<u8> = (0..i % 9).map(|j| (i * 31 + j * 7) as u8).collect();
            write_bytes(out, &v);
            v.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        WritableType::Null => "(null)".to_string(),
    }
}

fn line(kt: WritableType, vt: WritableType, i: u64) -> String {
    let mut scratch = Vec::new();
    format!(
        "{}\t{}",
        value(kt, i, &mut scratch),
        value(vt, i, &mut scratch)
    )
}

fn options(c: CompressionType, codec: Codec) -> SequenceFileOptions {
    SequenceFileOptions::default()
        .with_compression(c, codec)
        .with_metadata("writer", "spillway")
        .with_metadata("case", format!("{c}-{codec}"))
        .with_block_size(4096)
}

struct Expect {
    path: PathBuf,
    key: WritableType,
    value: WritableType,
    compression: CompressionType,
    codec: Codec,
    lines: Vec<String>,
}

/// Compares `-text` and the checker's report with what was written.
fn verify(hadoop: &Hadoop, files: &[Expect]) {
    let urls: Vec<String> = files.iter().map(|f| file_url(&f.path)).collect();
    let text = hadoop.text(&urls).expect("hdfs dfs -text");
    let got: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for f in files {
        for (n, want) in f.lines.iter().enumerate() {
            assert_eq!(
                got.get(at).copied(),
                Some(want.as_str()),
                "-text of {} ({} {}), record {n}",
                f.path.display(),
                f.compression,
                f.codec
            );
            at += 1;
        }
    }
    assert_eq!(got.len(), at, "-text printed more lines than were written");

    for f in files {
        let bytes = std::fs::read(&f.path).unwrap();
        let syncs = sync_entries(f, &bytes);
        let want = if f.compression == CompressionType::Block {
            1 // a sync entry before every block
        } else {
            (bytes.len() as u64).saturating_sub(4000) / 2300
        };
        assert!(
            syncs as u64 >= want,
            "{}: {syncs} sync entries in {} bytes",
            f.path.display(),
            bytes.len()
        );
    }
    let reports = hadoop.check(&urls, 2048).expect("SequenceFile.Reader");
    assert_eq!(reports.len(), files.len());
    for (f, r) in files.iter().zip(&reports) {
        let what = format!("{} ({} {})", f.path.display(), f.compression, f.codec);
        assert_eq!(r.key_class, f.key.class_name(), "{what}");
        assert_eq!(r.value_class, f.value.class_name(), "{what}");
        assert_eq!(
            r.compressed,
            f.compression != CompressionType::None,
            "{what}"
        );
        assert_eq!(
            r.block_compressed,
            f.compression == CompressionType::Block,
            "{what}"
        );
        let codec = if f.compression == CompressionType::None {
            "none"
        } else {
            f.codec.class_name()
        };
        assert_eq!(r.codec, codec, "{what}");
        assert_eq!(
            r.metadata,
            vec![
                ("case".to_string(), format!("{}-{}", f.compression, f.codec)),
                ("writer".to_string(), "spillway".to_string())
            ],
            "{what}"
        );
        assert_eq!(r.records, f.lines, "{what}");
        assert_eq!(
            r.split_records,
            f.lines.len() as u64,
            "{what}: reading in 2048-byte splits must find every record once (sync entries)"
        );
    }
}

/// Sync entries in a file: `-1` and the marker that ends the header.
fn sync_entries(f: &Expect, bytes: &[u8]) -> usize {
    let mut header = Vec::new();
    options(f.compression, f.codec)
        .header(f.key.class_name(), f.value.class_name())
        .write(&[0; 16], &mut header);
    let marker = &bytes[header.len() - 16..header.len()];
    let entry: Vec<u8> = [&[0xff; 4][..], marker].concat();
    bytes.windows(entry.len()).filter(|w| *w == entry).count()
}

#[test]
fn standalone_writer_every_compression_codec_and_writable() {
    let Some(hadoop) = hadoop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (c, codec) in COMPRESSIONS {
        for (kt, vt) in TYPES {
            let n = 400;
            let path = dir.path().join(format!(
                "{c}-{codec}-{}-{}.seq",
                kt.short_name(),
                vt.short_name()
            ));
            let file = std::fs::File::create(&path).unwrap();
            let mut w =
                Writer::new(file, kt.class_name(), vt.class_name(), &options(c, codec)).unwrap();
            for i in 0..n {
                w.append_with(
                    |o| {
                        value(kt, i, o);
                        Ok(())
                    },
                    |o| {
                        value(vt, i, o);
                        Ok(())
                    },
                )
                .unwrap();
            }
            w.finish().unwrap();
            files.push(Expect {
                path,
                key: kt,
                value: vt,
                compression: c,
                codec,
                lines: (0..n).map(|i| line(kt, vt, i)).collect(),
            });
        }
    }
    verify(&hadoop, &files);
}

#[test]
fn non_ascii_text_and_empty_files() {
    let Some(hadoop) = hadoop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (c, codec) in COMPRESSIONS {
        let path = dir.path().join(format!("utf8-{c}-{codec}.seq"));
        let mut w = Writer::new(
            std::fs::File::create(&path).unwrap(),
            WritableType::Text.class_name(),
            WritableType::Text.class_name(),
            &options(c, codec),
        )
        .unwrap();
        let texts = ["héllo wörld", "日本語", "emoji \u{1F600}", ""];
        for t in texts {
            w.append(&t, &t).unwrap();
        }
        w.finish().unwrap();
        files.push((path, texts.map(|t| format!("{t}\t{t}")).to_vec()));
        let empty = dir.path().join(format!("empty-{c}-{codec}.seq"));
        let w = Writer::new(
            std::fs::File::create(&empty).unwrap(),
            WritableType::Long.class_name(),
            WritableType::Text.class_name(),
            &options(c, codec),
        )
        .unwrap();
        w.finish().unwrap();
        files.push((empty, vec![]));
    }
    let urls: Vec<String> = files.iter().map(|(p, _)| file_url(p)).collect();
    let reports = hadoop.check(&urls, 512).unwrap();
    for ((path, want), r) in files.iter().zip(reports) {
        assert_eq!(&r.records, want, "{}", path.display());
    }
}

/// A mapper of the test's typed values, for the sink paths.
fn mapper(kt: WritableType, vt: WritableType) -> impl connector_sequencefile::KeyValueMapper<u64> {
    FnMapper::new(
        kt.class_name(),
        move |i: &u64, o: &mut Vec<u8>| -> Result<(), EncodeError> {
            value(kt, *i, o);
            Ok(())
        },
        vt.class_name(),
        move |i: &u64, o: &mut Vec<u8>| -> Result<(), EncodeError> {
            value(vt, *i, o);
            Ok(())
        },
    )
}

fn the_part(dir: &Path) -> PathBuf {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    parts.pop().unwrap()
}

/// The row encoder through the file sink: write, persist at a checkpoint, write more, crash,
/// resume in place from the checkpoint, go on; Hadoop reads the whole file, and in splits.
#[tokio::test]
async fn row_format_resumes_in_place_after_a_crash() {
    let Some(hadoop) = hadoop() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (c, codec) in COMPRESSIONS
        .into_iter()
        .filter(|(c, _)| *c != CompressionType::Block)
    {
        let (kt, vt) = (WritableType::Long, WritableType::Text);
        let dir = root.path().join(format!("{c}-{codec}"));
        let sink = FileSink::for_row_format(
            LocalTarget::new(&dir).unwrap(),
            SequenceFileEncoder::with_mapper(options(c, codec), mapper(kt, vt)).unwrap(),
        )
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_write_buffer_size(1000)
        .build()
        .unwrap();
        let ctx = Context::default();
        let mut w = sink
            .writer(WriterContext::new(0, "r1"), vec![])
            .await
            .unwrap();
        for i in 0..300u64 {
            w.write(&i, &ctx).await.unwrap();
        }
        let state: FileSinkState = w.snapshot(1).await.unwrap();
        assert_eq!(
            state.open.len(),
            1,
            "the part stays open across the checkpoint"
        );
        w.notify_checkpoint_complete(1).await.unwrap();
        for i in 10_000..10_200u64 {
            w.write(&i, &ctx).await.unwrap(); // written after the checkpoint: lost in the crash
        }
        w.on_processing_time(0).await.unwrap();
        drop(w); // crash
        let state: FileSinkState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        sink.recover("r1", std::slice::from_ref(&state))
            .await
            .unwrap();
        let mut w = sink
            .writer(WriterContext::new(0, "r1"), vec![state])
            .await
            .unwrap();
        for i in 300..700u64 {
            w.write(&i, &ctx).await.unwrap();
        }
        w.close_all().await.unwrap();
        w.snapshot(2).await.unwrap();
        w.notify_checkpoint_complete(2).await.unwrap();
        files.push(Expect {
            path: the_part(&dir),
            key: kt,
            value: vt,
            compression: c,
            codec,
            lines: (0..700).map(|i| line(kt, vt, i)).collect(),
        });
    }
    verify(&hadoop, &files);
}

/// The bulk writer through the file sink, every compression (block included), with a flush forced
/// by a tiny memory budget in the middle of a part.
#[tokio::test]
async fn bulk_format_every_compression() {
    let Some(hadoop) = hadoop() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (c, codec) in COMPRESSIONS {
        for (kt, vt) in [TYPES[0], TYPES[1]] {
            let dir = root.path().join(format!(
                "{c}-{codec}-{}-{}",
                kt.short_name(),
                vt.short_name()
            ));
            let sink = FileSink::for_bulk_format(
                LocalTarget::new(&dir).unwrap(),
                SequenceFileWriterFactory::with_mapper(options(c, codec), mapper(kt, vt)).unwrap(),
            )
            .with_bucket_assigner(BasePathBucketAssigner)
            .with_output_file_config(OutputFileConfig::builder().with_part_prefix("bulk").build())
            .with_memory_budget(64 * 1024)
            .build()
            .unwrap();
            let ctx = Context::default();
            let mut w = sink
                .writer(WriterContext::new(0, "r1"), vec![])
                .await
                .unwrap();
            for i in 0..2000u64 {
                w.write(&i, &ctx).await.unwrap();
            }
            w.snapshot(1).await.unwrap();
            w.notify_checkpoint_complete(1).await.unwrap();
            files.push(Expect {
                path: the_part(&dir),
                key: kt,
                value: vt,
                compression: c,
                codec,
                lines: (0..2000).map(|i| line(kt, vt, i)).collect(),
            });
        }
    }
    verify(&hadoop, &files);
}
