//! The file sink's checkpoint state: versioned serde data, so a new release restores an old
//! checkpoint.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::{Committable, ResumeHandle};

/// The version this release writes.
pub const FILE_SINK_STATE_VERSION: u32 = 1;

/// What one subtask's sink needs to continue after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSinkState {
    /// Format version ([`FILE_SINK_STATE_VERSION`] when written by this release).
    pub version: u32,
    /// The run id in part names, chosen on the job's first start.
    pub run: String,
    /// The subtask index in part names.
    pub subtask: usize,
    /// The next part counter: names below it were used.
    pub next_counter: u64,
    /// Parts that stay open across the checkpoint.
    #[serde(default)]
    pub open: Vec<OpenPartState>,
    /// Closed parts waiting for their checkpoint to complete.
    #[serde(default)]
    pub pending: Vec<PendingPart>,
    /// Handles whose data is no longer needed once this checkpoint is complete (targets that
    /// resume by copying leave the old copy behind).
    #[serde(default)]
    pub cleanup: Vec<ResumeHandle>,
}

/// An open part in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenPartState {
    /// Its bucket id.
    pub bucket: String,
    /// Where to resume.
    pub handle: ResumeHandle,
    /// Processing time it was opened, ms.
    pub creation_time: i64,
    /// Processing time of its last record, ms.
    pub last_update_time: i64,
    /// Records in it up to the handle.
    pub records: u64,
    /// True for a dead-letter part.
    #[serde(default)]
    pub dead_letter: bool,
}

/// A closed part waiting to be published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingPart {
    /// The checkpoint whose completion publishes it.
    pub checkpoint: u64,
    /// Its bucket id.
    pub bucket: String,
    /// What to commit.
    pub committable: Committable,
    /// Records in it.
    pub records: u64,
    /// When it was closed, ms since the epoch (wall clock), for the commit-lag metric; 0 if unknown.
    #[serde(default)]
    pub closed_at: i64,
}

impl FileSinkState {
    /// Reads a state from checkpoint JSON, migrating older versions. `origin` names the checkpoint
    /// file in errors.
    pub fn from_json(value: serde_json::Value, origin: &str) -> Result<Self> {
        let version = value
            .get("version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| Error::checkpoint(origin, "file sink state has no `version`"))?;
        match version {
            1 => serde_json::from_value(value)
                .map_err(|e| Error::checkpoint(origin, format!("file sink state: {e}"))),
            v => Err(Error::checkpoint(
                origin,
                format!(
                    "file sink state version {v} is newer than this release understands ({FILE_SINK_STATE_VERSION}); upgrade Spillway"
                ),
            )),
        }
    }

    /// The state as checkpoint JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("sink state serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RelPath;

    #[test]
    fn round_trip_and_version_checks() {
        let s = FileSinkState {
            version: FILE_SINK_STATE_VERSION,
            run: "r1".into(),
            subtask: 2,
            next_counter: 7,
            open: vec![OpenPartState {
                bucket: "b".into(),
                handle: ResumeHandle {
                    path: RelPath::parse("b/part-r1-2-6").unwrap(),
                    len: 10,
                    data: serde_json::json!({"temp": ".part-r1-2-6.inprogress.x"}),
                },
                creation_time: 1,
                last_update_time: 2,
                records: 3,
                dead_letter: false,
            }],
            pending: vec![],
            cleanup: vec![],
        };
        let v = s.to_json();
        assert_eq!(FileSinkState::from_json(v.clone(), "chk").unwrap(), s);
        let mut newer = v.clone();
        newer["version"] = 99.into();
        let e = FileSinkState::from_json(newer, "chk-9.json").unwrap_err();
        assert!(
            e.to_string().contains("chk-9.json") && e.to_string().contains("newer"),
            "{e}"
        );
        let mut broken = v;
        broken["open"][0]["handle"]["path"] = "../x".into();
        assert!(FileSinkState::from_json(broken, "chk").is_err());
    }

    /// A state written by release 0.1 (version 1) must keep loading.
    #[test]
    fn version_1_fixture_loads() {
        let fixture = r#"{"version":1,"run":"a1b2","subtask":0,"next_counter":3,
            "open":[],"pending":[{"checkpoint":4,"bucket":"2026-01-01--00",
            "committable":{"path":"2026-01-01--00/part-a1b2-0-2.json","len":5,"data":{"temp":".part-a1b2-0-2.json.inprogress.u"}},
            "records":1}]}"#;
        let s = FileSinkState::from_json(serde_json::from_str(fixture).unwrap(), "f").unwrap();
        assert_eq!(s.pending[0].committable.len, 5);
        assert!(s.cleanup.is_empty());
    }
}
