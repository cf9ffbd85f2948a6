//! [`ParquetSection`]: the keys of a job file's `[sink]` that `format = "parquet"` reads, and the
//! format they build for the CLI (`sink_core::wiring::FormatFactory`).

use serde::{Deserialize, Serialize};
use sink_core::wiring::{FormatFactory, FormatSection, SinkFormat};
use sink_core::{Error, Result};

use crate::{ParquetOptions, ParquetWriterFactory, SchemaConfig};

/// `[sink.parquet]` and `[sink.schema]`. The schema is required; the writer's settings default.
/// Errors name fields from the `[sink]` table (`parquet.compression_level`, `schema.fields[0]`), or
/// from the job file's root (`sink.parquet.max_row_group_size`), as the option types do.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSection {
    /// `[sink.parquet]`: the writer's settings.
    pub parquet: Option<ParquetOptions>,
    /// `[sink.schema]`: the columns.
    pub schema: Option<SchemaConfig>,
}

impl FormatSection for ParquetSection {
    fn name(&self) -> &'static str {
        "parquet"
    }
}

impl<T: Serialize + Send + 'static> FormatFactory<T> for ParquetSection {
    fn build(&self) -> Result<SinkFormat<T>> {
        let schema = self.schema.as_ref().ok_or_else(|| {
            Error::config(
                "schema",
                "format = \"parquet\" needs the columns: [sink.schema] with fields = [{ name = \"id\", type = \"int64\" }, ...]",
            )
        })?;
        let options = self.parquet.clone().unwrap_or_default();
        let factory = ParquetWriterFactory::<T>::for_serde_with_schema_config(schema, options)?;
        Ok(SinkFormat::bulk(factory))
    }
}
