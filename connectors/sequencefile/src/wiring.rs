//! [`SequenceFileSection`]: the key of a job file's `[sink]` that `format = "sequence-file"` (and
//! the `BucketingSink` writer `"sequence-file"`) reads, and the format it builds for the CLI
//! (`sink_core::wiring::FormatFactory`).

use serde::{Deserialize, Serialize};
use sink_core::sink::FieldAccess;
use sink_core::wiring::{in_table, FormatFactory, FormatSection, SinkFormat};

use crate::{SequenceFileConfig, SequenceFileFormat, SequenceFileWriter};

/// `[sink.sequence_file]`, every key optional. Errors name fields inside the key
/// (`sequence_file.block_size`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceFileSection {
    /// `[sink.sequence_file]`.
    pub sequence_file: Option<SequenceFileConfig>,
}

fn in_section(e: crate::Error) -> sink_core::Error {
    in_table("sequence_file", e.into())
}

impl FormatSection for SequenceFileSection {
    fn name(&self) -> &'static str {
        "sequence-file"
    }
}

impl<T: FieldAccess + Serialize + Send + 'static> FormatFactory<T> for SequenceFileSection {
    /// A row format for none and record compression, a bulk format for block compression.
    fn build(&self) -> sink_core::Result<SinkFormat<T>> {
        let config = self.sequence_file.clone().unwrap_or_default();
        Ok(match config.format::<T>().map_err(in_section)? {
            SequenceFileFormat::Row(e) => SinkFormat::row(e),
            SequenceFileFormat::Bulk(f) => SinkFormat::bulk(f),
        })
    }

    /// Flink's `SequenceFileWriter`, from the `sequence_file` table the facade keeps.
    fn bucketing_writer(
        &self,
        table: Option<&serde_json::Value>,
    ) -> Option<sink_core::Result<(SinkFormat<T>, String)>> {
        let build = || {
            let config: SequenceFileConfig = match table {
                None => SequenceFileConfig::default(),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| sink_core::Error::config("sequence_file", e.to_string()))?,
            };
            let writer = SequenceFileWriter::<T>::from_config(&config).map_err(in_section)?;
            let description = format!(
                "SequenceFileWriter ({} compression)",
                format!("{:?}", config.compression).to_lowercase()
            );
            Ok((writer.into_format().map_err(in_section)?, description))
        };
        Some(build())
    }
}
