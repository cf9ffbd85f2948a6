//! [`HdfsSection`]: the HDFS key of a job file's `[sink]` and `[checkpoint]` tables, and the
//! storage it builds for the CLI (`sink_core::wiring::StorageFactory`).

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::fs::DynWriter;
use sink_core::runtime::DynCheckpointStore;
use sink_core::wiring::{in_table, StorageFactory};
use sink_core::{Error, Result};

use crate::{checkpoint_store_from_url, target_from_url, HdfsOptions};

/// The URL schemes of HDFS.
pub const SCHEMES: &[&str] = &["hdfs", "viewfs"];

/// The `hdfs` key of `[sink]` and `[checkpoint]`: [`HdfsOptions`] for an `hdfs://` path. Errors
/// name fields inside the key (`hdfs.block_size`), or the whole path where the client names it
/// (`sink.path`, `checkpoint.hdfs`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdfsSection {
    /// `[sink.hdfs]` or `[checkpoint.hdfs]`.
    pub hdfs: Option<HdfsOptions>,
}

impl HdfsSection {
    fn options(&self) -> HdfsOptions {
        self.hdfs.clone().unwrap_or_default()
    }
}

#[async_trait]
impl StorageFactory for HdfsSection {
    fn schemes(&self) -> &'static [&'static str] {
        SCHEMES
    }

    fn listed_schemes(&self) -> &'static [&'static str] {
        SCHEMES
    }

    fn urls(&self) -> &'static str {
        "an hdfs:// URL"
    }

    fn validate(&self) -> Result<()> {
        self.hdfs.as_ref().map_or(Ok(()), |h| h.validate("hdfs"))
    }

    /// Checkpoints are written whole and synced, so they never replay.
    fn validate_for_checkpoints(&self) -> Result<()> {
        if self
            .hdfs
            .as_ref()
            .is_some_and(|h| h.replay_buffer.is_some())
        {
            return Err(in_table(
                "hdfs",
                Error::config(
                    "replay_buffer",
                    "applies to part files only (checkpoints are written whole and synced): set it in [sink.hdfs]",
                ),
            ));
        }
        Ok(())
    }

    async fn target(&self, url: &str) -> Result<DynWriter> {
        target_from_url(url, &self.options())
            .await
            .map_err(|e| in_table("hdfs", e))
    }

    async fn checkpoint_store(&self, url: &str) -> Result<DynCheckpointStore> {
        checkpoint_store_from_url(url, &self.options())
            .await
            .map_err(|e| in_table("hdfs", e))
    }
}
