//! Every schema type round-trips: JSON values (and Rust values through serde) written by the
//! Parquet writer read back with the parquet crate as the same Arrow arrays and types.

mod common;

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder};
use arrow_array::*;
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields};
use bytes::Bytes;
use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
use serde_json::{json, Value};
use sink_core::sink::BulkWriter;

const TS: i64 = 1_795_525_500_000; // 2026-11-24T13:05:00Z in ms

/// Writes `values` as the single column `v` declared by `field` (TOML) and reads the column back,
/// once with the default options and once with tiny batches and row groups (many of each per
/// file); both must agree.
fn round_trip(field: &str, values: &[Value]) -> ArrayRef {
    let schema: SchemaConfig =
        toml::from_str(&format!("fields = [ {{ name = \"v\", {field} }} ]")).unwrap();
    let mut results = Vec::new();
    for options in [
        ParquetOptions::default(),
        ParquetOptions::default()
            .with_batch_size(2)
            .with_max_row_group_size(3),
    ] {
        let factory =
            ParquetWriterFactory::<Value>::for_serde_with_schema_config(&schema, options).unwrap();
        let mut w: Box<dyn BulkWriter<Value>> = Box::new(factory.writer());
        let mut out = Vec::new();
        for v in values {
            w.add(&json!({ "v": v }))
                .unwrap_or_else(|e| panic!("{field}: {v}: {e}"));
            w.take_output(&mut out);
        }
        w.finish(&mut out).unwrap();
        let batches = common::read_bytes(Bytes::from(out));
        let file_type = batches[0].schema().field(0).data_type().clone();
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
        let all = arrow_select::concat::concat(&arrays).unwrap();
        assert_eq!(&file_type, all.data_type());
        results.push(all);
    }
    assert_eq!(
        &results[0], &results[1],
        "{field}: batching changed the result"
    );
    results.swap_remove(0)
}

#[test]
fn every_type_round_trips() {
    let tz = |a: TimestampMillisecondArray| a.with_timezone("UTC");
    let table: Vec<(&str, Vec<Value>, ArrayRef)> = vec![
        (
            r#"type = "boolean""#,
            vec![json!(true), json!(null), json!(false)],
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        (
            r#"type = "int8""#,
            vec![json!(-128), json!(127), json!(null)],
            Arc::new(Int8Array::from(vec![Some(-128), Some(127), None])),
        ),
        (
            r#"type = "int16""#,
            vec![json!(-32768), json!(7)],
            Arc::new(Int16Array::from(vec![-32768, 7])),
        ),
        (
            r#"type = "int32""#,
            vec![json!(i32::MIN), json!(i32::MAX)],
            Arc::new(Int32Array::from(vec![i32::MIN, i32::MAX])),
        ),
        (
            r#"type = "int64""#,
            vec![json!(i64::MIN), json!(null), json!(i64::MAX)],
            Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
        ),
        (
            r#"type = "uint8""#,
            vec![json!(0), json!(255)],
            Arc::new(UInt8Array::from(vec![0, 255])),
        ),
        (
            r#"type = "uint16""#,
            vec![json!(65535)],
            Arc::new(UInt16Array::from(vec![65535])),
        ),
        (
            r#"type = "uint32""#,
            vec![json!(u32::MAX), json!(1)],
            Arc::new(UInt32Array::from(vec![u32::MAX, 1])),
        ),
        (
            r#"type = "uint64", nullable = false"#,
            vec![json!(u64::MAX), json!(0)],
            Arc::new(UInt64Array::from(vec![u64::MAX, 0])),
        ),
        (
            r#"type = "float32""#,
            vec![json!(1.5), json!(-2), json!(null)],
            Arc::new(Float32Array::from(vec![Some(1.5), Some(-2.0), None])),
        ),
        (
            r#"type = "float64""#,
            vec![json!(0.1), json!(1e300), json!(3)],
            Arc::new(Float64Array::from(vec![0.1, 1e300, 3.0])),
        ),
        (
            r#"type = "string""#,
            vec![
                json!("héllo"),
                json!(""),
                json!(null),
                json!("x".repeat(1000)),
            ],
            Arc::new(StringArray::from(vec![
                Some("héllo".to_string()),
                Some(String::new()),
                None,
                Some("x".repeat(1000)),
            ])),
        ),
        (
            r#"type = "large_utf8""#,
            vec![json!("a"), json!(null)],
            Arc::new(LargeStringArray::from(vec![Some("a"), None])),
        ),
        (
            r#"type = "binary""#,
            vec![json!("aGk="), json!([0, 255, 7]), json!(null)],
            Arc::new(BinaryArray::from(vec![
                Some(&b"hi"[..]),
                Some(&[0u8, 255, 7][..]),
                None,
            ])),
        ),
        (
            r#"type = "large_binary""#,
            vec![json!("")],
            Arc::new(LargeBinaryArray::from(vec![&b""[..]])),
        ),
        (
            r#"type = "timestamp", unit = "ms", timezone = "UTC""#,
            vec![
                json!(TS),
                json!("2026-11-24T13:05:00Z"),
                json!("2026-11-24 14:05:00.5+01:00"),
                json!(null),
            ],
            Arc::new(tz(TimestampMillisecondArray::from(vec![
                Some(TS),
                Some(TS),
                Some(TS + 500),
                None,
            ]))),
        ),
        (
            r#"type = "timestamp", unit = "us", timezone = "Europe/Paris""#,
            vec![json!("2026-11-24 14:05:00")],
            Arc::new(
                TimestampMicrosecondArray::from(vec![TS * 1000]).with_timezone("Europe/Paris"),
            ),
        ),
        (
            r#"type = "timestamp", unit = "s""#,
            vec![json!("2026-11-24T13:05:00"), json!(5)],
            Arc::new(TimestampSecondArray::from(vec![TS / 1000, 5])),
        ),
        (
            r#"type = "timestamp", unit = "ns", timezone = "+02:00""#,
            vec![json!("2026-11-24T13:05:00Z")],
            Arc::new(TimestampNanosecondArray::from(vec![TS * 1_000_000]).with_timezone("+02:00")),
        ),
        (
            r#"type = "date32""#,
            vec![json!("2026-11-24"), json!(0), json!(null)],
            Arc::new(Date32Array::from(vec![Some(20_781), Some(0), None])),
        ),
        (
            r#"type = "decimal128", precision = 10, scale = 2"#,
            vec![
                json!("12.34"),
                json!(5),
                json!(0.1),
                json!(-99999999.99),
                json!(null),
            ],
            Arc::new(
                Decimal128Array::from(vec![
                    Some(1234),
                    Some(500),
                    Some(10),
                    Some(-9_999_999_999),
                    None,
                ])
                .with_precision_and_scale(10, 2)
                .unwrap(),
            ),
        ),
        (
            r#"type = "decimal128", precision = 38, scale = 0"#,
            vec![json!("99999999999999999999999999999999999999")],
            Arc::new(
                Decimal128Array::from(vec![10i128.pow(38) - 1])
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            ),
        ),
        (
            r#"type = "list", item = { type = "string" }"#,
            vec![
                json!(["a", "b"]),
                json!([]),
                json!(null),
                json!(["c", null]),
            ],
            {
                let mut b = ListBuilder::new(StringBuilder::new());
                b.append_value([Some("a"), Some("b")]);
                b.append_value(Vec::<Option<&str>>::new());
                b.append_null();
                b.append_value([Some("c"), None]);
                Arc::new(b.finish())
            },
        ),
        (
            r#"type = "list", item = { type = "int64", nullable = false }"#,
            vec![json!([1, 2, 3]), json!([4])],
            {
                let field = Arc::new(Field::new("item", DataType::Int64, false));
                Arc::new(ListArray::new(
                    field,
                    arrow_buffer::OffsetBuffer::new(vec![0, 3, 4].into()),
                    Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                    None,
                ))
            },
        ),
        (
            r#"type = "list", item = { type = "list", item = { type = "int64" } }"#,
            vec![json!([[1], [2, null]]), json!([])],
            {
                let mut b = ListBuilder::new(ListBuilder::new(Int64Builder::new()));
                b.values().append_value([Some(1)]);
                b.values().append_value([Some(2), None]);
                b.append(true);
                b.append(true);
                Arc::new(b.finish())
            },
        ),
        (
            r#"type = "struct", fields = [ { name = "id", type = "int64", nullable = false }, { name = "name", type = "string" } ]"#,
            vec![
                json!({"id": 1, "name": "a"}),
                json!({"id": 2}),
                json!(null),
                json!({"name": "c", "id": 3}),
            ],
            {
                let fields = Fields::from(vec![
                    Field::new("id", DataType::Int64, false),
                    Field::new("name", DataType::Utf8, true),
                ]);
                Arc::new(StructArray::new(
                    fields,
                    vec![
                        Arc::new(Int64Array::from(vec![1, 2, 0, 3])),
                        Arc::new(StringArray::from(vec![Some("a"), None, None, Some("c")])),
                    ],
                    Some(NullBuffer::from(vec![true, true, false, true])),
                ))
            },
        ),
        (
            r#"type = "list", item = { type = "struct", fields = [ { name = "k", type = "string" } ] }"#,
            vec![json!([{"k": "x"}, {"k": null}]), json!([])],
            {
                let fields = Fields::from(vec![Field::new("k", DataType::Utf8, true)]);
                let item = Arc::new(Field::new("item", DataType::Struct(fields.clone()), true));
                Arc::new(ListArray::new(
                    item,
                    arrow_buffer::OffsetBuffer::new(vec![0, 2, 2].into()),
                    Arc::new(StructArray::new(
                        fields,
                        vec![Arc::new(StringArray::from(vec![Some("x"), None]))],
                        None,
                    )),
                    None,
                ))
            },
        ),
    ];
    for (field, values, want) in table {
        let got = round_trip(field, &values);
        assert_eq!(got.data_type(), want.data_type(), "{field}");
        assert_eq!(&got, &want, "{field}");
    }
}

#[test]
fn rust_types_through_serde() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Click,
    }
    #[derive(serde::Serialize)]
    struct Inner {
        id: i64,
    }
    #[derive(serde::Serialize)]
    struct Row {
        kind: Kind,
        when: chrono::DateTime<chrono::Utc>,
        bytes: Vec<u8>,
        tags: Vec<&'static str>,
        inner: Option<Inner>,
        small: u8,
        ch: char,
    }
    let schema: SchemaConfig = toml::from_str(
        r#"fields = [
            { name = "kind", type = "string" },
            { name = "when", type = "timestamp", unit = "us", timezone = "UTC" },
            { name = "bytes", type = "binary" },
            { name = "tags", type = "list", item = { type = "string" } },
            { name = "inner", type = "struct", fields = [ { name = "id", type = "int64" } ] },
            { name = "small", type = "int64" },
            { name = "ch", type = "string" },
        ]"#,
    )
    .unwrap();
    let f = ParquetWriterFactory::<Row>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default(),
    )
    .unwrap();
    let mut w: Box<dyn BulkWriter<Row>> = Box::new(f.writer());
    let when = chrono::DateTime::from_timestamp_millis(TS).unwrap();
    for inner in [Some(Inner { id: 9 }), None] {
        w.add(&Row {
            kind: Kind::Click,
            when,
            bytes: vec![1, 2],
            tags: vec!["t"],
            inner,
            small: 7,
            ch: 'é',
        })
        .unwrap();
    }
    let mut out = Vec::new();
    w.finish(&mut out).unwrap();
    let b = &common::read_bytes(Bytes::from(out))[0];
    assert_eq!(b.num_rows(), 2);
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    assert_eq!(
        col("kind").as_ref(),
        &StringArray::from(vec!["click", "click"]) as &dyn Array
    );
    assert_eq!(
        col("when").as_ref(),
        &TimestampMicrosecondArray::from(vec![TS * 1000; 2]).with_timezone("UTC") as &dyn Array
    );
    assert_eq!(
        col("bytes").as_ref(),
        &BinaryArray::from(vec![&[1u8, 2][..]; 2]) as &dyn Array
    );
    assert_eq!(col("inner").null_count(), 1);
    assert_eq!(
        col("ch").as_ref(),
        &StringArray::from(vec!["é", "é"]) as &dyn Array
    );
}
