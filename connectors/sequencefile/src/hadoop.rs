//! Reading SequenceFiles back with Hadoop's own Java reader, for tests (here and in the targets'
//! crates): `hdfs dfs -text` and a small checker program on `SequenceFile.Reader`.
//!
//! Both need Hadoop 2.7.3 as `integration/services/hdfs.sh install` leaves it: the `hdfs` wrapper
//! (`SPILLWAY_HADOOP_HDFS`) with its jars in `../lib` and its Java in `../etc/java`. `file://` paths
//! need no running NameNode. Tests gate on the variable with `sink_core::test_support::service`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The checker's source: header fields, records, and the records found when the file is read in
/// splits the way MapReduce's `SequenceFileRecordReader` reads them.
const SEQ_CHECK_JAVA: &str = include_str!("SeqCheck.java");

/// Hadoop's shell and Java, found from the `hdfs` wrapper.
#[derive(Clone, Debug)]
pub struct Hadoop {
    hdfs: PathBuf,
    home: PathBuf,
}

/// What [`Hadoop::check`] found in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The path or URL as given.
    pub file: String,
    /// `getKeyClassName()`.
    pub key_class: String,
    /// `getValueClassName()`.
    pub value_class: String,
    /// `isCompressed()`.
    pub compressed: bool,
    /// `isBlockCompressed()`.
    pub block_compressed: bool,
    /// The codec's class, or `none`.
    pub codec: String,
    /// The metadata pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// Every record as `key<TAB>value` through the Writables' `toString`.
    pub records: Vec<String>,
    /// Records found when reading in splits.
    pub split_records: u64,
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl Hadoop {
    /// From the path of the `hdfs` wrapper (`$SPILLWAY_HADOOP_HDFS`).
    pub fn new(hdfs: impl Into<PathBuf>) -> io::Result<Self> {
        let hdfs: PathBuf = hdfs.into();
        let real = std::fs::canonicalize(&hdfs)?;
        let home = real
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| {
                io::Error::other(format!("{} is not in a bin/ directory", hdfs.display()))
            })?
            .to_path_buf();
        Ok(Hadoop { hdfs, home })
    }

    /// `hdfs dfs -text URL...`: every record of every file, `key<TAB>value` a line, in order.
    pub fn text(&self, urls: &[String]) -> io::Result<String> {
        run(Command::new(&self.hdfs).arg("dfs").arg("-text").args(urls))
    }

    fn java(&self) -> io::Result<PathBuf> {
        let java = std::fs::read_to_string(self.home.join("etc/java"))?;
        Ok(PathBuf::from(java.trim()))
    }

    fn classpath(&self) -> String {
        format!("{}/lib/*", self.home.display())
    }

    /// Compiles the checker once per process, next to the system's temp files.
    fn checker_dir(&self) -> io::Result<PathBuf> {
        static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
        DIR.get_or_init(|| {
            let compile = || -> io::Result<PathBuf> {
                let dir = std::env::temp_dir().join(format!(
                    "spillway-seqcheck-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("SeqCheck.java"), SEQ_CHECK_JAVA)?;
                let javac = self.java()?.with_file_name("javac");
                run(Command::new(javac)
                    .arg("-cp")
                    .arg(self.classpath())
                    .arg("-d")
                    .arg(&dir)
                    .arg(dir.join("SeqCheck.java")))?;
                Ok(dir)
            };
            compile().map_err(|e| e.to_string())
        })
        .clone()
        .map_err(io::Error::other)
    }

    /// Reads each file with `SequenceFile.Reader`: header fields, records, and a read in splits of
    /// `split` bytes.
    pub fn check(&self, urls: &[String], split: u64) -> io::Result<Vec<FileReport>> {
        let dir = self.checker_dir()?;
        let out = run(Command::new(self.java()?)
            .arg("-cp")
            .arg(format!("{}:{}", self.classpath(), dir.display()))
            .arg("SeqCheck")
            .arg(split.to_string())
            .args(urls))?;
        let mut reports: Vec<FileReport> = Vec::new();
        for line in out.lines() {
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            if tag == "file" {
                reports.push(FileReport {
                    file: rest.to_string(),
                    ..FileReport::default()
                });
                continue;
            }
            let Some(r) = reports.last_mut() else {
                continue;
            };
            match tag {
                "key_class" => r.key_class = rest.to_string(),
                "value_class" => r.value_class = rest.to_string(),
                "compressed" => r.compressed = rest == "true",
                "block_compressed" => r.block_compressed = rest == "true",
                "codec" => r.codec = rest.to_string(),
                "meta" => {
                    let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                    r.metadata.push((k.to_string(), v.to_string()));
                }
                "record" => r.records.push(rest.to_string()),
                "split_records" => r.split_records = rest.parse().unwrap_or(0),
                _ => {}
            }
        }
        Ok(reports)
    }
}

/// The `file://` URL of a local path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}
