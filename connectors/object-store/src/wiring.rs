//! [`ObjectStoreSection`]: the object-store key of a job file's `[sink]` and `[checkpoint]`
//! tables, and the storage it builds for the CLI (`sink_core::wiring::StorageFactory`).

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::fs::DynWriter;
use sink_core::runtime::DynCheckpointStore;
use sink_core::wiring::{in_table, StorageFactory};
use sink_core::{Error, Result};

use crate::{checkpoint_store_from_url, target_from_url, ObjectStoreOptions};

/// The URL schemes of object stores, every one this crate knows; those whose cloud feature is
/// off are refused by [`target_from_url`] with a message naming the feature.
pub const SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure", "memory",
];

/// The schemes to name where a program lists what it supports: one per store of this build.
const LISTED: &[&str] = &[
    #[cfg(feature = "aws")]
    "s3",
    "memory",
    #[cfg(feature = "gcp")]
    "gs",
    #[cfg(feature = "azure")]
    "az",
];

/// The `object_store` key of `[sink]` and `[checkpoint]`: [`ObjectStoreOptions`] for an
/// object-store path. Errors name fields inside the key (`object_store.part_size`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreSection {
    /// `[sink.object_store]` or `[checkpoint.object_store]`.
    pub object_store: Option<ObjectStoreOptions>,
}

impl ObjectStoreSection {
    fn options(&self) -> ObjectStoreOptions {
        self.object_store.clone().unwrap_or_default()
    }
}

#[async_trait]
impl StorageFactory for ObjectStoreSection {
    fn schemes(&self) -> &'static [&'static str] {
        SCHEMES
    }

    fn listed_schemes(&self) -> &'static [&'static str] {
        LISTED
    }

    fn urls(&self) -> &'static str {
        "an object-store URL (s3://, memory://, ...)"
    }

    /// Checkpoints are single small objects, so the upload keys would be ignored without a word.
    fn validate_for_checkpoints(&self) -> Result<()> {
        let Some(o) = &self.object_store else {
            return Ok(());
        };
        for (key, set) in [
            ("part_size", o.part_size.is_some()),
            ("upload_concurrency", o.upload_concurrency.is_some()),
        ] {
            if set {
                return Err(in_table(
                    "object_store",
                    Error::config(
                        key,
                        "applies to part files only (checkpoints are single small objects): set it in [sink.object_store]",
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn target(&self, url: &str) -> Result<DynWriter> {
        target_from_url(url, &self.options())
            .await
            .map_err(|e| in_table("object_store", e))
    }

    async fn checkpoint_store(&self, url: &str) -> Result<DynCheckpointStore> {
        checkpoint_store_from_url(url, &self.options()).map_err(|e| in_table("object_store", e))
    }
}
