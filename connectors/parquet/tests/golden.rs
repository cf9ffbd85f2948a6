//! The bytes of a Parquet file are part of the contract: a refactoring of the writer must not
//! change them. A fixed set of records (every column type, nulls, missing members, bad records
//! between good ones, JSON maps and serde structs, several batches and row groups, dictionaries
//! that stay and that are judged not worth it) is written and the file's length and FNV-1a hash
//! are compared with those of the code before the change (issue 14).
//!
//! When a change is meant to alter the bytes (a new parquet version, a new default), check the new
//! file by reading it back, then update the figures here in the same commit.

use serde::Serialize;
use serde_json::{json, Value};
use sink_core::sink::BulkWriter;

use connector_parquet::{
    Compression, ParquetOptions, ParquetWriterFactory, SchemaConfig, Statistics,
};

const SCHEMA: &str = r#"
fields = [
  { name = "id", type = "uint64", nullable = false },
  { name = "small", type = "int8" },
  { name = "mid", type = "int16" },
  { name = "count", type = "int32" },
  { name = "big", type = "int64" },
  { name = "u8", type = "uint8" },
  { name = "u16", type = "uint16" },
  { name = "u32", type = "uint32" },
  { name = "ratio", type = "float32" },
  { name = "score", type = "float64" },
  { name = "flag", type = "boolean" },
  { name = "name", type = "string" },
  { name = "country", type = "string" },
  { name = "note", type = "large_string" },
  { name = "blob", type = "binary" },
  { name = "large_blob", type = "large_binary" },
  { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
  { name = "local", type = "timestamp", unit = "us" },
  { name = "day", type = "date32" },
  { name = "price", type = "decimal128", precision = 10, scale = 2 },
  { name = "tags", type = "list", item = { type = "string" } },
  { name = "matrix", type = "list", item = { type = "list", item = { type = "int64", nullable = false } } },
  { name = "user", type = "struct", fields = [
      { name = "id", type = "int64", nullable = false },
      { name = "name", type = "string" },
      { name = "langs", type = "list", item = { type = "string" } },
  ] },
]
"#;

/// A small deterministic generator (an LCG), so the records need no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

const COUNTRIES: [&str; 5] = ["DE", "FR", "NL", "PL", "SE"];

/// The `i`-th record as a JSON map: values of every kind the writer accepts for each column.
fn json_record(i: u64, r: &mut Lcg) -> Value {
    let x = r.next();
    let mut v = json!({
        "id": i,
        "small": (x % 200) as i64 - 100,
        "mid": (x % 60_000) as i64 - 30_000,
        "count": x % 1_000_000,
        "big": (x as i64) * if i % 2 == 0 { 1 } else { -1 },
        "u8": x % 256,
        "u16": x % 65_536,
        "u32": x,
        "ratio": (x % 1000) as f64 / 7.0,
        "score": x as f64 / 3.0,
        "flag": x % 3 == 0,
        "name": format!("user-{}", x % 5000),
        "country": COUNTRIES[(x % 5) as usize],
        "note": format!("note {i} {}", "x".repeat((x % 40) as usize)),
        "blob": match i % 3 {
            0 => json!("aGVsbG8gd29ybGQ="),
            1 => json!([1, 2, 3, (x % 256)]),
            _ => Value::Null,
        },
        "large_blob": [0, 255, (x % 256)],
        "ts": match i % 3 {
            0 => json!(1_795_525_500_000i64 + (x % 100_000) as i64),
            1 => json!("2026-11-24T13:05:00.250Z"),
            _ => json!("2026-11-24 14:05:00+01:00"),
        },
        "local": if i % 2 == 0 { json!("2026-11-24 13:05:00") } else { json!(x) },
        "day": if i % 2 == 0 { json!("2026-11-24") } else { json!((x % 30_000) as i64 - 10_000) },
        "price": match i % 4 {
            0 => json!(x % 100_000),
            1 => json!(format!("{}.{:02}", x % 10_000, x % 100)),
            2 => json!((x % 10_000) as f64 / 8.0),
            _ => Value::Null,
        },
        "tags": (0..(x % 4)).map(|k| format!("t{}", (x + k) % 7)).collect::<Vec<_>>(),
        "matrix": [[i as i64, -(i as i64)], [], [(x % 9) as i64]],
        "user": {"id": (x % 700) as i64, "name": format!("n{}", x % 11), "langs": ["de", "en"]},
    });
    // Missing members (nulls), nulls given, an empty nested struct member left out.
    let m = v.as_object_mut().expect("an object");
    match i % 7 {
        0 => {
            m.remove("note");
            m.remove("tags");
        }
        1 => {
            m.insert("name".into(), Value::Null);
            m.insert("user".into(), Value::Null);
        }
        2 => {
            m.insert("user".into(), json!({"id": 3}));
        }
        _ => {}
    }
    v
}

/// The same columns as a Rust struct, through serde's `serialize_struct` (static names).
#[derive(Serialize)]
struct Event {
    id: u64,
    small: Option<i8>,
    mid: i16,
    count: i32,
    big: i64,
    u8: u8,
    u16: u16,
    u32: u32,
    ratio: f32,
    score: f64,
    flag: bool,
    name: String,
    country: &'static str,
    note: Option<String>,
    #[serde(with = "bytes_as_bytes")]
    blob: Vec<u8>,
    large_blob: Vec<u8>,
    ts: i64,
    local: String,
    day: i32,
    price: i128,
    tags: Vec<String>,
    matrix: Vec<Vec<i64>>,
    user: User,
}

#[derive(Serialize)]
struct User {
    id: i64,
    name: Option<String>,
    langs: Vec<&'static str>,
}

/// `serialize_bytes` rather than a sequence of integers.
mod bytes_as_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

fn struct_record(i: u64, r: &mut Lcg) -> Event {
    let x = r.next();
    Event {
        id: i,
        small: (i % 5 != 0).then_some((x % 100) as i8),
        mid: (x % 30_000) as i16,
        count: (x % 100_000) as i32,
        big: x as i64,
        u8: (x % 256) as u8,
        u16: (x % 65_536) as u16,
        u32: x as u32,
        ratio: (x % 100) as f32 / 3.0,
        score: x as f64 / 7.0,
        flag: i % 2 == 0,
        name: format!("s-{}", x % 300),
        country: COUNTRIES[(i % 5) as usize],
        note: (i % 3 == 0).then(|| format!("n{x}")),
        blob: x.to_le_bytes().to_vec(),
        large_blob: vec![(x % 256) as u8; (x % 5) as usize],
        ts: 1_795_525_500_000 + i as i64,
        local: "2026-11-24T13:05:00".into(),
        day: 20_781 + (i % 3) as i32,
        price: (x % 1_000_000) as i128,
        tags: vec!["a".into(), format!("b{}", i % 3)],
        matrix: vec![vec![1, 2], vec![x as i64 % 10]],
        user: User {
            id: i as i64,
            name: (i % 2 == 0).then(|| "x".into()),
            langs: vec!["fr"],
        },
    }
}

/// 64-bit FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes `records` through one writer, flushing (closing a row group) every `flush_every`.
fn write_all<T: Serialize + Send + 'static>(
    factory: &ParquetWriterFactory<T>,
    records: impl IntoIterator<Item = T>,
    flush_every: usize,
) -> Vec<u8> {
    let mut w: Box<dyn BulkWriter<T>> = Box::new(factory.writer());
    let mut out = Vec::new();
    for (n, record) in records.into_iter().enumerate() {
        w.add(&record).unwrap();
        if n % 97 == 0 {
            w.take_output(&mut out);
        }
        if flush_every > 0 && n % flush_every == flush_every - 1 {
            w.flush().unwrap();
        }
    }
    w.finish(&mut out).unwrap();
    out
}

fn factory<T: Serialize + Send + 'static>(options: ParquetOptions) -> ParquetWriterFactory<T> {
    let schema: SchemaConfig = toml::from_str(SCHEMA).unwrap();
    ParquetWriterFactory::for_serde_with_schema_config(&schema, options).unwrap()
}

/// JSON maps with bad records between good ones; several files from one factory, so that the
/// later files use what the earlier ones learned about dictionaries.
fn json_files() -> Vec<Vec<u8>> {
    let f = factory::<Value>(
        ParquetOptions::default()
            .with_batch_size(700)
            .with_max_row_group_size(1500),
    );
    let mut files = Vec::new();
    let mut r = Lcg(7);
    for file in 0..3u64 {
        let mut w: Box<dyn BulkWriter<Value>> = Box::new(f.writer());
        let mut out = Vec::new();
        for i in 0..4000u64 {
            let id = file * 10_000 + i;
            if i % 211 == 0 {
                // Refused, and nothing of it kept.
                let bad = json!({"id": id, "tags": ["a", 5], "user": {"id": 1}});
                assert!(w.add(&bad).is_err());
                let bad = json!({"id": id, "price": "1.234"});
                assert!(w.add(&bad).is_err());
            }
            w.add(&json_record(id, &mut r)).unwrap();
            if i % 97 == 0 {
                w.take_output(&mut out);
            }
            if i == 2500 {
                w.flush().unwrap();
            }
        }
        w.finish(&mut out).unwrap();
        files.push(out);
    }
    files
}

#[test]
fn files_are_byte_identical_to_the_reference() {
    let mut got = Vec::new();
    for bytes in json_files() {
        got.push((bytes.len(), fnv1a(&bytes)));
    }
    let mut r = Lcg(11);
    for (options, flush_every) in [
        (ParquetOptions::default(), 0),
        (
            ParquetOptions::default()
                .with_batch_size(300)
                .with_max_row_group_size(1000)
                .with_dictionary(false),
            1700,
        ),
        (
            ParquetOptions::default()
                .with_compression(Compression::Snappy)
                .with_statistics(Statistics::Chunk)
                .with_bloom_filter(["name", "user.name"])
                .with_drop_columns(["country"])
                .with_metadata("origin", "golden"),
            0,
        ),
    ] {
        let f = factory::<Event>(options);
        let records: Vec<Event> = (0..3000).map(|i| struct_record(i, &mut r)).collect();
        let bytes = write_all(&f, records, flush_every);
        got.push((bytes.len(), fnv1a(&bytes)));
    }
    // Written by the code at 48be55e, before issue 14 split the writer's modules.
    let want: [(usize, u64); 6] = [
        (256_956, 3_820_964_939_613_847_855),
        (255_809, 121_347_107_920_234_868),
        (260_488, 15_454_051_364_624_053_184),
        (155_412, 14_793_506_093_928_981_998),
        (156_651, 15_559_872_606_308_838_170),
        (220_034, 8_593_643_738_916_523_113),
    ];
    assert_eq!(got, want);
}
