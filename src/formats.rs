//! The row formats built into the CLI, as sections of `[sink]` like the connectors' formats: JSON
//! lines, text lines and CSV (`[sink.csv]`).

use serde::{Deserialize, Serialize};
use sink_core::sink::{CsvEncoder, FieldAccess, JsonLinesEncoder, SimpleStringEncoder};
use sink_core::wiring::{FormatFactory, FormatSection, SinkFormat};
use sink_core::{Error, Result};

use crate::config::CsvSection;

/// `format = "json"`: one JSON object per line. No table of its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFormat {}

impl FormatSection for JsonFormat {
    fn name(&self) -> &'static str {
        "json"
    }
}

impl<T: Serialize + 'static> FormatFactory<T> for JsonFormat {
    fn build(&self) -> Result<SinkFormat<T>> {
        Ok(SinkFormat::row(JsonLinesEncoder::<T>::new()))
    }
}

/// `format = "lines"`: the record's text, one per line. No table of its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinesFormat {}

impl FormatSection for LinesFormat {
    fn name(&self) -> &'static str {
        "lines"
    }
}

impl<T: std::fmt::Display + 'static> FormatFactory<T> for LinesFormat {
    fn build(&self) -> Result<SinkFormat<T>> {
        Ok(SinkFormat::row(SimpleStringEncoder::<T>::new()))
    }
}

/// `format = "csv"`, with its columns in `[sink.csv]` (required).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvFormat {
    /// `[sink.csv]`.
    pub csv: Option<CsvSection>,
}

impl FormatSection for CsvFormat {
    fn name(&self) -> &'static str {
        "csv"
    }
}

impl<T: FieldAccess + 'static> FormatFactory<T> for CsvFormat {
    fn build(&self) -> Result<SinkFormat<T>> {
        let csv = self.csv.as_ref().ok_or_else(|| {
            Error::config(
                "csv",
                "format = \"csv\" needs [sink.csv] with columns = [...]",
            )
        })?;
        if csv.columns.is_empty() {
            return Err(Error::config("csv.columns", "name at least one column"));
        }
        let mut encoder = CsvEncoder::new(csv.columns.clone()).with_header(csv.header);
        if let Some(d) = &csv.delimiter {
            let b = d.as_bytes();
            if b.len() != 1 || b[0] == b'"' || b[0] == b'\n' || b[0] == b'\r' {
                return Err(Error::config(
                    "csv.delimiter",
                    format!("{d:?}: one ASCII character other than a quote or line break"),
                ));
            }
            encoder = encoder.with_delimiter(b[0]);
        }
        Ok(SinkFormat::row(encoder))
    }
}
