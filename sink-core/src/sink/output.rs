//! How part files are named: [`OutputFileConfig`] (Flink's), and the one place that turns it into
//! names and reads legacy names back.

use crate::error::{Error, Result};

/// Flink's default part prefix.
pub const DEFAULT_PART_PREFIX: &str = "part";

/// Part file names: `{prefix}-{run}-{subtask}-{counter}{suffix}` (Flink's `OutputFileConfig`).
///
/// The prefix defaults to `part`; the suffix to the format's (`.json`, `.csv`, `.parquet`).
/// [Legacy names](OutputFileConfigBuilder::with_legacy_part_names) leave the run id out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFileConfig {
    part_prefix: String,
    part_suffix: Option<String>,
    legacy_part_names: bool,
}

impl Default for OutputFileConfig {
    fn default() -> Self {
        OutputFileConfig {
            part_prefix: DEFAULT_PART_PREFIX.into(),
            part_suffix: None,
            legacy_part_names: false,
        }
    }
}

impl OutputFileConfig {
    /// Starts from the defaults.
    pub fn builder() -> OutputFileConfigBuilder {
        OutputFileConfigBuilder(OutputFileConfig::default())
    }

    /// The prefix.
    pub fn part_prefix(&self) -> &str {
        &self.part_prefix
    }

    /// The suffix, if set (otherwise the format's).
    pub fn part_suffix(&self) -> Option<&str> {
        self.part_suffix.as_deref()
    }

    /// True when names leave the run id out (`{prefix}-{subtask}-{counter}{suffix}`).
    pub fn legacy_part_names(&self) -> bool {
        self.legacy_part_names
    }

    pub(super) fn validate(&self) -> Result<()> {
        let p = &self.part_prefix;
        if p.is_empty() || p.starts_with('.') || p.starts_with('_') {
            return Err(Error::config(
                "part_prefix",
                format!("{p:?}: must be non-empty and not start with '.' or '_' (readers would skip the files)"),
            ));
        }
        for (field, v) in [
            ("part_prefix", p.as_str()),
            ("part_suffix", self.part_suffix.as_deref().unwrap_or("")),
        ] {
            if v.contains('/') || v.contains('\\') || v.chars().any(char::is_control) {
                return Err(Error::config(
                    field,
                    format!("{v:?}: no '/', '\\' or control characters"),
                ));
            }
        }
        Ok(())
    }

    /// The names this config gives (the suffix is the lane's, so it is not part of them).
    pub(super) fn names(&self) -> PartNames {
        PartNames {
            prefix: self.part_prefix.clone(),
            legacy: self.legacy_part_names,
        }
    }
}

/// Builder of [`OutputFileConfig`].
#[derive(Clone, Debug)]
pub struct OutputFileConfigBuilder(OutputFileConfig);

impl OutputFileConfigBuilder {
    /// Sets the prefix.
    pub fn with_part_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.0.part_prefix = prefix.into();
        self
    }

    /// Sets the suffix (may be empty).
    pub fn with_part_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.0.part_suffix = Some(suffix.into());
        self
    }

    /// Names parts `{prefix}-{subtask}-{counter}{suffix}`, without the run id, as Flink 1.9's
    /// `BucketingSink` did (`part-0-0`).
    ///
    /// Such names can already exist in the output (a previous job, an earlier run), so:
    ///
    /// * The target's `open` must refuse a name held by a published, pending or in-progress part
    ///   with [`Error::NameInUse`] ([`LocalTarget`](crate::fs::LocalTarget) does); the writer then
    ///   takes the next counter, as Flink's `BucketingSink` skipped existing names.
    /// * On a start, [`FileSink::recover`](super::FileSink::recover) lists the unpublished parts
    ///   named `{prefix}-{subtask}-…` and every writer starts its counter above the highest one of
    ///   its subtask, so the names a run creates are always above anything that was there before it.
    /// * Hence, after a restore, an unpublished part of subtask `s` that the checkpoint does not
    ///   reference and whose counter is at least the checkpoint's counter of `s` was written by
    ///   this job after the checkpoint: recovery deletes exactly those. Everything else (the
    ///   leftovers of other jobs, of a run that crashed before its first checkpoint) is left alone.
    ///
    /// Two jobs must not write the same prefix into the same directories at the same time (as with
    /// Flink).
    pub fn with_legacy_part_names(mut self, legacy: bool) -> Self {
        self.0.legacy_part_names = legacy;
        self
    }

    /// The config.
    pub fn build(self) -> OutputFileConfig {
        self.0
    }
}

/// Makes part names and reads them back: every rule about a name's shape is here.
#[derive(Clone, Debug)]
pub(super) struct PartNames {
    prefix: String,
    legacy: bool,
}

impl PartNames {
    /// The prefix.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// True for legacy names (no run id).
    pub(super) fn legacy(&self) -> bool {
        self.legacy
    }

    /// The name of part `counter` of `subtask` in run `run`.
    pub(super) fn name(&self, run: &str, subtask: usize, counter: u64, suffix: &str) -> String {
        if self.legacy {
            format!("{}-{subtask}-{counter}{suffix}", self.prefix)
        } else {
            format!("{}-{run}-{subtask}-{counter}{suffix}", self.prefix)
        }
    }

    /// The start shared by every name of run `run`: `{prefix}-{run}-` (legacy names: `{prefix}-`).
    pub(super) fn run_prefix(&self, run: &str) -> String {
        if self.legacy {
            format!("{}-", self.prefix)
        } else {
            format!("{}-{run}-", self.prefix)
        }
    }

    /// Legacy names: the subtask and counter of a part named `{prefix}-{subtask}-{counter}…`.
    pub(super) fn legacy_counter(&self, file_name: &str) -> Option<(usize, u64)> {
        let rest = file_name
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('-')?;
        let (subtask, rest) = rest.split_once('-')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        Some((subtask.parse().ok()?, rest[..digits].parse().ok()?))
    }
}
