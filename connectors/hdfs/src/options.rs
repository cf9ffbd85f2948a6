//! [`HdfsOptions`]: the `[sink.hdfs]` and `[checkpoint.hdfs]` tables, with their defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// How long a namenode or datanode failure is retried before the operation fails: 5 minutes.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long [`target_from_url`](crate::target_from_url) and
/// [`checkpoint_store_from_url`](crate::checkpoint_store_from_url) wait for the namenode before
/// they report it unreachable: 30 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default replay buffer is one block of a part file plus this: 64 MiB (192 MiB with HDFS's
/// default 128 MiB blocks).
///
/// The replay buffer holds the bytes the open parts of a target wrote since their last sync, all
/// together, to write them again after a write pipeline broke. A part lets go of its bytes when
/// it syncs, and also when the block that holds them is finished (every datanode acknowledged it
/// and finalized its replica, which a datanode restart keeps). Past the buffer, the part that
/// writes syncs (hsync) on its own, which waits for the datanodes' disks. With one block's worth
/// and more, a part that fills its blocks between two checkpoints never has to.
pub const REPLAY_BUFFER_BEYOND_BLOCK: u64 = 64 << 20;
/// The block size assumed for the default replay buffer while the namenode's is not known yet:
/// HDFS's default, 128 MiB.
pub const ASSUMED_BLOCK_SIZE: u64 = 128 << 20;
/// The first pause between two attempts of a failed namenode call: 200 ms, doubling up to
/// [`MAX_RETRY_DELAY`].
pub const INITIAL_RETRY_DELAY: Duration = Duration::from_millis(200);
/// The longest pause between two attempts: 5 s.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// hdfs-native settings that Spillway sets unless [`HdfsOptions::properties`] does: hdfs-native's
/// own retries of an unreachable namenode are kept short (4 attempts, 0.1 to 1 s apart) because
/// Spillway retries every call itself until [`HdfsOptions::retry_timeout`].
pub const CLIENT_DEFAULTS: &[(&str, &str)] = &[
    ("dfs.client.failover.max.attempts", "4"),
    ("dfs.client.failover.sleep.base.millis", "100"),
    ("dfs.client.failover.sleep.max.millis", "1000"),
];

/// How to reach HDFS and how to write there: the `[sink.hdfs]` and `[checkpoint.hdfs]` tables of a
/// job file. Every key is optional; unknown keys are an error, so a typo is not a silent default.
///
/// | key | default | |
/// | --- | --- | --- |
/// | `user` | `HADOOP_USER_NAME`, else the OS user | the HDFS user files are written as (simple authentication) |
/// | `config_dir` | `HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop` | where `core-site.xml` and `hdfs-site.xml` are read from |
/// | `properties` | none | Hadoop settings that override the files: HA nameservices (`dfs.nameservices`, `dfs.ha.namenodes.NS`, `dfs.namenode.rpc-address.NS.NN`), `dfs.client.*`, ... |
/// | `kerberos_principal` | none | with `hadoop.security.authentication = "kerberos"` |
/// | `kerberos_keytab` | none (the ticket cache) | |
/// | `block_size` | the namenode's (`dfs.blocksize`) | block size of part files, like `"128MiB"` |
/// | `replication` | the namenode's (`dfs.replication`) | replicas of part files |
/// | `retry_timeout` | `"5m"` ([`DEFAULT_RETRY_TIMEOUT`]) | how long an unreachable namenode, safe mode or a broken write pipeline is retried before the job fails |
/// | `connect_timeout` | `"30s"` ([`DEFAULT_CONNECT_TIMEOUT`]) | how long the first contact waits for the namenode |
/// | `replay_buffer` | the block size + 64 MiB ([`REPLAY_BUFFER_BEYOND_BLOCK`]): `"192MiB"` with 128 MiB blocks | unsynced bytes of all open parts of the target, kept to repair a broken write pipeline (a part lets go of them when it syncs or finishes a block); past it a part syncs early; `0` turns repairs off (a broken pipeline fails the job, which restarts from its checkpoint) |
///
/// ```
/// use connector_hdfs::HdfsOptions;
/// let o: HdfsOptions = toml::from_str(r#"
///     user = "etl"
///     block_size = "64MiB"
///     retry_timeout = "2m"
///     [properties]
///     "dfs.nameservices" = "lake"
///     "dfs.ha.namenodes.lake" = "nn1,nn2"
///     "dfs.namenode.rpc-address.lake.nn1" = "nn1.example.com:8020"
///     "dfs.namenode.rpc-address.lake.nn2" = "nn2.example.com:8020"
/// "#).unwrap();
/// assert_eq!(o.block_size, Some(64 << 20));
/// assert_eq!(o.retry_timeout(), std::time::Duration::from_secs(120));
/// assert_eq!(o.properties.len(), 4);
/// assert!(toml::from_str::<HdfsOptions>("usr = \"etl\"").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HdfsOptions {
    /// The HDFS user. Default: `HADOOP_USER_NAME`, else the OS user.
    pub user: Option<String>,
    /// The Hadoop configuration directory. Default: `HADOOP_CONF_DIR`, else
    /// `$HADOOP_HOME/etc/hadoop`.
    pub config_dir: Option<String>,
    /// Hadoop settings, overriding the configuration files.
    pub properties: BTreeMap<String, String>,
    /// Kerberos principal of the client.
    pub kerberos_principal: Option<String>,
    /// Kerberos keytab of the principal.
    pub kerberos_keytab: Option<String>,
    /// Block size of part files, in bytes. Default: the namenode's.
    #[serde(deserialize_with = "sink_core::units::bytes::deserialize")]
    pub block_size: Option<u64>,
    /// Replication of part files. Default: the namenode's.
    pub replication: Option<u32>,
    /// See [`DEFAULT_RETRY_TIMEOUT`].
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub retry_timeout: Option<Duration>,
    /// See [`DEFAULT_CONNECT_TIMEOUT`].
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub connect_timeout: Option<Duration>,
    /// See [`REPLAY_BUFFER_BEYOND_BLOCK`]. Default: the block size of part files and 64 MiB.
    #[serde(deserialize_with = "sink_core::units::bytes::deserialize")]
    pub replay_buffer: Option<u64>,
}

impl HdfsOptions {
    /// `retry_timeout` or its default.
    pub fn retry_timeout(&self) -> Duration {
        self.retry_timeout.unwrap_or(DEFAULT_RETRY_TIMEOUT)
    }

    /// `connect_timeout` or its default.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// Sets the user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets one Hadoop property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets the block size of part files.
    pub fn with_block_size(mut self, bytes: u64) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// Sets how long failures are retried.
    pub fn with_retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = Some(timeout);
        self
    }

    /// Sets how long the first contact waits for the namenode.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the replay buffer of open parts (`0`: no repairs of broken pipelines).
    pub fn with_replay_buffer(mut self, bytes: u64) -> Self {
        self.replay_buffer = Some(bytes);
        self
    }

    /// The properties handed to hdfs-native: [`CLIENT_DEFAULTS`] unless set, then `properties`.
    pub(crate) fn client_properties(&self) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = CLIENT_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.extend(self.properties.clone());
        map
    }

    /// Refuses values that cannot work, naming the key (`prefix` is the table, like `sink.hdfs`).
    pub fn validate(&self, prefix: &str) -> sink_core::Result<()> {
        if let Some(b) = self.block_size {
            // HDFS wants a multiple of the checksum chunk (512 bytes by default).
            if b < 1024 || b % 512 != 0 {
                return Err(sink_core::Error::config(
                    format!("{prefix}.block_size"),
                    format!("{b} bytes: must be a multiple of 512 bytes and at least 1 KiB"),
                ));
            }
        }
        if self.replication == Some(0) {
            return Err(sink_core::Error::config(
                format!("{prefix}.replication"),
                "must be at least 1",
            ));
        }
        if self.retry_timeout == Some(Duration::ZERO) {
            return Err(sink_core::Error::config(
                format!("{prefix}.retry_timeout"),
                "must be longer than 0",
            ));
        }
        if self.connect_timeout == Some(Duration::ZERO) {
            return Err(sink_core::Error::config(
                format!("{prefix}.connect_timeout"),
                "must be longer than 0",
            ));
        }
        if self.user.as_deref() == Some("") {
            return Err(sink_core::Error::config(
                format!("{prefix}.user"),
                "must not be empty",
            ));
        }
        Ok(())
    }
}

/// The replay buffer as set, or its default for part files of `block_size` bytes.
pub(crate) fn replay_buffer_for(set: Option<u64>, block_size: u64) -> u64 {
    set.unwrap_or(block_size + REPLAY_BUFFER_BEYOND_BLOCK)
}

/// Parses a size: bytes, or a string with a unit (`"128MiB"`, `"64MB"`, `"1.5 GiB"`), the grammar of
/// every size of a job file ([`sink_core::units::ByteSize`]).
pub fn parse_size(s: &str) -> Result<u64, String> {
    sink_core::units::ByteSize::parse(s).map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let o = HdfsOptions::default();
        assert_eq!(o.retry_timeout(), DEFAULT_RETRY_TIMEOUT);
        assert_eq!(o.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(replay_buffer_for(o.replay_buffer, 128 << 20), 192 << 20);
        assert_eq!(
            replay_buffer_for(o.replay_buffer, 1 << 20),
            (1 << 20) + REPLAY_BUFFER_BEYOND_BLOCK
        );
        let off = o.clone().with_replay_buffer(0);
        assert_eq!(replay_buffer_for(off.replay_buffer, 128 << 20), 0);
        let p = o.client_properties();
        assert_eq!(p["dfs.client.failover.max.attempts"], "4");
        let o = HdfsOptions::default().with_property("dfs.client.failover.max.attempts", "9");
        assert_eq!(
            o.client_properties()["dfs.client.failover.max.attempts"],
            "9"
        );
    }

    #[test]
    fn parses_sizes_durations_and_refuses_mistakes() {
        type Want<'a> = Result<(Option<u64>, Option<Duration>), &'a str>;
        let table: &[(&str, Want)] = &[
            ("block_size = \"1MiB\"", Ok((Some(1 << 20), None))),
            ("block_size = 4096", Ok((Some(4096), None))),
            (
                "retry_timeout = \"90s\"",
                Ok((None, Some(Duration::from_secs(90)))),
            ),
            ("retry_timeout = 90", Err("no unit")),
            ("block_size = \"12 parsecs\"", Err("unknown unit")),
            ("blocksize = 1", Err("unknown field")),
        ];
        for (doc, want) in table {
            let got = toml::from_str::<HdfsOptions>(doc);
            match (got, want) {
                (Ok(o), Ok((b, r))) => {
                    assert_eq!(o.block_size, *b, "{doc}");
                    assert_eq!(o.retry_timeout, *r, "{doc}");
                }
                (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{doc}: {e}"),
                (got, want) => panic!("{doc}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn validate_names_the_key() {
        let bad = [
            (
                HdfsOptions::default().with_block_size(1000),
                "sink.hdfs.block_size",
            ),
            (
                HdfsOptions {
                    replication: Some(0),
                    ..Default::default()
                },
                "sink.hdfs.replication",
            ),
            (
                HdfsOptions::default().with_retry_timeout(Duration::ZERO),
                "sink.hdfs.retry_timeout",
            ),
            (HdfsOptions::default().with_user(""), "sink.hdfs.user"),
        ];
        for (o, key) in bad {
            let e = o.validate("sink.hdfs").unwrap_err();
            assert!(e.to_string().starts_with(key), "{e}");
        }
        assert!(HdfsOptions::default()
            .with_block_size(1 << 20)
            .validate("sink.hdfs")
            .is_ok());
    }
}
