//! The adaptive dictionary: columns of mostly distinct values are written without one.

mod common;

use bytes::Bytes;
use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
use parquet::basic::Encoding;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{json, Value};
use sink_core::sink::BulkWriter;

/// The encodings of each column of a file's first row group.
fn encodings(bytes: Vec<u8>) -> Vec<(String, bool)> {
    let r = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
    let g = r.metadata().row_group(0);
    g.columns()
        .iter()
        .map(|c| {
            (
                c.column_path().string(),
                c.encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            )
        })
        .collect()
}

fn write(factory: &ParquetWriterFactory<Value>, rows: u64, offset: u64) -> Vec<u8> {
    let mut w: Box<dyn BulkWriter<Value>> = Box::new(factory.writer());
    for i in offset..offset + rows {
        w.add(&json!({"id": i, "kind": format!("k{}", i % 7), "tiny": i % 3}))
            .unwrap();
    }
    let mut out = Vec::new();
    w.finish(&mut out).unwrap();
    out
}

#[test]
fn unique_columns_get_no_dictionary() {
    let schema: SchemaConfig = toml::from_str(
        r#"fields = [
            { name = "id", type = "uint64" },
            { name = "kind", type = "string" },
            { name = "tiny", type = "uint8" },
        ]"#,
    )
    .unwrap();
    let adaptive = ParquetWriterFactory::<Value>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default(),
    )
    .unwrap();
    assert_eq!(
        encodings(write(&adaptive, 20_000, 0)),
        vec![
            ("id".into(), false),
            ("kind".into(), true),
            ("tiny".into(), true)
        ]
    );
    let fixed = ParquetWriterFactory::<Value>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default().with_adaptive_dictionary(false),
    )
    .unwrap();
    assert_eq!(
        encodings(write(&fixed, 20_000, 0)),
        vec![
            ("id".into(), true),
            ("kind".into(), true),
            ("tiny".into(), true)
        ]
    );

    // A dictionary that overflows (small limit, values repeating within the first batch) is
    // learned: later files write the column without one.
    let small = ParquetOptions::default()
        .with_data_page_size(4096)
        .with_batch_size(1000);
    let learning =
        ParquetWriterFactory::<Value>::for_serde_with_schema_config(&schema, small).unwrap();
    let mut w: Box<dyn BulkWriter<Value>> = Box::new(learning.writer());
    for i in 0..20_000u64 {
        // Each value twice in a row: half distinct, so the first batch does not decide.
        w.add(&json!({"id": i / 2, "kind": "k", "tiny": 1}))
            .unwrap();
    }
    let mut out = Vec::new();
    w.finish(&mut out).unwrap();
    assert_eq!(encodings(out)[0], ("id".into(), true));
    let mut w: Box<dyn BulkWriter<Value>> = Box::new(learning.writer());
    for i in 0..2_000u64 {
        w.add(&json!({"id": i / 2, "kind": "k", "tiny": 1}))
            .unwrap();
    }
    let mut out = Vec::new();
    w.finish(&mut out).unwrap();
    assert_eq!(
        encodings(out),
        vec![
            ("id".into(), false),
            ("kind".into(), true),
            ("tiny".into(), true)
        ]
    );
}
