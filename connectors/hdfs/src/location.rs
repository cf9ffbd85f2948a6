//! Where things are: an `hdfs://` URL split into the namenode part and the root directory, and the
//! mapping of the sink's relative paths to HDFS paths and hidden in-progress names.

use std::fmt;

use sink_core::fs::{parse_temp_name, temp_name, RelPath};
use sink_core::{Error, Result};

/// A parsed `hdfs://namenode:port/path`, `hdfs://nameservice/path` or `viewfs://cluster/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdfsLocation {
    scheme: String,
    authority: String,
    root: String,
}

impl HdfsLocation {
    /// Parses a URL. The path is the root directory (`/` when absent); it must not contain `.`,
    /// `..`, empty segments or control characters.
    ///
    /// ```
    /// use connector_hdfs::HdfsLocation;
    /// let l = HdfsLocation::parse("hdfs://nn.example.com:8020/lake/events/").unwrap();
    /// assert_eq!(l.client_url(), "hdfs://nn.example.com:8020");
    /// assert_eq!(l.root(), "/lake/events");
    /// assert_eq!(l.to_string(), "hdfs://nn.example.com:8020/lake/events");
    /// assert!(HdfsLocation::parse("s3://bucket/x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| Error::config("path", format!("{url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("not a URL; write hdfs://namenode:port/path"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "hdfs" && scheme != "viewfs" {
            return Err(bad("only hdfs:// and viewfs:// URLs are HDFS locations"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment is not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad(
                "user names in the URL are not supported; set `user` instead",
            ));
        }
        if let Some((_, port)) = authority.rsplit_once(':') {
            if port.parse::<u16>().is_err() {
                return Err(bad("the port is not a number"));
            }
        }
        let trimmed = path.trim_start_matches('/');
        if path.starts_with("//") {
            return Err(bad("empty path segment"));
        }
        let rel = RelPath::parse(trimmed).map_err(|e| bad(&e.to_string()))?;
        Ok(HdfsLocation {
            scheme,
            authority: authority.to_string(),
            root: format!("/{}", rel.as_str()),
        })
    }

    /// [`parse`](Self::parse), naming `field` (`sink.path`, `checkpoint.dir`) in errors.
    pub fn parse_field(url: &str, field: &str) -> Result<Self> {
        Self::parse(url).map_err(|e| match e {
            Error::Config { message, .. } => Error::config(field, message),
            e => e,
        })
    }

    /// The URL hdfs-native connects to: scheme and authority (`hdfs:///` for the configured
    /// `fs.defaultFS`).
    pub fn client_url(&self) -> String {
        if self.authority.is_empty() {
            format!("{}:///", self.scheme)
        } else {
            format!("{}://{}", self.scheme, self.authority)
        }
    }

    /// The root directory, absolute, without a trailing `/` (except for `/` itself).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Who is asked, for messages: `namenode 127.0.0.1:9000`, `nameservice lake`.
    pub fn namenode(&self) -> String {
        match (self.scheme.as_str(), self.authority.as_str()) {
            (_, "") => "the namenode of fs.defaultFS".to_string(),
            ("viewfs", a) => format!("the namenodes of viewfs cluster {a}"),
            (_, a) if a.contains(':') => format!("namenode {a}"),
            (_, a) => format!("the namenodes of nameservice {a} (or namenode {a}:8020)"),
        }
    }

    /// The absolute HDFS path of a path relative to the root.
    pub fn path(&self, rel: &RelPath) -> String {
        join(&self.root, rel.as_str())
    }

    /// The absolute path of the hidden in-progress file `temp` of the part `rel`: in the part's
    /// directory.
    pub fn temp_path(&self, rel: &RelPath, temp: &str) -> String {
        join(&self.path(&rel.parent().unwrap_or_default()), temp)
    }

    /// A new hidden in-progress name for the part `rel`: `.{name}.inprogress.{uuid}`.
    pub fn new_temp_name(rel: &RelPath) -> String {
        temp_name(rel.file_name(), &uuid::Uuid::new_v4().simple().to_string())
    }

    /// The path relative to the root of an absolute HDFS path under it.
    pub fn relative(&self, abs: &str) -> Option<RelPath> {
        let rest = if self.root == "/" {
            abs.strip_prefix('/')?
        } else {
            abs.strip_prefix(self.root.as_str())?.strip_prefix('/')?
        };
        RelPath::parse(rest).ok()
    }

    /// An absolute HDFS path as a URL, for messages.
    pub fn url_of(&self, abs: &str) -> String {
        format!("{}://{}{}", self.scheme, self.authority, abs)
    }

    /// The same location one directory deeper.
    pub fn child(&self, rel: &RelPath) -> HdfsLocation {
        HdfsLocation {
            root: self.path(rel),
            ..self.clone()
        }
    }
}

impl fmt::Display for HdfsLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url_of(&self.root))
    }
}

fn join(dir: &str, name: &str) -> String {
    match (dir, name) {
        (d, "") => d.to_string(),
        ("/", n) => format!("/{n}"),
        (d, n) => format!("{d}/{n}"),
    }
}

/// The in-progress file named in a handle's or committable's `data` (`{"temp": name}`), checked to
/// belong to the part `rel`.
pub fn temp_of(rel: &RelPath, data: &serde_json::Value) -> Result<String> {
    let name = data.get("temp").and_then(|v| v.as_str()).ok_or_else(|| {
        Error::checkpoint(
            rel,
            "HDFS handle has no `temp` file name; was it made by another target?",
        )
    })?;
    if parse_temp_name(name) != Some(rel.file_name()) {
        return Err(Error::InvalidPath {
            path: name.to_string(),
            reason: format!("not the in-progress file of {rel}"),
        });
    }
    Ok(name.to_string())
}

/// The name of a checkpoint document's temporary file: `.{name}.tmp-{uuid}`, hidden from
/// [`CheckpointStore::list`](sink_core::runtime::CheckpointStore::list).
pub fn checkpoint_temp_name(name: &str) -> String {
    format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        // (url, Some((client url, root, display)) or None when refused)
        type Want<'a> = Option<(&'a str, &'a str, &'a str)>;
        let table: &[(&str, Want)] = &[
            (
                "hdfs://127.0.0.1:9000",
                Some(("hdfs://127.0.0.1:9000", "/", "hdfs://127.0.0.1:9000/")),
            ),
            (
                "hdfs://127.0.0.1:9000/",
                Some(("hdfs://127.0.0.1:9000", "/", "hdfs://127.0.0.1:9000/")),
            ),
            (
                "hdfs://nn:8020/lake",
                Some(("hdfs://nn:8020", "/lake", "hdfs://nn:8020/lake")),
            ),
            (
                "hdfs://nn:8020/lake/a/",
                Some(("hdfs://nn:8020", "/lake/a", "hdfs://nn:8020/lake/a")),
            ),
            (
                "HDFS://lake-ns/data",
                Some(("hdfs://lake-ns", "/data", "hdfs://lake-ns/data")),
            ),
            (
                "viewfs://cluster/x",
                Some(("viewfs://cluster", "/x", "viewfs://cluster/x")),
            ),
            ("hdfs:///lake", Some(("hdfs:///", "/lake", "hdfs:///lake"))),
            (
                "hdfs://nn:8020/dt=2026-01-01/x y",
                Some((
                    "hdfs://nn:8020",
                    "/dt=2026-01-01/x y",
                    "hdfs://nn:8020/dt=2026-01-01/x y",
                )),
            ),
            ("hdfs://nn:8020/a/../b", None),
            ("hdfs://nn:8020/a/./b", None),
            ("hdfs://nn:8020//a", None),
            ("hdfs://nn:8020/a//b", None),
            ("hdfs://nn:port/a", None),
            ("hdfs://nn:8020/a?x=1", None),
            ("hdfs://user@nn:8020/a", None),
            ("s3://bucket/a", None),
            ("/lake", None),
            ("file:///lake", None),
        ];
        for (url, want) in table {
            let got = HdfsLocation::parse(url)
                .ok()
                .map(|l| (l.client_url(), l.root().to_string(), l.to_string()));
            let want = want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
            assert_eq!(got, want, "{url}");
        }
        let err = HdfsLocation::parse_field("hdfs://nn:8020/a/../b", "sink.path").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("sink.path: \"hdfs://nn:8020/a/../b\": "),
            "{err}"
        );
    }

    #[test]
    fn paths_under_the_root() {
        let r = |s: &str| RelPath::parse(s).unwrap();
        // (root url, relative path, absolute path, temp dir)
        let table: &[(&str, &str, &str, &str)] = &[
            ("hdfs://nn:1/", "part-0", "/part-0", "/.t"),
            ("hdfs://nn:1/lake", "part-0", "/lake/part-0", "/lake/.t"),
            (
                "hdfs://nn:1/lake",
                "a/b/part-0",
                "/lake/a/b/part-0",
                "/lake/a/b/.t",
            ),
            ("hdfs://nn:1/", "a/part-0", "/a/part-0", "/a/.t"),
            ("hdfs://nn:1/lake", "", "/lake", "/lake/.t"),
        ];
        for (url, rel, abs, temp) in table {
            let l = HdfsLocation::parse(url).unwrap();
            assert_eq!(l.path(&r(rel)), *abs, "{url} {rel}");
            if !rel.is_empty() {
                assert_eq!(l.temp_path(&r(rel), ".t"), *temp, "{url} {rel}");
                assert_eq!(l.relative(abs), Some(r(rel)), "{url} {abs}");
            }
        }
        let l = HdfsLocation::parse("hdfs://nn:1/lake").unwrap();
        assert_eq!(l.relative("/lakehouse/x"), None);
        assert_eq!(l.relative("/other/x"), None);
        assert_eq!(l.url_of("/lake/a"), "hdfs://nn:1/lake/a");
        assert_eq!(
            l.child(&r("ckpt/w0")).to_string(),
            "hdfs://nn:1/lake/ckpt/w0"
        );
        assert_eq!(l.namenode(), "namenode nn:1");
        assert!(HdfsLocation::parse("hdfs://lake/x")
            .unwrap()
            .namenode()
            .contains("nameservice lake"));
    }

    #[test]
    fn in_progress_names() {
        let p = RelPath::parse("dt=1/part-ab12-0-7.json").unwrap();
        let t = HdfsLocation::new_temp_name(&p);
        assert!(t.starts_with(".part-ab12-0-7.json.inprogress."), "{t}");
        assert_eq!(parse_temp_name(&t), Some("part-ab12-0-7.json"));
        // (data, accepted)
        let table: &[(serde_json::Value, bool)] = &[
            (serde_json::json!({ "temp": t }), true),
            (
                serde_json::json!({ "temp": ".part-ab12-0-7.json.inprogress.x" }),
                true,
            ),
            (
                serde_json::json!({ "temp": ".part-ab12-0-8.json.inprogress.x" }),
                false,
            ),
            (serde_json::json!({ "temp": "part-ab12-0-7.json" }), false),
            (
                serde_json::json!({ "temp": ".part-ab12-0-7.json.inprogress." }),
                false,
            ),
            (serde_json::json!({ "upload": "x" }), false),
            (serde_json::json!(null), false),
        ];
        for (data, ok) in table {
            assert_eq!(temp_of(&p, data).is_ok(), *ok, "{data}");
        }
        let c = checkpoint_temp_name("job.json");
        assert!(c.starts_with(".job.json.tmp-") && c.len() > 20, "{c}");
    }
}
