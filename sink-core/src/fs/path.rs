//! [`RelPath`]: a path inside a target's root that cannot leave it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A relative path inside a storage target's root, with `/` between segments.
///
/// Every path the sink hands to a target is a `RelPath`, so data can never name a file outside the
/// output directory: a `RelPath` has no empty segment, no `.` or `..`, no leading `/`, no
/// backslash, no control character and no NUL. The empty path is the root itself.
///
/// ```
/// use sink_core::fs::RelPath;
/// let p = RelPath::parse("dt=2026-11-24/hour=13").unwrap();
/// assert_eq!(p.join("part-a-0-0.json").unwrap().as_str(), "dt=2026-11-24/hour=13/part-a-0-0.json");
/// assert!(RelPath::parse("../../etc").is_err());
/// assert!(RelPath::parse("/etc/passwd").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

/// Longest segment accepted: the usual file-name limit of Linux file systems and HDFS.
pub const MAX_SEGMENT_BYTES: usize = 255;

impl RelPath {
    /// The root of the target.
    pub fn root() -> Self {
        RelPath(String::new())
    }

    /// Checks and wraps a relative path. A trailing `/` is ignored.
    pub fn parse(s: &str) -> Result<Self> {
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        if trimmed.is_empty() {
            return Ok(RelPath::root());
        }
        for segment in trimmed.split('/') {
            check_segment(segment).map_err(|reason| Error::InvalidPath {
                path: s.to_string(),
                reason,
            })?;
        }
        Ok(RelPath(trimmed.to_string()))
    }

    /// Appends one or more segments (`a/b` is allowed; each segment is checked).
    pub fn join(&self, rest: &str) -> Result<Self> {
        let tail = RelPath::parse(rest)?;
        Ok(self.join_rel(&tail))
    }

    /// Appends a path that is already checked.
    pub fn join_rel(&self, tail: &RelPath) -> Self {
        match (self.0.is_empty(), tail.0.is_empty()) {
            (true, _) => tail.clone(),
            (_, true) => self.clone(),
            _ => RelPath(format!("{}/{}", self.0, tail.0)),
        }
    }

    /// The path as a string, without a leading or trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last segment (empty for the root).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// Everything but the last segment (the root for a one-segment path), `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => RelPath(self.0[..i].to_string()),
            None => RelPath::root(),
        })
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

/// Why a single segment is refused, or `Ok`.
pub(crate) fn check_segment(segment: &str) -> std::result::Result<(), String> {
    if segment.is_empty() {
        return Err("empty segment (a leading '/' or '//' is not allowed)".into());
    }
    if segment == "." || segment == ".." {
        return Err(format!("segment {segment:?} is not allowed"));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(format!(
            "segment is {} bytes, longer than {MAX_SEGMENT_BYTES}",
            segment.len()
        ));
    }
    if let Some(c) = segment
        .chars()
        .find(|c| c.is_control() || *c == '\\' || *c == '\0')
    {
        return Err(format!("character {c:?} is not allowed"));
    }
    Ok(())
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl TryFrom<String> for RelPath {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        RelPath::parse(&s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        let table: &[(&str, Option<&str>)] = &[
            ("", Some("")),
            ("a", Some("a")),
            ("a/b/c", Some("a/b/c")),
            ("a/b/", Some("a/b")),
            ("dt=2026-01-01/hour=00", Some("dt=2026-01-01/hour=00")),
            (".hidden/x", Some(".hidden/x")),
            ("..", None),
            ("../../etc", None),
            ("a/../b", None),
            ("a/./b", None),
            ("/etc/passwd", None),
            ("a//b", None),
            ("a\\b", None),
            ("a\nb", None),
            ("a\0b", None),
            ("caf\u{e9}/\u{1F600}", Some("caf\u{e9}/\u{1F600}")),
        ];
        for (input, want) in table {
            let got = RelPath::parse(input).ok().map(|p| p.as_str().to_string());
            assert_eq!(got.as_deref(), *want, "input {input:?}");
        }
        assert!(RelPath::parse(&"x".repeat(256)).is_err());
        assert!(RelPath::parse(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn join_parent_file_name() {
        let root = RelPath::root();
        let a = root.join("a/b").unwrap();
        assert_eq!(a.as_str(), "a/b");
        assert_eq!(a.join("f.json").unwrap().as_str(), "a/b/f.json");
        assert_eq!(a.file_name(), "b");
        assert_eq!(a.parent().unwrap().as_str(), "a");
        assert_eq!(a.parent().unwrap().parent().unwrap(), RelPath::root());
        assert!(RelPath::root().parent().is_none());
        assert!(a.join("../x").is_err());
        assert_eq!(root.join("").unwrap(), root);
    }

    #[test]
    fn serde_refuses_hostile_paths() {
        let ok: RelPath = serde_json::from_str("\"a/b\"").unwrap();
        assert_eq!(ok.as_str(), "a/b");
        assert!(serde_json::from_str::<RelPath>("\"../x\"").is_err());
    }
}
