//! Helpers shared by the integration tests: the gate for tests that need an S3 server, buckets,
//! targets, and reading a lake back.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;

use connector_object_store::{ObjectStoreOptions, ObjectStoreTarget, Secret};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sink_core::runtime::Event;

/// Where the S3 server of the tests is, from `integration/services/env.sh`.
#[derive(Clone, Debug)]
pub struct S3Env {
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub path_style: bool,
}

impl S3Env {
    pub fn options(&self) -> ObjectStoreOptions {
        ObjectStoreOptions {
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(Secret::new(self.secret_access_key.clone())),
            region: Some(self.region.clone()),
            path_style: Some(self.path_style),
            allow_http: Some(self.endpoint.starts_with("http://")),
            from_env: Some(false),
            ..Default::default()
        }
    }
}

/// The S3 server to test against, or `None` when there is none: then sink-core's shared gate has
/// printed "SKIPPED: ..." (or failed the test, with `SPILLWAY_REQUIRE_SERVICES` set).
pub fn s3_env(what: &str) -> Option<S3Env> {
    let endpoint = sink_core::test_support::service(
        "SPILLWAY_TEST_S3_ENDPOINT",
        &format!("an S3 server ({what})"),
    )?;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(S3Env {
        endpoint,
        access_key_id: var("SPILLWAY_TEST_S3_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()),
        secret_access_key: var("SPILLWAY_TEST_S3_SECRET_ACCESS_KEY")
            .unwrap_or_else(|| "test".into()),
        region: var("SPILLWAY_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        path_style: var("SPILLWAY_TEST_S3_FORCE_PATH_STYLE").is_none_or(|v| v == "true"),
    })
}

/// `let env = require_s3!("name");` returns from the test when there is no server.
#[macro_export]
macro_rules! require_s3 {
    ($name:expr) => {
        match common::s3_env($name) {
            Some(env) => env,
            None => return,
        }
    };
}

/// A fresh bucket for one test. `SPILLWAY_TEST_S3_BUCKET` names an existing bucket to use instead
/// (for servers that need signed bucket creation); otherwise the bucket is created with an
/// unsigned `PUT /{bucket}`, which moto accepts.
pub fn fresh_bucket(env: &S3Env, test: &str) -> String {
    if let Ok(b) = std::env::var("SPILLWAY_TEST_S3_BUCKET") {
        return b;
    }
    let name = format!(
        "{}-{}",
        test.replace('_', "-"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let hostport = env
        .endpoint
        .strip_prefix("http://")
        .expect("bucket creation needs an http:// endpoint; set SPILLWAY_TEST_S3_BUCKET")
        .trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to the S3 server");
    write!(
        s,
        "PUT /{name} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "create bucket {name}: {}",
        answer.lines().next().unwrap_or("")
    );
    name
}

/// A target on the S3 server with a given part size.
pub async fn s3_target(
    env: &S3Env,
    bucket: &str,
    prefix: &str,
    part_size: usize,
) -> ObjectStoreTarget {
    let mut o = env.options();
    o.part_size = Some(part_size);
    ObjectStoreTarget::from_url(&format!("s3://{bucket}/{prefix}"), &o)
        .await
        .expect("s3 target")
}

/// Every object under `prefix`.
pub async fn keys(store: &Arc<dyn ObjectStore>, prefix: &Path) -> Vec<String> {
    let mut k: Vec<String> = store
        .list(Some(prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    k.sort();
    k
}

/// Event ids in every published JSON-lines file under `prefix` (side objects and dead letters
/// skipped), and the number of files.
pub async fn read_events(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
) -> (HashMap<u64, usize>, usize) {
    let mut ids = HashMap::new();
    let mut files = 0;
    for key in keys(store, prefix).await {
        if key.contains("/_spillway/") || key.contains("_dead_letter") {
            continue;
        }
        files += 1;
        let bytes = store
            .get(&Path::from(key.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for line in std::str::from_utf8(&bytes).unwrap().lines() {
            let ev: Event =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            *ids.entry(ev.event_id).or_default() += 1;
        }
    }
    (ids, files)
}

/// Every id in `0..n` exactly once, nothing else.
pub fn assert_exactly(ids: &HashMap<u64, usize>, n: u64) {
    let dup: Vec<_> = ids.iter().filter(|(_, c)| **c != 1).take(5).collect();
    assert!(dup.is_empty(), "ids written more than once: {dup:?}");
    let missing: Vec<_> = (0..n).filter(|i| !ids.contains_key(i)).take(5).collect();
    assert!(missing.is_empty(), "missing ids: {missing:?}");
    assert_eq!(ids.len() as u64, n, "extra ids beyond {n}");
}
