//! The conformance suite every storage target must pass, and test doubles.
//!
//! A target crate runs the suite from its own tests:
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let target = MyTarget::new(...);
//!     sink_core::fs::testing::conformance(&target).await;
//! }
//! ```
//!
//! The suite needs to read what it wrote, through the [`ReadBack`] trait, which the target's test
//! code implements (the storage contract itself never reads).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::local::{parse_temp_name, temp_name};
use super::{
    Committable, InProgress, LocalTarget, RecoverableStream, RecoverableWriter, RelPath,
    ResumeHandle,
};
use crate::error::{Error, Result};

/// Reads back what a target published, for tests.
#[async_trait]
pub trait ReadBack: Send + Sync {
    /// The bytes of a published file, `None` when there is none.
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>>;
    /// Every published file under `dir`, recursively, sorted. In-progress data must not appear.
    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>>;
}

#[async_trait]
impl ReadBack for LocalTarget {
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>> {
        let mut p = self.root().to_path_buf();
        p.extend(path.segments());
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p.display(), e)),
        }
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>> {
        let mut out = Vec::new();
        let mut start = self.root().to_path_buf();
        start.extend(dir.segments());
        let mut stack = vec![(start, dir.clone())];
        while let Some((abs, rel)) = stack.pop() {
            let rd = match std::fs::read_dir(&abs) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("list", abs.display(), e)),
            };
            for entry in rd {
                let entry = entry.map_err(|e| Error::io("list", abs.display(), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = rel.join(&name)?;
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push((entry.path(), child));
                } else if !name.starts_with('.') && self.naming().final_name_of(&name).is_none() {
                    out.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Sizes the suite uses, so that targets with large minimum part sizes are exercised across part
/// boundaries.
#[derive(Clone, Debug)]
pub struct ConformanceOptions {
    /// Bytes written by the large-file case. Default 3 MiB; object stores should use more than two
    /// of their parts.
    pub large_bytes: usize,
}

impl Default for ConformanceOptions {
    fn default() -> Self {
        ConformanceOptions {
            large_bytes: 3 << 20,
        }
    }
}

/// Runs the conformance suite with default options. Panics with a message naming the failed case.
pub async fn conformance<W: RecoverableWriter + ReadBack>(target: &W) {
    conformance_with(target, &ConformanceOptions::default()).await
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs the conformance suite. Every case works under a fresh random directory, so the suite can
/// run against a shared server.
pub async fn conformance_with<W: RecoverableWriter + ReadBack>(
    target: &W,
    options: &ConformanceOptions,
) {
    let base = RelPath::parse(&format!("conformance-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let p = |s: &str| base.join(s).unwrap();

    // 1. Hidden until commit; commit publishes exactly the bytes; commit is idempotent.
    {
        let path = p("a/part-0.txt");
        let mut s = target.open(&path).await.expect("open");
        assert_eq!(s.len(), 0, "case 1: a new stream is empty");
        s.write(b"hello ").await.expect("write");
        s.write(b"world\n").await.expect("write");
        assert_eq!(s.len(), 12, "case 1: len counts written bytes");
        assert_eq!(
            target.read(&path).await.unwrap(),
            None,
            "case 1: visible before close"
        );
        let c = s.close_for_commit().await.expect("close_for_commit");
        assert_eq!(c.len, 12);
        assert_eq!(c.path, path);
        assert_eq!(
            target.read(&path).await.unwrap(),
            None,
            "case 1: visible before commit"
        );
        assert!(
            target.list(&base).await.unwrap().is_empty(),
            "case 1: list shows in-progress data"
        );
        target.commit(&c).await.expect("commit");
        target
            .sync_commits(std::slice::from_ref(&c.path))
            .await
            .expect("sync");
        assert_eq!(
            target.read(&path).await.unwrap().as_deref(),
            Some(&b"hello world\n"[..]),
            "case 1: committed bytes"
        );
        target
            .commit(&c)
            .await
            .expect("case 1: a second commit must succeed");
        assert_eq!(target.list(&base).await.unwrap(), vec![path.clone()]);
    }

    // 2. Persist, crash, resume cuts away what came after the handle; resume twice works.
    {
        let path = p("b/part-1.txt");
        let mut s = target.open(&path).await.unwrap();
        s.write(b"first;").await.unwrap();
        let h1 = s.persist().await.expect("persist");
        assert_eq!(h1.len, 6);
        s.write(b"second;").await.unwrap();
        let h2 = s.persist().await.expect("persist again");
        assert_eq!(h2.len, 13);
        s.write(b"lost;").await.unwrap();
        drop(s); // crash
                 // Restore from the older handle (the newer checkpoint never completed).
        let h1: ResumeHandle = serde_json::from_str(&serde_json::to_string(&h1).unwrap())
            .expect("case 2: handle round-trips through JSON");
        let mut s = target.resume(&h1).await.expect("case 2: resume");
        assert_eq!(s.len(), 6, "case 2: resumed length");
        s.write(b"again;").await.unwrap();
        drop(s); // crash during recovery
        let mut s = target
            .resume(&h1)
            .await
            .expect("case 2: resume the same handle twice");
        assert_eq!(s.len(), 6);
        s.write(b"final\n").await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        let c: Committable = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        target.commit(&c).await.expect("case 2: commit");
        assert_eq!(
            target.read(&path).await.unwrap().as_deref(),
            Some(&b"first;final\n"[..]),
            "case 2: resumed content"
        );
        target
            .cleanup(&h1)
            .await
            .expect("case 2: cleanup after commit");
        assert_eq!(
            target.read(&path).await.unwrap().as_deref(),
            Some(&b"first;final\n"[..]),
            "case 2: cleanup must not touch a committed file"
        );
    }

    // 3. An empty part can be committed.
    {
        let path = p("c/empty");
        let s = target.open(&path).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        target.commit(&c).await.unwrap();
        assert_eq!(
            target.read(&path).await.unwrap().as_deref(),
            Some(&b""[..]),
            "case 3"
        );
    }

    // 4. Large files in uneven chunks, persisted across part boundaries, resumed, committed.
    {
        let path = p("d/large.bin");
        let data = pattern(4, options.large_bytes);
        let cut = options.large_bytes * 3 / 5 + 7;
        let mut s = target.open(&path).await.unwrap();
        let mut pos = 0;
        let mut chunk = 1;
        let mut handle = None;
        while pos < cut {
            let end = (pos + chunk).min(cut);
            s.write(&data[pos..end]).await.unwrap();
            pos = end;
            chunk = chunk * 7 % 1_000_003 + 1;
            if handle.is_none() && pos > cut / 2 {
                handle = Some(s.persist().await.unwrap());
            }
        }
        let h = s.persist().await.unwrap();
        assert_eq!(h.len as usize, cut, "case 4: persisted length");
        s.write(&data[cut..cut + 100]).await.unwrap();
        drop(s);
        let mut s = target.resume(&h).await.expect("case 4: resume");
        s.write(&data[cut..]).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        assert_eq!(c.len as usize, data.len());
        target.commit(&c).await.unwrap();
        let got = target
            .read(&path)
            .await
            .unwrap()
            .expect("case 4: published");
        assert_eq!(got.len(), data.len(), "case 4: length");
        assert!(got == data, "case 4: bytes differ");
        if let Some(h) = handle {
            target
                .cleanup(&h)
                .await
                .expect("case 4: cleanup of an old handle");
        }
    }

    // 5. Lost data is an error, not a silent success.
    {
        let path = p("e/part-lost");
        let mut s = target.open(&path).await.unwrap();
        s.write(b"x").await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        let listed = target
            .list_in_progress("part-lost")
            .await
            .expect("list_in_progress");
        let mine: Vec<_> = listed.iter().filter(|i| i.path == path).collect();
        assert_eq!(
            mine.len(),
            1,
            "case 5: list_in_progress finds the closed, uncommitted part: {listed:?}"
        );
        assert!(
            target.same_in_progress(mine[0], &c.data),
            "case 5: same_in_progress matches the committable"
        );
        target.delete_in_progress(mine[0]).await.unwrap();
        let err = target
            .commit(&c)
            .await
            .expect_err("case 5: commit of deleted data must fail");
        assert!(
            matches!(err, Error::Lost { .. }),
            "case 5: expected Error::Lost, got {err}"
        );
    }

    // 6. list_in_progress sees open and persisted parts by name prefix; discard removes one.
    {
        let pa = p("f/zz-keep-1");
        let pb = p("f/g/zz-keep-2");
        let pc = p("f/other-3");
        let mut a = target.open(&pa).await.unwrap();
        a.write(b"a").await.unwrap();
        let ha = a.persist().await.unwrap();
        let mut b = target.open(&pb).await.unwrap();
        b.write(b"b").await.unwrap();
        let hb = b.persist().await.unwrap();
        let mut c = target.open(&pc).await.unwrap();
        c.write(b"c").await.unwrap();
        let _ = c.persist().await.unwrap();
        let listed: Vec<_> = target
            .list_in_progress("zz-keep-")
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.path.as_str().starts_with(base.as_str()))
            .collect();
        let mut paths: Vec<_> = listed.iter().map(|i| i.path.clone()).collect();
        paths.sort();
        let mut want = vec![pa.clone(), pb.clone()];
        want.sort();
        assert_eq!(paths, want, "case 6: list_in_progress by prefix");
        let ia = listed.iter().find(|i| i.path == pa).unwrap();
        assert!(
            target.same_in_progress(ia, &ha.data),
            "case 6: matches handle"
        );
        assert!(
            !target.same_in_progress(ia, &hb.data),
            "case 6: must not match another handle"
        );
        b.discard().await.expect("case 6: discard");
        let left: Vec<_> = target
            .list_in_progress("zz-keep-")
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.path.as_str().starts_with(base.as_str()))
            .map(|i| i.path)
            .collect();
        assert_eq!(left, vec![pa.clone()], "case 6: discard removed the part");
        for i in target.list_in_progress("").await.unwrap() {
            if i.path.as_str().starts_with(base.as_str()) {
                target.delete_in_progress(&i).await.unwrap();
            }
        }
        drop(a);
        drop(c);
        assert!(
            target
                .resume(&ha)
                .await
                .map(|_| ())
                .is_err_and(|e| matches!(e, Error::Lost { .. })),
            "case 6: resuming deleted data must fail with Error::Lost"
        );
    }

    // 7. Commit after resume without new bytes; cleanup of a missing handle is fine.
    {
        let path = p("h/part-7");
        let mut s = target.open(&path).await.unwrap();
        s.write(b"seven").await.unwrap();
        let h = s.persist().await.unwrap();
        drop(s);
        let s = target.resume(&h).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        target.commit(&c).await.unwrap();
        assert_eq!(
            target.read(&path).await.unwrap().as_deref(),
            Some(&b"seven"[..]),
            "case 7"
        );
        target
            .cleanup(&h)
            .await
            .expect("case 7: cleanup of a handle whose data was committed");
    }
}

/// More cases for targets with [`InProgressNaming::Legacy`](super::InProgressNaming::Legacy),
/// whose unpublished names carry no unique suffix (see its documentation): `open` refuses a name
/// held by an open, a pending or a published part (with [`Error::NameInUse`], leaving nothing
/// behind), a handle taken while a part was open resumes after the part was closed for commit, and
/// the in-progress and pending data of one part match its handle and its committable.
pub async fn conformance_legacy_naming<W: RecoverableWriter + ReadBack>(target: &W) {
    let base = RelPath::parse(&format!("legacy-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let p = |s: &str| base.join(s).unwrap();
    let in_use = |r: Result<Box<dyn RecoverableStream>>, case: &str| match r {
        Err(Error::NameInUse { .. }) => {}
        Err(e) => panic!("{case}: expected Error::NameInUse, got {e}"),
        Ok(_) => panic!("{case}: a second open of a taken name must fail"),
    };

    // 1. A name is taken while open, while pending and once published.
    let path = p("a/part-0-0");
    let mut s = target.open(&path).await.expect("open");
    s.write(b"one").await.unwrap();
    in_use(target.open(&path).await, "legacy 1: open while in progress");
    let c = s.close_for_commit().await.unwrap();
    in_use(target.open(&path).await, "legacy 1: open while pending");
    target.commit(&c).await.unwrap();
    in_use(target.open(&path).await, "legacy 1: open when published");
    target
        .commit(&c)
        .await
        .expect("legacy 1: commit is idempotent");
    assert_eq!(
        target.read(&path).await.unwrap().as_deref(),
        Some(&b"one"[..]),
        "legacy 1: the refused opens must not touch the part"
    );
    let left: Vec<_> = target
        .list_in_progress("part-0-0")
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.path.as_str().starts_with(base.as_str()))
        .collect();
    assert!(left.is_empty(), "legacy 1: refused opens left {left:?}");

    // 2. Persisted while open, closed for commit (pending), crash, resume from the open handle.
    let path = p("b/part-0-1");
    let mut s = target.open(&path).await.unwrap();
    s.write(b"kept;").await.unwrap();
    let h = s.persist().await.unwrap();
    s.write(b"later;").await.unwrap();
    let c = s.close_for_commit().await.unwrap();
    let listed: Vec<_> = target
        .list_in_progress("part-0-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.path == path)
        .collect();
    assert_eq!(listed.len(), 1, "legacy 2: the pending part is listed");
    assert!(
        target.same_in_progress(&listed[0], &h.data),
        "legacy 2: the pending file matches the handle taken while it was open"
    );
    assert!(target.same_in_progress(&listed[0], &c.data));
    let mut s = target
        .resume(&h)
        .await
        .expect("legacy 2: resume a handle after the part went pending");
    assert_eq!(s.len(), 5);
    s.write(b"again").await.unwrap();
    let c = s.close_for_commit().await.unwrap();
    target.commit(&c).await.unwrap();
    assert_eq!(
        target.read(&path).await.unwrap().as_deref(),
        Some(&b"kept;again"[..]),
        "legacy 2"
    );
}

/// A fault to inject into [`MemTarget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemOp {
    /// `RecoverableWriter::open`
    Open,
    /// `RecoverableStream::write`
    Write,
    /// `RecoverableStream::persist`
    Persist,
    /// `RecoverableStream::close_for_commit`
    Close,
    /// `RecoverableWriter::resume`
    Resume,
    /// `RecoverableWriter::commit`
    Commit,
}

#[derive(Debug, Default)]
struct MemFile {
    bytes: Vec<u8>,
    durable: usize,
}

#[derive(Debug, Default)]
struct MemState {
    in_progress: BTreeMap<(RelPath, String), MemFile>,
    published: BTreeMap<RelPath, Vec<u8>>,
    faults: BTreeMap<MemOp, u32>,
    next_id: u64,
    generation: u64,
}

/// An in-memory target that loses everything not persisted when told to [`crash`](Self::crash).
///
/// Stricter than a local disk, where unsynced bytes usually survive a process crash; that makes it
/// the target of the sink's property tests. It can also fail chosen operations
/// ([`fail_next`](Self::fail_next)).
#[derive(Debug, Clone, Default)]
pub struct MemTarget {
    state: Arc<Mutex<MemState>>,
}

impl MemTarget {
    /// An empty target.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a crash of the writing process: every in-progress file loses what was written
    /// after its last persist, and streams opened before the crash stop working.
    pub fn crash(&self) {
        let mut st = self.state.lock().unwrap();
        st.generation += 1;
        for f in st.in_progress.values_mut() {
            let d = f.durable;
            f.bytes.truncate(d);
        }
    }

    /// Makes the next `n` calls of `op` fail with a retryable storage error.
    pub fn fail_next(&self, op: MemOp, n: u32) {
        self.state.lock().unwrap().faults.insert(op, n);
    }

    /// Published files and their bytes.
    pub fn published(&self) -> BTreeMap<RelPath, Vec<u8>> {
        self.state.lock().unwrap().published.clone()
    }

    /// Number of in-progress files.
    pub fn in_progress_count(&self) -> usize {
        self.state.lock().unwrap().in_progress.len()
    }

    fn check(&self, op: MemOp, path: &RelPath) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        if let Some(n) = st.faults.get_mut(&op) {
            if *n > 0 {
                *n -= 1;
                return Err(Error::storage(
                    "memory://",
                    "injected fault",
                    path,
                    format!("{op:?} failed on purpose"),
                ));
            }
        }
        Ok(())
    }

    fn key(path: &RelPath, data: &serde_json::Value) -> Result<(RelPath, String)> {
        let temp = data
            .get("temp")
            .and_then(|t| t.as_str())
            .ok_or_else(|| Error::checkpoint(path, "memory handle without `temp`"))?;
        Ok((path.clone(), temp.to_string()))
    }
}

impl std::fmt::Display for MemTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memtest://")
    }
}

#[derive(Debug)]
struct MemStream {
    target: MemTarget,
    key: (RelPath, String),
    len: u64,
    generation: u64,
}

impl MemStream {
    fn with_file<R>(&self, f: impl FnOnce(&mut MemFile) -> R) -> Result<R> {
        let mut st = self.target.state.lock().unwrap();
        if st.generation != self.generation {
            return Err(Error::Cancelled(
                "stream opened before a simulated crash".into(),
            ));
        }
        let file = st
            .in_progress
            .get_mut(&self.key)
            .ok_or_else(|| Error::lost(&self.key.0, "in-progress data deleted"))?;
        Ok(f(file))
    }

    fn data(&self) -> serde_json::Value {
        json!({ "temp": self.key.1 })
    }
}

#[async_trait]
impl RecoverableStream for MemStream {
    async fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.target.check(MemOp::Write, &self.key.0)?;
        self.with_file(|f| f.bytes.extend_from_slice(buf))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn persist(&mut self) -> Result<ResumeHandle> {
        self.target.check(MemOp::Persist, &self.key.0)?;
        self.with_file(|f| f.durable = f.bytes.len())?;
        Ok(ResumeHandle {
            path: self.key.0.clone(),
            len: self.len,
            data: self.data(),
        })
    }

    async fn close_for_commit(self: Box<Self>) -> Result<Committable> {
        self.target.check(MemOp::Close, &self.key.0)?;
        self.with_file(|f| f.durable = f.bytes.len())?;
        Ok(Committable {
            path: self.key.0.clone(),
            len: self.len,
            data: self.data(),
        })
    }

    async fn discard(self: Box<Self>) -> Result<()> {
        self.target
            .state
            .lock()
            .unwrap()
            .in_progress
            .remove(&self.key);
        Ok(())
    }
}

#[async_trait]
impl RecoverableWriter for MemTarget {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        self.check(MemOp::Open, path)?;
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let temp = temp_name(path.file_name(), &st.next_id.to_string());
        let key = (path.clone(), temp);
        st.in_progress.insert(key.clone(), MemFile::default());
        Ok(Box::new(MemStream {
            target: self.clone(),
            key,
            len: 0,
            generation: st.generation,
        }))
    }

    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        self.check(MemOp::Resume, &handle.path)?;
        let key = Self::key(&handle.path, &handle.data)?;
        let mut st = self.state.lock().unwrap();
        let generation = st.generation;
        let f = st
            .in_progress
            .get_mut(&key)
            .ok_or_else(|| Error::lost(&handle.path, "in-progress data gone before resume"))?;
        if (f.durable as u64) < handle.len {
            return Err(Error::lost(
                &handle.path,
                format!("{} durable bytes, handle needs {}", f.durable, handle.len),
            ));
        }
        f.bytes.truncate(handle.len as usize);
        f.durable = handle.len as usize;
        Ok(Box::new(MemStream {
            target: self.clone(),
            key,
            len: handle.len,
            generation,
        }))
    }

    async fn commit(&self, c: &Committable) -> Result<()> {
        self.check(MemOp::Commit, &c.path)?;
        let key = Self::key(&c.path, &c.data)?;
        let mut st = self.state.lock().unwrap();
        match (st.in_progress.remove(&key), st.published.get(&c.path)) {
            (Some(f), None) => {
                if f.durable as u64 != c.len {
                    return Err(Error::lost(
                        &c.path,
                        format!("{} durable bytes, committable says {}", f.durable, c.len),
                    ));
                }
                let mut bytes = f.bytes;
                bytes.truncate(f.durable);
                st.published.insert(c.path.clone(), bytes);
                Ok(())
            }
            (None, Some(b)) if b.len() as u64 == c.len => Ok(()),
            (Some(f), Some(_)) => {
                st.in_progress.insert(key, f);
                Err(Error::lost(&c.path, "already published"))
            }
            _ => Err(Error::lost(&c.path, "nothing to commit")),
        }
    }

    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        let key = Self::key(&handle.path, &handle.data)?;
        self.state.lock().unwrap().in_progress.remove(&key);
        Ok(())
    }

    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        let st = self.state.lock().unwrap();
        Ok(st
            .in_progress
            .keys()
            .filter(|(p, t)| p.file_name().starts_with(name_prefix) && parse_temp_name(t).is_some())
            .map(|(p, t)| InProgress {
                path: p.clone(),
                data: json!({ "temp": t }),
            })
            .collect())
    }

    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        let key = Self::key(&item.path, &item.data)?;
        self.state.lock().unwrap().in_progress.remove(&key);
        Ok(())
    }
}

#[async_trait]
impl ReadBack for MemTarget {
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>> {
        Ok(self.state.lock().unwrap().published.get(path).cloned())
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>> {
        let st = self.state.lock().unwrap();
        Ok(st
            .published
            .keys()
            .filter(|p| {
                dir.is_root()
                    || p.as_str()
                        .strip_prefix(dir.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mem_target_passes_conformance() {
        conformance(&MemTarget::new()).await;
    }

    #[tokio::test]
    async fn mem_target_crash_drops_unpersisted_bytes() {
        let t = MemTarget::new();
        let path = RelPath::parse("p").unwrap();
        let mut s = t.open(&path).await.unwrap();
        s.write(b"ab").await.unwrap();
        let h = s.persist().await.unwrap();
        s.write(b"cd").await.unwrap();
        t.crash();
        assert!(s.write(b"x").await.is_err(), "old streams die with a crash");
        let s = t.resume(&h).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        t.commit(&c).await.unwrap();
        assert_eq!(t.read(&path).await.unwrap().unwrap(), b"ab");
    }

    #[tokio::test]
    async fn injected_faults_fail_then_recover() {
        let t = MemTarget::new();
        t.fail_next(MemOp::Open, 1);
        let path = RelPath::parse("q").unwrap();
        let err = t.open(&path).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(t.open(&path).await.is_ok());
    }
}
