//! Where paths point: local disk, built in, or the storage connector of this build that serves a
//! URL's scheme (`sink_core::wiring::StorageFactory`), and the targets and checkpoint stores they
//! build.

use std::path::PathBuf;
use std::sync::Arc;

use sink_core::fs::{DynWriter, InProgressNaming, LocalTarget};
use sink_core::runtime::{DynCheckpointStore, LocalCheckpointStore};
use sink_core::wiring::StorageFactory;
use sink_core::{Error, Result};

use crate::config::{job_field, CheckpointSection, SinkTable};
use crate::registry::Storages;

/// Where a path or URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// A URL that a storage connector of this build serves: its scheme (lowercase) and the URL.
    Url {
        /// `s3`, `hdfs`, ...
        scheme: String,
        /// The URL as written.
        url: String,
    },
    /// A URL with a scheme this build does not know.
    Unsupported(String),
}

/// Splits a `sink.path` or `checkpoint.dir` into a local path or a URL.
pub fn location(s: &str) -> Location {
    if let Some(rest) = s.strip_prefix("file://") {
        return Location::Local(rest.into());
    }
    match s.find("://") {
        Some(i)
            if s[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            let scheme = s[..i].to_ascii_lowercase();
            if Storages::default().serving(&scheme).is_some() {
                Location::Url {
                    scheme,
                    url: s.to_string(),
                }
            } else {
                Location::Unsupported(scheme)
            }
        }
        _ => Location::Local(s.into()),
    }
}

fn supported_schemes() -> String {
    let mut v = vec!["local paths".to_string(), "file://".to_string()];
    for e in Storages::default().all() {
        v.extend(e.factory.listed_schemes().iter().map(|s| format!("{s}://")));
    }
    v.join(", ")
}

fn unsupported(field: &str, scheme: &str) -> Error {
    Error::config(
        field,
        format!(
            "the {scheme}:// scheme is not supported by this build (supported: {})",
            supported_schemes()
        ),
    )
}

/// Settings of the storage behind a path, from the job file: the storage sections of `[sink]` or
/// `[checkpoint]`.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    /// The sections, one per storage connector of this build.
    pub storages: Storages,
}

impl StorageOptions {
    /// The options of `[sink.*]`.
    pub fn of_sink(s: &SinkTable) -> Self {
        StorageOptions {
            storages: s.storage().clone(),
        }
    }

    /// The options of `[checkpoint.*]`.
    pub fn of_checkpoint(c: &CheckpointSection) -> Self {
        StorageOptions {
            storages: c.storage.clone(),
        }
    }

    /// Refuses settings for a kind of storage `path` does not use, and checks those it does.
    pub fn check(&self, table: &str, path: &str) -> Result<()> {
        for e in self.storages.all() {
            let Some(key) = e.given.first() else {
                continue;
            };
            let served = matches!(location(path), Location::Url { scheme, .. }
                if e.factory.schemes().contains(&scheme.as_str()));
            if !served {
                return Err(Error::config(
                    format!("{table}.{key}"),
                    format!("only applies to {}, not {path:?}", e.factory.urls()),
                ));
            }
            e.factory.validate().map_err(|e| job_field(table, e))?;
        }
        Ok(())
    }

    /// Local disk, or the storage that serves `path`; `field` names the path in errors.
    fn resolve(&self, path: &str, field: &str) -> Result<Resolved<'_>> {
        match location(path) {
            Location::Local(p) => Ok(Resolved::Local(p)),
            Location::Url { scheme, .. } | Location::Unsupported(scheme) => self
                .storages
                .serving(&scheme)
                .map(Resolved::Remote)
                .ok_or_else(|| unsupported(field, &scheme)),
        }
    }
}

/// What a path resolves to.
enum Resolved<'a> {
    /// A local directory.
    Local(PathBuf),
    /// A URL of this storage.
    Remote(&'a dyn StorageFactory),
}

/// The sink's target.
pub async fn target(path: &str, options: &StorageOptions) -> Result<DynWriter> {
    match options.resolve(path, "sink.path")? {
        Resolved::Local(p) => Ok(Arc::new(LocalTarget::new(p)?)),
        Resolved::Remote(s) => s.target(path).await.map_err(|e| job_field("sink", e)),
    }
}

/// The target of `[sink]`: for `api = "bucketing"` on local disk, with Flink's legacy names of
/// in-progress and pending parts (`_part-0-0.in-progress`, `_part-0-0.pending`).
pub async fn sink_target(table: &SinkTable) -> Result<DynWriter> {
    match (table, location(table.path())) {
        (SinkTable::Bucketing(b), Location::Local(p)) => Ok(Arc::new(
            LocalTarget::new(p)?
                .with_naming(InProgressNaming::Legacy(b.config.legacy_naming()))
                .map_err(|e| job_field("sink", e))?,
        )),
        _ => target(table.path(), &StorageOptions::of_sink(table)).await,
    }
}

/// The checkpoint store.
pub async fn checkpoint_store(dir: &str, options: &StorageOptions) -> Result<DynCheckpointStore> {
    match options.resolve(dir, "checkpoint.dir")? {
        Resolved::Local(p) => Ok(Arc::new(LocalCheckpointStore::new(p)?)),
        Resolved::Remote(s) => s
            .checkpoint_store(dir)
            .await
            .map_err(|e| job_field("checkpoint", e)),
    }
}

/// The checkpoint store of a directory that must exist (for `spillway checkpoints`). Object-store
/// URLs take their settings from the environment (`AWS_*`).
pub async fn existing_checkpoint_store(dir: &str) -> Result<DynCheckpointStore> {
    let options = StorageOptions::default();
    match options.resolve(dir, "checkpoints")? {
        Resolved::Local(p) => Ok(Arc::new(LocalCheckpointStore::open_existing(p)?)),
        Resolved::Remote(_) => checkpoint_store(dir, &options).await,
    }
}

/// Checks a path without creating anything: a URL must be one this build serves; an existing local
/// path must be a directory, and otherwise its nearest existing parent must be one.
pub(crate) fn check_location(field: &str, s: &str) -> Result<()> {
    match location(s) {
        Location::Url { .. } => Ok(()),
        Location::Local(p) => {
            let mut q = p.as_path();
            loop {
                if q.as_os_str().is_empty() {
                    return Ok(());
                }
                if q.exists() {
                    return if q.is_dir() {
                        Ok(())
                    } else {
                        Err(Error::config(
                            field,
                            format!("{} is not a directory", q.display()),
                        ))
                    };
                }
                match q.parent() {
                    Some(parent) => q = parent,
                    None => return Ok(()),
                }
            }
        }
        Location::Unsupported(s) => Err(unsupported(field, &s)),
    }
}
