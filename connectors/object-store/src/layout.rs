//! Where the target keeps things in the bucket.
//!
//! ```text
//! {root}/{bucket}/{part}                            the published part file (after commit)
//! {root}/_spillway/uploads/{bucket}/{part}/{id}     marker of an open upload: {path, upload id}
//! {root}/_spillway/tails/{id}/{len:020}-{nonce}     a piece of the short tail, from one persist
//! ```
//!
//! `id` is 32 hex digits chosen at `open`. The side objects live under one hidden prefix at the
//! root rather than next to each part: Spark, Hive, Trino and DuckDB skip names starting with `_`
//! either way, but one prefix is one lifecycle rule, one LIST at recovery, and partition
//! directories that hold nothing but data.

use object_store::path::Path;
use sink_core::fs::RelPath;
use sink_core::{Error, Result};

/// The hidden prefix of the side objects, under the target's root.
pub const SIDE_PREFIX: &str = "_spillway";

fn join(root: &Path, rest: &str) -> Path {
    // Every piece is a checked RelPath or made here (hex, digits, '-'), so parsing cannot fail:
    // no empty segment, no `.` or `..`, no control character.
    let s = if root.as_ref().is_empty() {
        rest.to_string()
    } else {
        format!("{}/{rest}", root.as_ref())
    };
    Path::parse(&s).unwrap_or_else(|_| Path::from(s.as_str()))
}

/// The key a part is published under.
pub(crate) fn final_key(root: &Path, path: &RelPath) -> Path {
    join(root, path.as_str())
}

/// The prefix of every upload marker.
pub(crate) fn uploads_prefix(root: &Path) -> Path {
    join(root, &format!("{SIDE_PREFIX}/uploads"))
}

/// The marker of one open upload.
pub(crate) fn marker_key(root: &Path, path: &RelPath, id: &str) -> Path {
    join(
        root,
        &format!("{SIDE_PREFIX}/uploads/{}/{id}", path.as_str()),
    )
}

/// The prefix of the tails of one upload.
pub(crate) fn tails_prefix(root: &Path, id: &str) -> Path {
    join(root, &format!("{SIDE_PREFIX}/tails/{id}"))
}

/// One tail object.
pub(crate) fn tail_key(root: &Path, id: &str, name: &str) -> Path {
    join(root, &format!("{SIDE_PREFIX}/tails/{id}/{name}"))
}

/// The name of the tail of a persist at total length `len`.
pub(crate) fn tail_name(len: u64) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{len:020}-{}", &nonce[..8])
}

/// A new upload id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Checks an id read from a checkpoint or a listing: 32 lowercase hex digits.
pub(crate) fn check_id(id: &str, path: &RelPath) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::checkpoint(
            path,
            format!("object-store upload id {id:?} is not 32 hex digits; was it made by another target?"),
        ))
    }
}

/// Checks a tail name read from a checkpoint.
pub(crate) fn check_tail_name(name: &str, path: &RelPath) -> Result<()> {
    if !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        Ok(())
    } else {
        Err(Error::checkpoint(
            path,
            format!("object-store tail name {name:?} is not valid"),
        ))
    }
}

/// Splits a marker's location into the part's path and the upload's id.
pub(crate) fn parse_marker(root: &Path, location: &Path) -> Option<(RelPath, String)> {
    let prefix = uploads_prefix(root);
    let rest = location.as_ref().strip_prefix(prefix.as_ref())?;
    let rest = rest.strip_prefix('/')?;
    let (path, id) = rest.rsplit_once('/')?;
    let path = RelPath::parse(path).ok()?;
    check_id(id, &path).ok()?;
    (!path.is_root()).then(|| (path, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_markers_round_trip() {
        let id = "0123456789abcdef0123456789abcdef";
        let path = RelPath::parse("dt=2026-11-24/part-ab-0-3.json").unwrap();
        for root in [Path::from(""), Path::from("lake/events")] {
            let m = marker_key(&root, &path, id);
            assert_eq!(
                parse_marker(&root, &m),
                Some((path.clone(), id.to_string()))
            );
            let fk = final_key(&root, &path);
            assert!(fk.as_ref().ends_with("dt=2026-11-24/part-ab-0-3.json"));
            assert_eq!(parse_marker(&root, &fk), None);
            let t = tail_key(&root, id, &tail_name(12));
            assert!(t.as_ref().contains(
                "_spillway/tails/0123456789abcdef0123456789abcdef/00000000000000000012-"
            ));
            assert!(t.prefix_matches(&tails_prefix(&root, id)));
        }
        let root = Path::from("r");
        assert_eq!(
            parse_marker(&root, &Path::from("r/_spillway/uploads/x/nothex")),
            None
        );
        assert_eq!(
            parse_marker(
                &root,
                &Path::from("r/_spillway/uploads/0123456789abcdef0123456789abcdef")
            ),
            None
        );
        assert!(check_tail_name("../x", &path).is_err());
        assert!(check_id("../../../../../../../../../../../x", &path).is_err());
    }

    #[test]
    fn unusual_characters_are_kept_verbatim() {
        let path = RelPath::parse("name=a b%20c#d/part-1").unwrap();
        let k = final_key(&Path::from("root"), &path);
        assert_eq!(k.as_ref(), "root/name=a b%20c#d/part-1");
    }
}
