//! How a target names the data of parts that are not published yet: [`InProgressNaming`].

use serde::{Deserialize, Serialize};

use super::local::{parse_temp_name, temp_name};
use crate::error::{Error, Result};

/// Flink `BucketingSink`'s default prefix of in-progress files.
pub const DEFAULT_IN_PROGRESS_PREFIX: &str = "_";
/// Flink `BucketingSink`'s default suffix of in-progress files.
pub const DEFAULT_IN_PROGRESS_SUFFIX: &str = ".in-progress";
/// Flink `BucketingSink`'s default prefix of pending files.
pub const DEFAULT_PENDING_PREFIX: &str = "_";
/// Flink `BucketingSink`'s default suffix of pending files.
pub const DEFAULT_PENDING_SUFFIX: &str = ".pending";

/// How a file-system target (local disk, HDFS) names a part before it is published.
///
/// * [`Hidden`](Self::Hidden) (the default): one hidden file `.{name}.inprogress.{unique}` from
///   open to commit; commit renames it to `{name}`. The unique suffix makes every open exclusive.
/// * [`Legacy`](Self::Legacy): Flink 1.9 `BucketingSink`'s names, for downstream readers that rely
///   on them: `{in_progress_prefix}{name}{in_progress_suffix}` while the part is open
///   (`_part-0-0.in-progress`), renamed to `{pending_prefix}{name}{pending_suffix}` when it is closed
///   for commit (`_part-0-0.pending`), renamed to `{name}` by commit.
///
/// Legacy names carry no unique suffix, so a target using them must keep every operation exact:
///
/// * `open` is exclusive: it creates the in-progress file only if it does not exist, then fails
///   with [`Error::NameInUse`] (removing what it created) if the pending or the final name exists,
///   checked in that order, so two writers can never both own a name (a file only moves from
///   in-progress to pending to final). The sink then takes the next name.
/// * `close_for_commit` renames in-progress to pending (durably) and returns a committable naming the
///   pending file; `commit` renames pending to final, and finding the final file with the
///   committable's length and no pending file is success.
/// * `resume` finds the data under the in-progress name or, when the part was closed after the
///   checkpoint that holds the handle, under the pending name (renamed back), and truncates it.
/// * `list_in_progress` lists both in-progress and pending files, and their `data` names the final
///   path, so [`RecoverableWriter::same_in_progress`](super::RecoverableWriter::same_in_progress)
///   matches a listed file with a handle or committable of the same part in either state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InProgressNaming {
    /// `.{name}.inprogress.{unique}`.
    #[default]
    Hidden,
    /// Flink `BucketingSink`'s `_{name}.in-progress` and `_{name}.pending`, or other affixes.
    Legacy(LegacyNaming),
}

/// The prefixes and suffixes of [`InProgressNaming::Legacy`] (Flink's `setInProgressPrefix`,
/// `setInProgressSuffix`, `setPendingPrefix`, `setPendingSuffix`). Defaults: Flink 1.9's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyNaming {
    /// Before the name of an open part. Default `_`.
    pub in_progress_prefix: String,
    /// After the name of an open part. Default `.in-progress`.
    pub in_progress_suffix: String,
    /// Before the name of a part closed but not yet published. Default `_`.
    pub pending_prefix: String,
    /// After the name of a part closed but not yet published. Default `.pending`.
    pub pending_suffix: String,
}

impl Default for LegacyNaming {
    fn default() -> Self {
        LegacyNaming {
            in_progress_prefix: DEFAULT_IN_PROGRESS_PREFIX.into(),
            in_progress_suffix: DEFAULT_IN_PROGRESS_SUFFIX.into(),
            pending_prefix: DEFAULT_PENDING_PREFIX.into(),
            pending_suffix: DEFAULT_PENDING_SUFFIX.into(),
        }
    }
}

/// Which state a legacy-named file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyState {
    /// Open: `{in_progress_prefix}{name}{in_progress_suffix}`.
    InProgress,
    /// Closed, waiting for commit: `{pending_prefix}{name}{pending_suffix}`.
    Pending,
}

impl LegacyNaming {
    /// The in-progress name of the part `name`.
    pub fn in_progress_name(&self, name: &str) -> String {
        format!(
            "{}{name}{}",
            self.in_progress_prefix, self.in_progress_suffix
        )
    }

    /// The pending name of the part `name`.
    pub fn pending_name(&self, name: &str) -> String {
        format!("{}{name}{}", self.pending_prefix, self.pending_suffix)
    }

    /// The state and the part's final name of a legacy-named file, if it is one.
    pub fn parse<'a>(&self, file_name: &'a str) -> Option<(LegacyState, &'a str)> {
        let strip = |prefix: &str, suffix: &str| {
            file_name
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .filter(|n| !n.is_empty())
        };
        if let Some(n) = strip(&self.in_progress_prefix, &self.in_progress_suffix) {
            return Some((LegacyState::InProgress, n));
        }
        strip(&self.pending_prefix, &self.pending_suffix).map(|n| (LegacyState::Pending, n))
    }

    /// Checks that the three names of a part always differ and are plain file names.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("in_progress_prefix", &self.in_progress_prefix),
            ("in_progress_suffix", &self.in_progress_suffix),
            ("pending_prefix", &self.pending_prefix),
            ("pending_suffix", &self.pending_suffix),
        ] {
            if v.contains('/') || v.contains('\\') || v.chars().any(char::is_control) {
                return Err(Error::config(
                    field,
                    format!("{v:?}: no '/', '\\' or control characters"),
                ));
            }
        }
        if self.in_progress_prefix.is_empty() && self.in_progress_suffix.is_empty() {
            return Err(Error::config(
                "in_progress_prefix",
                "an in-progress prefix or suffix is needed, or open parts would have their final names",
            ));
        }
        if self.pending_prefix.is_empty() && self.pending_suffix.is_empty() {
            return Err(Error::config(
                "pending_prefix",
                "a pending prefix or suffix is needed, or closed parts would have their final names",
            ));
        }
        if self.in_progress_prefix == self.pending_prefix
            && self.in_progress_suffix == self.pending_suffix
        {
            return Err(Error::config(
                "pending_suffix",
                "pending names must differ from in-progress names",
            ));
        }
        Ok(())
    }
}

impl InProgressNaming {
    /// Flink 1.9 `BucketingSink`'s names with its defaults.
    pub fn legacy() -> Self {
        InProgressNaming::Legacy(LegacyNaming::default())
    }

    /// Checks the affixes of legacy naming.
    pub fn validate(&self) -> Result<()> {
        match self {
            InProgressNaming::Hidden => Ok(()),
            InProgressNaming::Legacy(l) => l.validate(),
        }
    }

    /// The final name of a part whose unpublished data has this file name, if it is such a file.
    pub fn final_name_of<'a>(&self, file_name: &'a str) -> Option<&'a str> {
        match self {
            InProgressNaming::Hidden => parse_temp_name(file_name),
            InProgressNaming::Legacy(l) => l.parse(file_name).map(|(_, n)| n),
        }
    }

    /// The file name to create for a new part `name` (`unique` is used by hidden naming only).
    pub fn open_name(&self, name: &str, unique: &str) -> String {
        match self {
            InProgressNaming::Hidden => temp_name(name, unique),
            InProgressNaming::Legacy(l) => l.in_progress_name(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_round_trip() {
        let l = LegacyNaming::default();
        assert_eq!(l.in_progress_name("part-0-0"), "_part-0-0.in-progress");
        assert_eq!(l.pending_name("part-0-0"), "_part-0-0.pending");
        assert_eq!(
            l.parse("_part-0-0.in-progress"),
            Some((LegacyState::InProgress, "part-0-0"))
        );
        assert_eq!(
            l.parse("_part-0-0.pending"),
            Some((LegacyState::Pending, "part-0-0"))
        );
        assert_eq!(l.parse("part-0-0"), None);
        assert_eq!(l.parse("_.pending"), None);
        let n = InProgressNaming::legacy();
        assert_eq!(n.final_name_of("_a.pending"), Some("a"));
        assert_eq!(InProgressNaming::Hidden.final_name_of("_a.pending"), None);
    }

    #[test]
    fn ambiguous_affixes_are_refused() {
        let mut l = LegacyNaming::default();
        l.validate().unwrap();
        l.pending_suffix = ".in-progress".into();
        assert!(l.validate().is_err());
        let l = LegacyNaming {
            in_progress_prefix: String::new(),
            in_progress_suffix: String::new(),
            ..LegacyNaming::default()
        };
        assert!(l.validate().is_err());
        let l = LegacyNaming {
            pending_prefix: "a/".into(),
            ..LegacyNaming::default()
        };
        assert!(l.validate().is_err());
    }
}
