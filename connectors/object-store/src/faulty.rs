//! [`FaultyStore`]: fails or delays chosen calls of any object store, for tests (feature `testing`).
//!
//! In the spirit of `object_store::throttle::ThrottledStore`: it wraps a store that implements
//! both `ObjectStore` and `MultipartStore` and implements both itself, so a target built on it
//! sees the faults exactly where a real store would raise them.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use object_store::{path::Path, ObjectStoreExt};
//! use connector_object_store::{Fault, FaultOp, FaultyStore, MemoryStore};
//!
//! let store = Arc::new(FaultyStore::new(MemoryStore::new()));
//! store.inject(Fault::fail(FaultOp::Put).matching("chk-").times(2));
//! let key = Path::from("ckpt/chk-1.json");
//! assert!(store.put(&key, b"{}".to_vec().into()).await.is_err());
//! assert!(store.put(&key, b"{}".to_vec().into()).await.is_err());
//! assert!(store.put(&key, b"{}".to_vec().into()).await.is_ok());
//! assert!(store.put(&Path::from("other"), b"".to_vec().into()).await.is_ok());
//! assert_eq!(store.injected(FaultOp::Put), 2);
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartId, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// A call that can be made to fail or hang.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultOp {
    /// `MultipartStore::create_multipart`.
    CreateMultipart,
    /// `MultipartStore::put_part`.
    PutPart,
    /// `MultipartStore::complete_multipart`.
    CompleteMultipart,
    /// `MultipartStore::abort_multipart`.
    AbortMultipart,
    /// `ObjectStore::put_opts` (tails, markers, checkpoint documents) and `put_multipart_opts`.
    Put,
    /// `ObjectStore::get_opts` and `get_ranges`, reading content.
    Get,
    /// `ObjectStore::get_opts` with `head` set.
    Head,
    /// `list`, `list_with_offset`, `list_with_delimiter`.
    List,
    /// Each path of `delete_stream` (and so `delete`).
    Delete,
    /// `copy_opts`, `rename_opts`.
    Copy,
}

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// The call fails at once with a generic (retryable) store error; nothing reaches the store.
    Fail,
    /// The call waits this long, then runs: a hung or very slow request.
    Hang(Duration),
}

/// One rule: which calls, what happens, how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    op: FaultOp,
    action: FaultAction,
    matching: Option<String>,
    /// Firings left; `None`: always.
    remaining: Option<u32>,
}

impl Fault {
    /// Fails the next call of `op` (once; see [`times`](Self::times), [`always`](Self::always)).
    pub fn fail(op: FaultOp) -> Self {
        Fault {
            op,
            action: FaultAction::Fail,
            matching: None,
            remaining: Some(1),
        }
    }

    /// Delays the next call of `op` by `delay`.
    pub fn hang(op: FaultOp, delay: Duration) -> Self {
        Fault {
            op,
            action: FaultAction::Hang(delay),
            matching: None,
            remaining: Some(1),
        }
    }

    /// Fires `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fires on every matching call until [`FaultyStore::clear`].
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Fires only for paths containing `fragment` (`"_spillway/tails/"`, `"chk-"`).
    pub fn matching(mut self, fragment: impl Into<String>) -> Self {
        self.matching = Some(fragment.into());
        self
    }
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    calls: HashMap<FaultOp, u64>,
    injected: HashMap<FaultOp, u64>,
}

/// An object store that fails or delays chosen calls. Cloning shares the rules.
#[derive(Debug)]
pub struct FaultyStore<T> {
    inner: Arc<T>,
    state: Arc<Mutex<State>>,
}

impl<T> Clone for FaultyStore<T> {
    fn clone(&self) -> Self {
        FaultyStore {
            inner: Arc::clone(&self.inner),
            state: Arc::clone(&self.state),
        }
    }
}

impl<T: ObjectStore + MultipartStore> FaultyStore<T> {
    /// Wraps `inner`, with no fault.
    pub fn new(inner: T) -> Self {
        Self::from_arc(Arc::new(inner))
    }

    /// Wraps a shared store.
    pub fn from_arc(inner: Arc<T>) -> Self {
        FaultyStore {
            inner,
            state: Arc::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<T> {
        &self.inner
    }

    /// Adds a rule. Rules are tried in the order they were added; the first that matches fires.
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.state().faults.clear();
    }

    /// Calls of `op` so far, faulty or not.
    pub fn calls(&self, op: FaultOp) -> u64 {
        self.state().calls.get(&op).copied().unwrap_or(0)
    }

    /// Faults fired on `op` so far.
    pub fn injected(&self, op: FaultOp) -> u64 {
        self.state().injected.get(&op).copied().unwrap_or(0)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn decide(state: &Mutex<State>, op: FaultOp, path: &str) -> Option<FaultAction> {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    *st.calls.entry(op).or_default() += 1;
    let i = st.faults.iter().position(|f| {
        f.op == op
            && f.remaining != Some(0)
            && f.matching.as_deref().is_none_or(|m| path.contains(m))
    })?;
    let fault = &mut st.faults[i];
    if let Some(n) = fault.remaining.as_mut() {
        *n -= 1;
    }
    let action = fault.action;
    *st.injected.entry(op).or_default() += 1;
    Some(action)
}

/// Applies the rule for one call: `Err` to fail it, `Ok` to run it (after a hang).
async fn gate(state: &Mutex<State>, op: FaultOp, path: &str) -> Result<()> {
    match decide(state, op, path) {
        None => Ok(()),
        Some(FaultAction::Hang(d)) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Some(FaultAction::Fail) => Err(object_store::Error::Generic {
            store: "FaultyStore",
            source: format!("injected fault: {op:?} of {path:?} failed on purpose").into(),
        }),
    }
}

impl<T: fmt::Display> fmt::Display for FaultyStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl<T: ObjectStore + MultipartStore> MultipartStore for FaultyStore<T> {
    async fn create_multipart(&self, path: &Path) -> Result<MultipartId> {
        gate(&self.state, FaultOp::CreateMultipart, path.as_ref()).await?;
        self.inner.create_multipart(path).await
    }

    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> Result<PartId> {
        gate(&self.state, FaultOp::PutPart, path.as_ref()).await?;
        self.inner.put_part(path, id, part_idx, data).await
    }

    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<PutResult> {
        gate(&self.state, FaultOp::CompleteMultipart, path.as_ref()).await?;
        self.inner.complete_multipart(path, id, parts).await
    }

    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> Result<()> {
        gate(&self.state, FaultOp::AbortMultipart, path.as_ref()).await?;
        self.inner.abort_multipart(path, id).await
    }
}

fn gated_list(
    state: Arc<Mutex<State>>,
    prefix: Option<&Path>,
    inner: BoxStream<'static, Result<ObjectMeta>>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let p = prefix.map(|p| p.to_string()).unwrap_or_default();
    futures::stream::once(async move {
        match gate(&state, FaultOp::List, &p).await {
            Ok(()) => inner,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    })
    .flatten()
    .boxed()
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore + MultipartStore> ObjectStore for FaultyStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        gate(&self.state, FaultOp::Put, location.as_ref()).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        gate(&self.state, FaultOp::Put, location.as_ref()).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let op = if options.head {
            FaultOp::Head
        } else {
            FaultOp::Get
        };
        gate(&self.state, op, location.as_ref()).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        gate(&self.state, FaultOp::Get, location.as_ref()).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let state = Arc::clone(&self.state);
        let gated = locations
            .then(move |loc| {
                let state = Arc::clone(&state);
                async move {
                    let loc = loc?;
                    gate(&state, FaultOp::Delete, loc.as_ref()).await?;
                    Ok(loc)
                }
            })
            .boxed();
        self.inner.delete_stream(gated)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        gated_list(Arc::clone(&self.state), prefix, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        gated_list(
            Arc::clone(&self.state),
            prefix,
            self.inner.list_with_offset(prefix, offset),
        )
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let p = prefix.map(|p| p.to_string()).unwrap_or_default();
        gate(&self.state, FaultOp::List, &p).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        gate(&self.state, FaultOp::Copy, to.as_ref()).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        gate(&self.state, FaultOp::Copy, to.as_ref()).await?;
        self.inner.rename_opts(from, to, options).await
    }
}
