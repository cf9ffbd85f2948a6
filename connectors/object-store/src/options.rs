//! [`ObjectStoreOptions`]: the `[sink.object_store]` / `[checkpoint.object_store]` table, and building stores
//! from URLs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::ObjectStore;
use serde::Deserialize;
use sink_core::{Error, Result};

use crate::memory::MemoryStore;

/// A secret string (a key, a token): deserialised like a string, never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, to hand to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How to reach an object store and how to write to it: the `[sink.object_store]` and
/// `[checkpoint.object_store]` tables of a job file. Every key is optional; the crate documentation
/// lists them all. Unknown keys are an error, so a typo is not a silent default. Sizes and
/// durations take the grammar of every job file (`sink_core::units`): `"8MiB"`, `"1.5 GB"`,
/// `"30s"`.
///
/// ```
/// use connector_object_store::ObjectStoreOptions;
/// let o: ObjectStoreOptions = toml::from_str(r#"
///     endpoint = "http://127.0.0.1:5000"
///     region = "us-east-1"
///     path_style = true
///     allow_http = true
///     access_key_id = "test"
///     secret_access_key = "hush"
///     part_size = "16MiB"
///     request_timeout = "20s"
/// "#).unwrap();
/// assert_eq!(o.part_size, Some(16 << 20));
/// assert!(!format!("{o:?}").contains("hush"));
/// assert!(toml::from_str::<ObjectStoreOptions>("endpont = \"x\"").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectStoreOptions {
    /// Endpoint URL of an S3-compatible store (MinIO, R2, Ceph, moto), or of an emulator.
    pub endpoint: Option<String>,
    /// Region (S3). Default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// `true`: path-style requests (`https://host/bucket/key`), needed by most S3-compatible
    /// servers; `false`: virtual-hosted style (`https://bucket.host/key`). Default: virtual-hosted
    /// on AWS, path-style when `endpoint` is set and this is not.
    pub path_style: Option<bool>,
    /// Allow plain `http://` endpoints. Default false.
    pub allow_http: Option<bool>,
    /// Access key id (S3). Default: `AWS_ACCESS_KEY_ID`, then the usual chain (web identity,
    /// container and instance credentials).
    pub access_key_id: Option<String>,
    /// Secret access key (S3). Never logged.
    pub secret_access_key: Option<Secret>,
    /// Session token (S3) for temporary credentials. Never logged.
    pub session_token: Option<Secret>,
    /// Read the provider's environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`) first; explicit
    /// keys win. Default true.
    pub from_env: Option<bool>,
    /// Size of every part but the last, in bytes or with a unit (`"8MiB"`). Default 8 MiB; at least
    /// 5 MiB.
    #[serde(deserialize_with = "sink_core::units::bytes::deserialize")]
    pub part_size: Option<usize>,
    /// Part uploads a part file runs in the background while the next part fills. Default 2.
    pub upload_concurrency: Option<usize>,
    /// Timeout of one HTTP request (`"30s"`). Default 30 s.
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub request_timeout: Option<Duration>,
    /// Timeout of establishing a connection. Default 5 s.
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub connect_timeout: Option<Duration>,
    /// Retries of a failed request by the client (transient HTTP errors, throttling). Default 10.
    pub max_retries: Option<usize>,
    /// Time after which the client stops retrying a request. Default 3 minutes.
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub retry_timeout: Option<Duration>,
    /// Bound on one storage call, the client's retries included; past it the call fails with a
    /// retryable error. Default 5 minutes.
    #[serde(deserialize_with = "sink_core::units::duration::deserialize")]
    pub operation_timeout: Option<Duration>,
    /// Any other `object_store` configuration key and its value, as the provider's builder
    /// understands them (`aws_sse_kms_key_id`, `google_service_account`, `azure_storage_account_key`,
    /// `aws_checksum_algorithm`, ...). Values are never logged.
    pub config: BTreeMap<String, Secret>,
}

impl fmt::Debug for ObjectStoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreOptions")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("from_env", &self.from_env)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("config", &self.config)
            .finish()
    }
}

/// A store that does both plain objects and multipart uploads, with where it was found.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) multipart: MultipartHandle,
    /// The prefix inside the store (the URL's path).
    pub(crate) prefix: Path,
    /// The URL without a trailing `/`, for messages.
    pub(crate) url: String,
}

/// The multipart side of a located store (a newtype only to give it a `Debug`).
#[derive(Clone)]
pub(crate) struct MultipartHandle(pub(crate) Arc<dyn MultipartStore>);

impl fmt::Debug for MultipartHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MultipartStore")
    }
}

fn shared<S: ObjectStore + MultipartStore>(s: S) -> (Arc<dyn ObjectStore>, MultipartHandle) {
    let s = Arc::new(s);
    (s.clone(), MultipartHandle(s))
}

#[allow(dead_code)] // used when a cloud feature is off
fn feature_missing(scheme: &str, feature: &str) -> Error {
    Error::config(
        "url",
        format!("{scheme}:// needs the `{feature}` feature of connector-object-store (spillway built without it)"),
    )
}

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn build_err(url: &str, e: object_store::Error) -> Error {
    Error::config("url", format!("{url}: {e}"))
}

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn client_pairs(o: &ObjectStoreOptions) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Some(t) = o.request_timeout {
        pairs.push(("timeout".into(), humantime::format_duration(t).to_string()));
    }
    if let Some(t) = o.connect_timeout {
        pairs.push((
            "connect_timeout".into(),
            humantime::format_duration(t).to_string(),
        ));
    }
    if let Some(a) = o.allow_http {
        pairs.push(("allow_http".into(), a.to_string()));
    }
    pairs
}

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn retry_config(o: &ObjectStoreOptions) -> object_store::RetryConfig {
    let mut r = object_store::RetryConfig::default();
    if let Some(n) = o.max_retries {
        r.max_retries = n;
    }
    if let Some(t) = o.retry_timeout {
        r.retry_timeout = t;
    }
    r
}

/// Applies `key = value` pairs to a builder through the provider's typed keys.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn apply<B, K: std::str::FromStr<Err = object_store::Error>>(
    mut builder: B,
    pairs: impl IntoIterator<Item = (String, String)>,
    set: impl Fn(B, K, String) -> B,
) -> Result<B> {
    for (k, v) in pairs {
        let key: K = k.parse().map_err(|e: object_store::Error| {
            Error::config(format!("config.{k}"), e.to_string())
        })?;
        builder = set(builder, key, v);
    }
    Ok(builder)
}

/// Resolves a URL to a store. `memory://name/prefix` is a store shared by every URL with the same
/// name in this process.
pub(crate) fn locate(url: &str, o: &ObjectStoreOptions) -> Result<Located> {
    let parsed = url::Url::parse(url).map_err(|e| Error::config("url", format!("{url:?}: {e}")))?;
    let prefix = Path::from_url_path(parsed.path())
        .map_err(|e| Error::config("url", format!("{url}: bad path: {e}")))?;
    let host = parsed.host_str().unwrap_or("").to_string();
    let scheme = parsed.scheme().to_ascii_lowercase();
    #[allow(unused_variables)]
    let extra = o
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()));
    #[allow(unused_variables)]
    let from_env = o.from_env.unwrap_or(true);
    let (objects, multipart) = match scheme.as_str() {
        "memory" => shared(MemoryStore::named(&host)),
        #[cfg(feature = "aws")]
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut b = if from_env {
                AmazonS3Builder::from_env()
            } else {
                AmazonS3Builder::new()
            };
            b = b.with_url(url).with_retry(retry_config(o));
            if let Some(e) = &o.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &o.region {
                b = b.with_region(r);
            }
            let path_style = o.path_style.or(o.endpoint.as_ref().map(|_| true));
            if let Some(p) = path_style {
                b = b.with_virtual_hosted_style_request(!p);
            }
            if let Some(a) = o.allow_http {
                b = b.with_allow_http(a);
            }
            if let Some(k) = &o.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(s) = &o.secret_access_key {
                b = b.with_secret_access_key(s.expose());
            }
            if let Some(t) = &o.session_token {
                b = b.with_token(t.expose());
            }
            let b = apply(
                b,
                client_pairs(o).into_iter().chain(extra),
                |b, k: AmazonS3ConfigKey, v| b.with_config(k, v),
            )?;
            shared(b.build().map_err(|e| build_err(url, e))?)
        }
        #[cfg(feature = "gcp")]
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let b = if from_env {
                GoogleCloudStorageBuilder::from_env()
            } else {
                GoogleCloudStorageBuilder::new()
            };
            let b = b.with_url(url).with_retry(retry_config(o));
            let b = apply(
                b,
                client_pairs(o).into_iter().chain(extra),
                |b, k: GoogleConfigKey, v| b.with_config(k, v),
            )?;
            shared(b.build().map_err(|e| build_err(url, e))?)
        }
        #[cfg(feature = "azure")]
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let b = if from_env {
                MicrosoftAzureBuilder::from_env()
            } else {
                MicrosoftAzureBuilder::new()
            };
            let mut b = b.with_url(url).with_retry(retry_config(o));
            if let Some(a) = o.allow_http {
                b = b.with_allow_http(a);
            }
            let b = apply(
                b,
                client_pairs(o).into_iter().chain(extra),
                |b, k: AzureConfigKey, v| b.with_config(k, v),
            )?;
            shared(b.build().map_err(|e| build_err(url, e))?)
        }
        #[cfg(not(feature = "aws"))]
        "s3" | "s3a" => return Err(feature_missing(&scheme, "aws")),
        #[cfg(not(feature = "gcp"))]
        "gs" => return Err(feature_missing(&scheme, "gcp")),
        #[cfg(not(feature = "azure"))]
        "az" | "azure" | "abfs" | "abfss" | "adl" => return Err(feature_missing(&scheme, "azure")),
        other => {
            return Err(Error::config(
                "url",
                format!("{url}: unknown scheme {other:?} (s3://, gs://, az://, memory://)"),
            ))
        }
    };
    // For every scheme the prefix is the URL's path (the host is the bucket, container or name).
    Ok(Located {
        objects,
        multipart,
        prefix,
        url: url.trim_end_matches('/').to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in [
            ("\"8388608\"", Some(8 << 20)),
            ("8388608", Some(8 << 20)),
            ("\"8MiB\"", Some(8 << 20)),
            ("\"8 MiB\"", Some(8 << 20)),
            ("\"8m\"", Some(8 << 20)),
            ("\"5MB\"", Some(5_000_000)),
            ("\"1GiB\"", Some(1 << 30)),
            ("\"5.5MiB\"", Some(5_767_168)),
            ("\"x\"", None),
            ("\"8 parsecs\"", None),
        ] {
            let got = toml::from_str::<ObjectStoreOptions>(&format!("part_size = {s}"));
            assert_eq!(got.ok().and_then(|o| o.part_size), want, "{s}");
        }
    }

    #[test]
    fn toml_table_and_secrets() {
        let o: ObjectStoreOptions = toml::from_str(
            r#"
            part_size = 6291456
            max_retries = 3
            retry_timeout = "1m"
            [config]
            aws_sse_kms_key_id = "very-secret"
        "#,
        )
        .unwrap();
        assert_eq!(o.part_size, Some(6 << 20));
        assert_eq!(o.retry_timeout, Some(Duration::from_secs(60)));
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("aws_sse_kms_key_id"), "{dbg}");
        let err = toml::from_str::<ObjectStoreOptions>("request_timeout = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }

    #[test]
    fn urls() {
        let o = ObjectStoreOptions::default();
        let l = locate("memory://u1/a/b/", &o).unwrap();
        assert_eq!(l.prefix.as_ref(), "a/b");
        assert_eq!(l.url, "memory://u1/a/b");
        assert!(locate("ftp://x/y", &o)
            .unwrap_err()
            .to_string()
            .contains("unknown scheme"));
        assert!(locate("not a url", &o).is_err());
        #[cfg(not(feature = "gcp"))]
        assert!(locate("gs://b/p", &o)
            .unwrap_err()
            .to_string()
            .contains("`gcp` feature"));
    }

    #[cfg(feature = "aws")]
    #[test]
    fn s3_urls_and_bad_keys() {
        let o = ObjectStoreOptions {
            endpoint: Some("http://127.0.0.1:1".into()),
            allow_http: Some(true),
            access_key_id: Some("a".into()),
            secret_access_key: Some(Secret::new("b")),
            region: Some("us-east-1".into()),
            from_env: Some(false),
            ..Default::default()
        };
        let l = locate("s3://bucket/some/prefix", &o).unwrap();
        assert_eq!(l.prefix.as_ref(), "some/prefix");
        let mut bad = o.clone();
        bad.config
            .insert("aws_no_such_key".into(), Secret::new("1"));
        let err = locate("s3://bucket/p", &bad).unwrap_err();
        assert!(err.to_string().contains("config.aws_no_such_key"), "{err}");
    }
}
