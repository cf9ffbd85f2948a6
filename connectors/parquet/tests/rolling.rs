//! A size limit on the rolling policy keeps every Parquet part under the limit (give or take one
//! row group), and the sink's size estimate fills parts close to it.

mod common;

use connector_parquet::testing::event_schema;

use connector_parquet::{ParquetOptions, ParquetWriterFactory};
use parquet::file::reader::{FileReader, SerializedFileReader};
use sink_core::fs::{LocalTarget, LocalTargetOptions};
use sink_core::runtime::{Event, GeneratorConfig};
use sink_core::sink::{
    BasePathBucketAssigner, Context, FileSink, OnCheckpointRollingPolicy, WriterContext,
};

#[tokio::test]
async fn parts_stay_under_the_size_limit() {
    let gen = GeneratorConfig::default();
    let events: Vec<Event> = (0..2_200_000).map(|i| gen.event(0, i)).collect();
    // (limit, options, least fill of the parts rolled by size). Parquet's estimate of an open
    // row group counts dictionaries and the page being filled before compression (up to about
    // 2 MiB per column): small parts come out well under the limit, larger ones closer to it.
    for (limit, options, least_fill) in [
        (512 * 1024, ParquetOptions::default(), 0.3),
        (4 * 1024 * 1024, ParquetOptions::default(), 0.35),
        (
            4 * 1024 * 1024,
            ParquetOptions::default().with_max_row_group_size(50_000),
            0.65,
        ),
        (16 * 1024 * 1024, ParquetOptions::default(), 0.85),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let target =
            LocalTarget::with_options(dir.path(), LocalTargetOptions { sync: false }).unwrap();
        let factory =
            ParquetWriterFactory::<Event>::for_serde(event_schema(), options.clone()).unwrap();
        let sink = FileSink::for_bulk_format(target, factory)
            .with_bucket_assigner(BasePathBucketAssigner)
            .with_rolling_policy(OnCheckpointRollingPolicy::build().with_max_part_size(limit))
            .build()
            .unwrap();
        let mut w = sink
            .writer(WriterContext::new(0, "r"), vec![])
            .await
            .unwrap();
        for e in &events {
            w.write(e, &Context::default()).await.unwrap();
        }
        w.close_all().await.unwrap();
        w.snapshot(1).await.unwrap();
        w.notify_checkpoint_complete(1).await.unwrap();

        let files = common::read_lake_paths(dir.path());
        let mut sizes = Vec::new();
        let mut rows = 0;
        for (i, p) in files.iter().enumerate() {
            let len = std::fs::metadata(p).unwrap().len();
            let reader = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
            let md = reader.metadata();
            rows += md.file_metadata().num_rows();
            let largest_group = md
                .row_groups()
                .iter()
                .map(|g| g.compressed_size() as u64)
                .max()
                .unwrap_or(0);
            assert!(
                len <= limit + largest_group,
                "limit {limit}: part {i} has {len} bytes (largest row group {largest_group})"
            );
            sizes.push(len);
        }
        assert_eq!(rows, events.len() as i64);
        // Every part but the last was rolled by size: how full did it get?
        let full = &sizes[..sizes.len() - 1];
        let fill = full.iter().sum::<u64>() as f64 / (full.len() as f64 * limit as f64);
        let over = full.iter().filter(|s| **s > limit).count();
        println!(
            "limit {limit}, max_row_group_size {}: {} parts, fill {:.0}% of the limit, {} over it, largest {} bytes",
            options.max_row_group_size,
            sizes.len(),
            fill * 100.0,
            over,
            sizes.iter().max().unwrap()
        );
        assert!(
            !full.is_empty(),
            "limit {limit}: only {} parts",
            sizes.len()
        );
        assert!(
            fill > least_fill,
            "limit {limit}: parts only {:.0}% full",
            fill * 100.0
        );
    }
}
