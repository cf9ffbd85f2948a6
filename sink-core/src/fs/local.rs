//! The local file-system target.
//!
//! | step | what happens |
//! | --- | --- |
//! | open | create the hidden file `.{name}.inprogress.{uuid}` in the bucket's directory |
//! | persist | fsync the hidden file; the handle records its length |
//! | resume | truncate the hidden file to the recorded length and append from there |
//! | commit | rename the hidden file to its final name; fsync the directory afterwards |
//!
//! With [`InProgressNaming::Legacy`] (Flink `BucketingSink`'s names), open creates
//! `_{name}.in-progress` exclusively, close for commit renames it to `_{name}.pending`, and commit
//! renames that to `{name}`; see [`InProgressNaming`] for how every step stays exact.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::json;

use super::naming::{InProgressNaming, LegacyNaming};
use super::{
    Capabilities, Committable, InProgress, RecoverableStream, RecoverableWriter, RelPath,
    ResumeHandle,
};
use crate::error::{Error, Result};

/// The marker between a part's name and the unique suffix of its in-progress file.
pub const IN_PROGRESS_MARKER: &str = ".inprogress.";

/// Options of [`LocalTarget`].
#[derive(Clone, Debug)]
pub struct LocalTargetOptions {
    /// fsync files on persist and close, and directories after commits. Default `true`. Turning it
    /// off keeps exactly-once across process crashes but not across a machine crash or power loss.
    pub sync: bool,
}

impl Default for LocalTargetOptions {
    fn default() -> Self {
        LocalTargetOptions { sync: true }
    }
}

/// Part files on a local (or locally mounted) file system, under one root directory.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sink_core::fs::{LocalTarget, RecoverableWriter, RelPath};
/// let dir = tempfile::tempdir().unwrap();
/// let target = LocalTarget::new(dir.path()).unwrap();
/// let mut part = target.open(&RelPath::parse("b/part-0").unwrap()).await.unwrap();
/// part.write(b"hello\n").await.unwrap();
/// let committable = part.close_for_commit().await.unwrap();
/// assert!(!dir.path().join("b/part-0").exists()); // hidden until committed
/// target.commit(&committable).await.unwrap();
/// target.commit(&committable).await.unwrap(); // idempotent
/// assert_eq!(std::fs::read(dir.path().join("b/part-0")).unwrap(), b"hello\n");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct LocalTarget {
    root: PathBuf,
    options: LocalTargetOptions,
    naming: InProgressNaming,
}

impl LocalTarget {
    /// A target rooted at `root`, created if missing. Fails with a clear error when the directory
    /// cannot be created or written.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(root, LocalTargetOptions::default())
    }

    /// A target with explicit options.
    pub fn with_options(root: impl AsRef<Path>, options: LocalTargetOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| Error::io("create directory", root.display(), e))?;
        let root = root
            .canonicalize()
            .map_err(|e| Error::io("resolve", root.display(), e))?;
        // Prove the directory is writable now rather than at the first roll.
        let probe = root.join(format!(".spillway-probe-{}", uuid::Uuid::new_v4().simple()));
        File::create(&probe).map_err(|e| {
            Error::io(
                "write to output directory",
                root.display(),
                std::io::Error::new(e.kind(), format!("not writable: {e}")),
            )
        })?;
        let _ = fs::remove_file(&probe);
        Ok(LocalTarget {
            root,
            options,
            naming: InProgressNaming::Hidden,
        })
    }

    /// Names unpublished parts this way (default [`InProgressNaming::Hidden`]).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use sink_core::fs::{InProgressNaming, LocalTarget, RecoverableWriter, RelPath};
    /// let dir = tempfile::tempdir().unwrap();
    /// let target = LocalTarget::new(dir.path()).unwrap().with_naming(InProgressNaming::legacy()).unwrap();
    /// let mut part = target.open(&RelPath::parse("part-0-0").unwrap()).await.unwrap();
    /// assert!(dir.path().join("_part-0-0.in-progress").exists());
    /// part.write(b"x").await.unwrap();
    /// let c = part.close_for_commit().await.unwrap();
    /// assert!(dir.path().join("_part-0-0.pending").exists());
    /// target.commit(&c).await.unwrap();
    /// assert!(dir.path().join("part-0-0").exists());
    /// # });
    /// ```
    pub fn with_naming(mut self, naming: InProgressNaming) -> Result<Self> {
        naming.validate()?;
        self.naming = naming;
        Ok(self)
    }

    /// How unpublished parts are named.
    pub fn naming(&self) -> &InProgressNaming {
        &self.naming
    }

    fn legacy(&self) -> Option<&LegacyNaming> {
        match &self.naming {
            InProgressNaming::Legacy(l) => Some(l),
            InProgressNaming::Hidden => None,
        }
    }

    /// The `data` of handles, committables and listed items: the unpublished file's name, and for
    /// legacy names also the final path (the same in both states of a part).
    fn data(&self, temp: &str, path: &RelPath) -> serde_json::Value {
        match self.naming {
            InProgressNaming::Hidden => json!({ "temp": temp }),
            InProgressNaming::Legacy(_) => json!({ "temp": temp, "final": path.as_str() }),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn abs(&self, path: &RelPath) -> PathBuf {
        // A RelPath has no `..`, no absolute prefix and no backslash, so this stays under root.
        let mut p = self.root.clone();
        for seg in path.segments() {
            p.push(seg);
        }
        p
    }

    fn temp_of(&self, path: &RelPath, data: &serde_json::Value) -> Result<PathBuf> {
        let name = data.get("temp").and_then(|v| v.as_str()).ok_or_else(|| {
            Error::checkpoint(
                path,
                "local handle has no `temp` file name; was it made by another target?",
            )
        })?;
        if self.naming.final_name_of(name) != Some(path.file_name()) {
            return Err(Error::InvalidPath {
                path: name.to_string(),
                reason: format!("not the in-progress file of {path}"),
            });
        }
        let parent = path.parent().unwrap_or_default();
        Ok(self.abs(&parent).join(name))
    }
}

impl std::fmt::Display for LocalTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "file://{}", self.root.display())
    }
}

/// The hidden in-progress name of a part: `.{name}.inprogress.{unique}`.
pub fn temp_name(file_name: &str, unique: &str) -> String {
    format!(".{file_name}{IN_PROGRESS_MARKER}{unique}")
}

/// Splits a hidden in-progress name into the part's final name, if it is one.
pub fn parse_temp_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(IN_PROGRESS_MARKER)?;
    let unique = &rest[at + IN_PROGRESS_MARKER.len()..];
    (!unique.is_empty() && !unique.contains('/')).then_some(&rest[..at])
}

#[cfg(test)]
fn is_temp_name_of(temp: &str, final_name: &str) -> bool {
    parse_temp_name(temp) == Some(final_name)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking file task failed: {e}")))?
}

fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir.display(), e))?;
    d.sync_all()
        .map_err(|e| Error::io("fsync directory", dir.display(), e))
}

#[async_trait]
impl RecoverableWriter for LocalTarget {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        if path.is_root() {
            return Err(Error::InvalidPath {
                path: String::new(),
                reason: "a part file needs a name".into(),
            });
        }
        let name = self
            .naming
            .open_name(path.file_name(), &uuid::Uuid::new_v4().simple().to_string());
        let dir = self.abs(&path.parent().unwrap_or_default());
        let temp = dir.join(&name);
        // Names that must not exist, checked after the exclusive create, in the order a part's
        // file moves (in-progress -> pending -> final), so that no other writer can own the name.
        let mut taken = Vec::new();
        if let Some(l) = self.legacy() {
            taken.push(dir.join(l.pending_name(path.file_name())));
        }
        taken.push(self.abs(path));
        let file = {
            let dir = dir.clone();
            let temp = temp.clone();
            let rel = path.to_string();
            blocking(move || {
                fs::create_dir_all(&dir)
                    .map_err(|e| Error::io("create directory", dir.display(), e))?;
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&temp)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => Error::NameInUse {
                            path: rel.clone(),
                            message: format!("{} exists", temp.display()),
                        },
                        _ => Error::io("create", temp.display(), e),
                    })?;
                for t in &taken {
                    let exists = t
                        .try_exists()
                        .map_err(|e| Error::io("stat", t.display(), e))?;
                    if exists {
                        drop(file);
                        let _ = fs::remove_file(&temp);
                        return Err(Error::NameInUse {
                            path: rel,
                            message: format!("{} exists", t.display()),
                        });
                    }
                }
                Ok(file)
            })
            .await?
        };
        let pending = self.legacy().map(|l| {
            let n = l.pending_name(path.file_name());
            (dir.join(&n), n)
        });
        Ok(Box::new(LocalStream {
            file: Some(file),
            path: path.clone(),
            data: self.data(&name, path),
            temp,
            pending: pending.map(|(p, n)| (p, self.data(&n, path))),
            len: 0,
            sync: self.options.sync,
        }))
    }

    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        let temp = self.temp_of(&handle.path, &handle.data)?;
        let want = handle.len;
        let path = handle.path.clone();
        // Legacy names: a part closed after the checkpoint that holds this handle was renamed to
        // its pending name; take it back.
        let pending = self
            .legacy()
            .map(|l| temp.with_file_name(l.pending_name(path.file_name())));
        let file = {
            let temp = temp.clone();
            let sync = self.options.sync;
            blocking(move || {
                if let Some(pending) = pending {
                    if !temp.try_exists().map_err(|e| Error::io("stat", temp.display(), e))?
                        && pending.try_exists().map_err(|e| Error::io("stat", pending.display(), e))?
                    {
                        fs::rename(&pending, &temp).map_err(|e| {
                            Error::io("rename", format!("{} -> {}", pending.display(), temp.display()), e)
                        })?;
                        if sync {
                            if let Some(dir) = temp.parent() {
                                fsync_dir(dir)?;
                            }
                        }
                    }
                }
                let mut f = OpenOptions::new().write(true).open(&temp).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::lost(
                            temp.display(),
                            format!("in-progress file of {path} is gone; the checkpoint needs its first {want} bytes"),
                        )
                    } else {
                        Error::io("open", temp.display(), e)
                    }
                })?;
                let have = f
                    .metadata()
                    .map_err(|e| Error::io("stat", temp.display(), e))?
                    .len();
                if have < want {
                    return Err(Error::lost(
                        temp.display(),
                        format!("in-progress file has {have} bytes, the checkpoint recorded {want}"),
                    ));
                }
                if have > want {
                    f.set_len(want)
                        .map_err(|e| Error::io("truncate", temp.display(), e))?;
                    f.sync_all()
                        .map_err(|e| Error::io("fsync", temp.display(), e))?;
                }
                f.seek(SeekFrom::Start(want))
                    .map_err(|e| Error::io("seek", temp.display(), e))?;
                Ok(f)
            })
            .await?
        };
        let pending = self.legacy().map(|l| {
            let n = l.pending_name(handle.path.file_name());
            (temp.with_file_name(&n), self.data(&n, &handle.path))
        });
        Ok(Box::new(LocalStream {
            file: Some(file),
            path: handle.path.clone(),
            data: handle.data.clone(),
            temp,
            pending,
            len: handle.len,
            sync: self.options.sync,
        }))
    }

    async fn commit(&self, committable: &Committable) -> Result<()> {
        let temp = self.temp_of(&committable.path, &committable.data)?;
        let dest = self.abs(&committable.path);
        let want = committable.len;
        blocking(move || {
            let temp_len = match fs::metadata(&temp) {
                Ok(m) => Some(m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("stat", temp.display(), e)),
            };
            let dest_len = match fs::metadata(&dest) {
                Ok(m) => Some(m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("stat", dest.display(), e)),
            };
            match (temp_len, dest_len) {
                (None, Some(n)) if n == want => Ok(()), // committed before
                (None, Some(n)) => Err(Error::lost(
                    dest.display(),
                    format!("already exists with {n} bytes, expected {want}: another job may write here"),
                )),
                (None, None) => Err(Error::lost(
                    dest.display(),
                    format!("neither the part nor its in-progress file {} exists", temp.display()),
                )),
                (Some(_), Some(_)) => Err(Error::lost(
                    dest.display(),
                    "a file with this name already exists; refusing to replace it (another job may write here)",
                )),
                (Some(n), None) if n != want => Err(Error::lost(
                    temp.display(),
                    format!("in-progress file has {n} bytes, the committable recorded {want}"),
                )),
                (Some(_), None) => fs::rename(&temp, &dest)
                    .map_err(|e| Error::io("rename", format!("{} -> {}", temp.display(), dest.display()), e)),
            }
        })
        .await
    }

    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        let temp = self.temp_of(&handle.path, &handle.data)?;
        blocking(move || match fs::remove_file(&temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", temp.display(), e)),
        })
        .await
    }

    async fn sync_commits(&self, committed: &[RelPath]) -> Result<()> {
        if !self.options.sync || committed.is_empty() {
            return Ok(());
        }
        let mut dirs: Vec<PathBuf> = committed
            .iter()
            .map(|p| self.abs(&p.parent().unwrap_or_default()))
            .collect();
        dirs.sort();
        dirs.dedup();
        blocking(move || dirs.iter().try_for_each(|d| fsync_dir(d))).await
    }

    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        let root = self.root.clone();
        let prefix = name_prefix.to_string();
        let me = self.clone();
        blocking(move || {
            let naming = &me.naming;
            let mut found = Vec::new();
            let mut stack = vec![(root.clone(), RelPath::root())];
            while let Some((dir, rel)) = stack.pop() {
                let entries = match fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("list", dir.display(), e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| Error::io("list", dir.display(), e))?;
                    let ft = entry
                        .file_type()
                        .map_err(|e| Error::io("stat", entry.path().display(), e))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if ft.is_dir() {
                        if let Ok(child) = rel.join(&name) {
                            stack.push((entry.path(), child));
                        }
                    } else if ft.is_file() {
                        if let Some(final_name) = naming.final_name_of(&name) {
                            if final_name.starts_with(&prefix) {
                                if let Ok(path) = rel.join(final_name) {
                                    found.push(InProgress {
                                        data: me.data(&name, &path),
                                        path,
                                    });
                                }
                            }
                        }
                    }
                }
            }
            found.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(found)
        })
        .await
    }

    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        let temp = self.temp_of(&item.path, &item.data)?;
        blocking(move || match fs::remove_file(&temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", temp.display(), e)),
        })
        .await
    }

    fn same_in_progress(&self, item: &InProgress, data: &serde_json::Value) -> bool {
        match self.naming {
            InProgressNaming::Hidden => &item.data == data,
            // The same part, whether it is in progress or pending.
            InProgressNaming::Legacy(_) => {
                item.data.get("final").is_some() && item.data.get("final") == data.get("final")
            }
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            resume_in_place: true,
        }
    }
}

/// An open hidden file.
#[derive(Debug)]
struct LocalStream {
    file: Option<File>,
    path: RelPath,
    /// The `data` of this part's handles.
    data: serde_json::Value,
    temp: PathBuf,
    /// Legacy names: where close for commit moves the file, and the committable's `data`.
    pending: Option<(PathBuf, serde_json::Value)>,
    len: u64,
    sync: bool,
}

impl LocalStream {
    fn file(&mut self) -> Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| Error::Internal(format!("{} used after close", self.temp.display())))
    }

    async fn sync_file(&mut self) -> Result<()> {
        if !self.sync {
            return Ok(());
        }
        let temp = self.temp.clone();
        let f = self
            .file()?
            .try_clone()
            .map_err(|e| Error::io("dup", temp.display(), e))?;
        blocking(move || {
            f.sync_data()
                .map_err(|e| Error::io("fsync", temp.display(), e))
        })
        .await
    }
}

#[async_trait]
impl RecoverableStream for LocalStream {
    async fn write(&mut self, buf: &[u8]) -> Result<()> {
        // Writes go to the page cache and are short; durability is paid for in persist/close.
        let temp = self.temp.display().to_string();
        self.file()?
            .write_all(buf)
            .map_err(|e| Error::io("write", temp, e))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn persist(&mut self) -> Result<ResumeHandle> {
        self.sync_file().await?;
        Ok(ResumeHandle {
            path: self.path.clone(),
            len: self.len,
            data: self.data.clone(),
        })
    }

    async fn close_for_commit(mut self: Box<Self>) -> Result<Committable> {
        self.sync_file().await?;
        self.file = None;
        let data = match self.pending.take() {
            None => self.data.clone(),
            Some((pending, data)) => {
                let temp = self.temp.clone();
                let sync = self.sync;
                blocking(move || {
                    fs::rename(&temp, &pending).map_err(|e| {
                        Error::io(
                            "rename",
                            format!("{} -> {}", temp.display(), pending.display()),
                            e,
                        )
                    })?;
                    match pending.parent() {
                        Some(dir) if sync => fsync_dir(dir),
                        _ => Ok(()),
                    }
                })
                .await?;
                data
            }
        };
        Ok(Committable {
            path: self.path.clone(),
            len: self.len,
            data,
        })
    }

    async fn discard(mut self: Box<Self>) -> Result<()> {
        self.file = None;
        let temp = self.temp.clone();
        blocking(move || match fs::remove_file(&temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", temp.display(), e)),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip() {
        let t = temp_name("part-ab12-0-7.json", "0123abcd");
        assert_eq!(t, ".part-ab12-0-7.json.inprogress.0123abcd");
        assert_eq!(parse_temp_name(&t), Some("part-ab12-0-7.json"));
        assert_eq!(parse_temp_name("part-ab12-0-7.json"), None);
        assert_eq!(parse_temp_name(".part.inprogress."), None);
        assert!(is_temp_name_of(&t, "part-ab12-0-7.json"));
        assert!(!is_temp_name_of(&t, "part-ab12-0-8.json"));
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(dir.path()).unwrap();
        crate::fs::testing::conformance(&target).await;
    }

    #[tokio::test]
    async fn conformance_with_legacy_naming() {
        let dir = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(dir.path())
            .unwrap()
            .with_naming(InProgressNaming::legacy())
            .unwrap();
        crate::fs::testing::conformance(&target).await;
        crate::fs::testing::conformance_legacy_naming(&target).await;
        // Other affixes, and the names on disk.
        let naming = LegacyNaming {
            in_progress_prefix: ".".into(),
            in_progress_suffix: ".writing".into(),
            pending_prefix: String::new(),
            pending_suffix: ".ready".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(dir.path())
            .unwrap()
            .with_naming(InProgressNaming::Legacy(naming))
            .unwrap();
        crate::fs::testing::conformance(&target).await;
        crate::fs::testing::conformance_legacy_naming(&target).await;
        let mut s = target.open(&RelPath::parse("b/p").unwrap()).await.unwrap();
        assert!(dir.path().join("b/.p.writing").is_file());
        s.write(b"1").await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        assert!(dir.path().join("b/p.ready").is_file());
        assert!(!dir.path().join("b/.p.writing").exists());
        target.commit(&c).await.unwrap();
        assert_eq!(fs::read(dir.path().join("b/p")).unwrap(), b"1");
    }

    #[tokio::test]
    async fn hidden_naming_refuses_a_published_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(dir.path()).unwrap();
        fs::write(dir.path().join("taken"), b"someone else's").unwrap();
        let err = target
            .open(&RelPath::parse("taken").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NameInUse { .. }), "{err}");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the hidden file it created is removed");
    }

    #[tokio::test]
    async fn hidden_until_commit_and_resume_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(dir.path()).unwrap();
        let path = RelPath::parse("x/part-1").unwrap();
        let mut s = target.open(&path).await.unwrap();
        s.write(b"abc").await.unwrap();
        let h = s.persist().await.unwrap();
        s.write(b"garbage").await.unwrap();
        drop(s); // a crash
        let names: Vec<_> = fs::read_dir(dir.path().join("x"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(".part-1.inprogress."), "{names:?}");
        let mut s = target.resume(&h).await.unwrap();
        assert_eq!(s.len(), 3);
        s.write(b"def").await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        target.commit(&c).await.unwrap();
        target
            .sync_commits(std::slice::from_ref(&c.path))
            .await
            .unwrap();
        assert_eq!(fs::read(dir.path().join("x/part-1")).unwrap(), b"abcdef");
    }

    #[test]
    fn unwritable_root_is_a_clear_error() {
        if unsafe { libc::geteuid() } == 0 {
            // root ignores permissions; use a path under a regular file instead
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("f");
            fs::write(&file, b"").unwrap();
            let err = LocalTarget::new(file.join("sub")).unwrap_err();
            assert!(err.to_string().contains("create directory"), "{err}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        let mut perm = fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
        fs::set_permissions(&ro, perm).unwrap();
        let err = LocalTarget::new(&ro).unwrap_err();
        assert!(err.to_string().contains("not writable"), "{err}");
    }
}
