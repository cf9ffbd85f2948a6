//! The storage contract's conformance suite on `memory://` and on a real S3 server, and the
//! invisibility of open uploads checked with LIST and HEAD.

mod common;

use std::sync::Arc;

use connector_object_store::{
    target_from_url, MemoryStore, ObjectStoreOptions, ObjectStoreTarget, MIN_PART_SIZE,
};
use object_store::path::Path;
use object_store::ObjectStoreExt;
use sink_core::fs::testing::{conformance_with, ConformanceOptions, ReadBack};
use sink_core::fs::{RecoverableWriter, RelPath};

const LARGE: ConformanceOptions = ConformanceOptions {
    large_bytes: 12 << 20,
};

#[tokio::test]
async fn conformance_memory_url() {
    let target = ObjectStoreTarget::from_url(
        "memory://conformance/lake",
        &ObjectStoreOptions {
            part_size: Some(MIN_PART_SIZE),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    conformance_with(&target, &LARGE).await;
}

#[tokio::test]
async fn conformance_s3() {
    let env = require_s3!("conformance_s3");
    let bucket = common::fresh_bucket(&env, "conformance");
    // 5 MiB parts: the 12 MiB case persists across a part boundary, resumes, and ends in a tail.
    let target = common::s3_target(&env, &bucket, "lake", MIN_PART_SIZE).await;
    conformance_with(&target, &LARGE).await;
}

/// Nothing appears under the final key before commit, whatever was persisted: LIST and HEAD.
async fn invisible_until_commit(target: &ObjectStoreTarget) {
    let store = Arc::clone(target.object_store());
    let path = RelPath::parse(&format!(
        "vis-{}/dt=2026-11-24/part-r-0-0.json",
        uuid::Uuid::new_v4().simple()
    ))
    .unwrap();
    let key = target.key_of(&path);
    let bucket_dir = Path::from(key.as_ref().rsplit_once('/').unwrap().0);
    let mut s = target.open(&path).await.unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..(target.part_size() * 2 / chunk.len() + 1) {
        s.write(&chunk).await.unwrap();
    }
    let h = s.persist().await.unwrap();
    assert!(h.len as usize > 2 * target.part_size());
    assert!(
        store.head(&key).await.is_err(),
        "HEAD finds the part before commit"
    );
    assert!(
        common::keys(&store, &bucket_dir).await.is_empty(),
        "LIST shows the part's directory before commit"
    );
    assert!(target
        .list(&RelPath::root())
        .await
        .unwrap()
        .iter()
        .all(|p| p != &path));
    let c = s.close_for_commit().await.unwrap();
    assert!(
        store.head(&key).await.is_err(),
        "HEAD finds the part before commit"
    );
    target.commit(&c).await.unwrap();
    assert_eq!(store.head(&key).await.unwrap().size, c.len);
    assert_eq!(
        common::keys(&store, &bucket_dir).await,
        vec![key.to_string()]
    );
    // The side objects are gone with the commit.
    let side = target.root().clone().join("_spillway");
    let left: Vec<String> = common::keys(&store, &side)
        .await
        .into_iter()
        .filter(|k| k.contains(h.data["id"].as_str().unwrap()))
        .collect();
    assert!(left.is_empty(), "side objects after commit: {left:?}");
}

#[tokio::test]
async fn invisible_until_commit_memory() {
    let store = Arc::new(MemoryStore::new());
    let target = ObjectStoreTarget::builder(store)
        .with_root(Path::from("lake"))
        .build()
        .unwrap();
    invisible_until_commit(&target).await;
}

#[tokio::test]
async fn invisible_until_commit_s3() {
    let env = require_s3!("invisible_until_commit_s3");
    let bucket = common::fresh_bucket(&env, "visibility");
    let target = common::s3_target(&env, &bucket, "lake", MIN_PART_SIZE).await;
    invisible_until_commit(&target).await;
}

#[tokio::test]
async fn wrong_bucket_fails_at_start() {
    let env = require_s3!("wrong_bucket_fails_at_start");
    let err = target_from_url("s3://no-such-bucket-spillway/x", &env.options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-bucket-spillway"), "{err}");
    assert!(err.is_retryable(), "a storage error: {err}");
}

#[tokio::test]
async fn read_back_hides_side_objects() {
    let target = ObjectStoreTarget::from_url("memory://readback/r", &ObjectStoreOptions::default())
        .await
        .unwrap();
    let mut s = target.open(&RelPath::parse("a/b").unwrap()).await.unwrap();
    s.write(b"x").await.unwrap();
    s.persist().await.unwrap();
    assert!(target.list(&RelPath::root()).await.unwrap().is_empty());
}
