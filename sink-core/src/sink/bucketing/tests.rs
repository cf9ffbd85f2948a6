use super::*;

/// Every default against Flink 1.9's constant in `BucketingSink.java` (and `DateTimeBucketer`).
#[test]
fn defaults_are_flink_1_9s() {
    let b = BucketingSink::<String>::new("/tmp/x");
    let p = b.rolling_policy();
    let n = b.legacy_naming();
    let ms = |d: Duration| d.as_millis() as i64;
    // (name in Flink, Flink's value, ours)
    let table: &[(&str, String, String)] = &[
        (
            "DEFAULT_BATCH_SIZE = 1024L * 1024L * 384L",
            (1024i64 * 1024 * 384).to_string(),
            p.batch_size.to_string(),
        ),
        (
            "DEFAULT_INACTIVE_BUCKET_CHECK_INTERVAL_MS = 60 * 1000L",
            (60 * 1000i64).to_string(),
            ms(b.check_interval()).to_string(),
        ),
        (
            "DEFAULT_INACTIVE_BUCKET_THRESHOLD_MS = 60 * 1000L",
            (60 * 1000i64).to_string(),
            ms(p.inactive_bucket_threshold).to_string(),
        ),
        (
            "DEFAULT_BATCH_ROLLOVER_INTERVAL = Long.MAX_VALUE",
            "never".into(),
            p.batch_rollover_interval
                .map_or("never".into(), |d| ms(d).to_string()),
        ),
        (
            "DEFAULT_IN_PROGRESS_SUFFIX",
            ".in-progress".into(),
            n.in_progress_suffix.clone(),
        ),
        (
            "DEFAULT_IN_PROGRESS_PREFIX",
            "_".into(),
            n.in_progress_prefix.clone(),
        ),
        (
            "DEFAULT_PENDING_SUFFIX",
            ".pending".into(),
            n.pending_suffix.clone(),
        ),
        (
            "DEFAULT_PENDING_PREFIX",
            "_".into(),
            n.pending_prefix.clone(),
        ),
        (
            "DEFAULT_VALID_SUFFIX",
            ".valid-length".into(),
            b.valid_length_names().1.into(),
        ),
        (
            "DEFAULT_VALID_PREFIX",
            "_".into(),
            b.valid_length_names().0.into(),
        ),
        (
            "DEFAULT_PART_PREFIX",
            "part".into(),
            b.part_names().0.into(),
        ),
        (
            "DEFAULT_PART_SUFFIX = null",
            "null".into(),
            b.part_names().1.unwrap_or("null").into(),
        ),
        (
            "DEFAULT_ASYNC_TIMEOUT_MS = 60 * 1000",
            (60 * 1000i64).to_string(),
            ms(b.async_timeout_value()).to_string(),
        ),
        (
            "DateTimeBucketer DEFAULT_FORMAT_STRING",
            "yyyy-MM-dd--HH".into(),
            DEFAULT_DATE_TIME_FORMAT.into(),
        ),
    ];
    for (name, flink, ours) in table {
        assert_eq!(ours, flink, "{name}");
    }
    // The job-file form has the same defaults.
    let c: BucketingSinkConfig =
        serde_json::from_value(serde_json::json!({"path": "/tmp/x"})).unwrap();
    assert_eq!(c, BucketingSinkConfig::new("/tmp/x"));
    let from_config = c.apply(BucketingSink::<String>::new("/tmp/x")).unwrap();
    assert_eq!(from_config.rolling_policy(), p);
    assert_eq!(from_config.legacy_naming(), n);
    assert_eq!(from_config.part_names(), b.part_names());
    assert_eq!(from_config.check_interval(), b.check_interval());
    assert_eq!(from_config.valid_length_names(), b.valid_length_names());
    assert_eq!(from_config.async_timeout_value(), b.async_timeout_value());
}

#[test]
fn rolling_rules_are_the_bucketing_sinks() {
    let p = BucketingRollingPolicy {
        batch_size: 100,
        batch_rollover_interval: Some(Duration::from_secs(10)),
        inactive_bucket_threshold: Duration::from_secs(5),
    };
    let part = |size, creation_time, last_update_time| PartFileInfo {
        bucket_id: "b",
        creation_time,
        last_update_time,
        size,
        records: 1,
    };
    let ev = |i: &PartFileInfo<'_>| RollingPolicy::<()>::should_roll_on_event(&p, i, &());
    let tick =
        |i: &PartFileInfo<'_>, now| RollingPolicy::<()>::should_roll_on_processing_time(&p, i, now);
    assert!(
        !ev(&part(100, 0, 0)),
        "writePosition > batchSize: 100 is not above 100"
    );
    assert!(ev(&part(101, 0, 0)));
    assert!(
        !tick(&part(1, 0, 5_000), 10_000),
        "creationTime < now - interval: equal is not older"
    );
    assert!(tick(&part(1, 0, 9_000), 10_001));
    assert!(
        !tick(&part(1, 9_000, 5_000), 10_000),
        "lastWrittenToTime < now - threshold: equal is not inactive"
    );
    assert!(tick(&part(1, 9_000, 4_999), 10_000));
    assert!(!RollingPolicy::<()>::should_roll_on_checkpoint(
        &p,
        &part(1 << 40, 0, 0)
    ));
    let never = BucketingRollingPolicy::default();
    assert!(!RollingPolicy::<()>::should_roll_on_processing_time(
        &never,
        &part(1, 0, i64::MAX / 2),
        i64::MAX / 2
    ));
}

#[test]
fn config_keys_and_mistakes() {
    let c: BucketingSinkConfig = serde_json::from_value(serde_json::json!({
        "api": "bucketing",
        "path": "file:///tmp/lake",
        "bucketer": "base-path",
        "writer": "sequence-file",
        "sequence_file": {"compression": "block"},
        "batch_size": "64MiB",
        "batch_rollover_interval": 1_200_000,
        "inactive_bucket_check_interval": "1s",
        "inactive_bucket_threshold": "5m",
        "part_prefix": "events",
        "part_suffix": ".seq",
        "in_progress_prefix": ".",
        "in_progress_suffix": ".writing",
        "pending_prefix": "_",
        "pending_suffix": ".ready",
        "valid_length_prefix": "_",
        "valid_length_suffix": ".len",
        "async_timeout": 30000,
    }))
    .unwrap();
    assert_eq!(c.batch_size.0, 64 << 20);
    assert_eq!(c.batch_rollover_interval.0, Some(Duration::from_secs(1200)));
    let b = c.apply(BucketingSink::<String>::new("/tmp/lake")).unwrap();
    assert_eq!(b.part_names(), ("events", Some(".seq")));
    assert_eq!(b.legacy_naming().pending_suffix, ".ready");
    assert_eq!(
        b.rolling_policy().inactive_bucket_threshold,
        Duration::from_secs(300)
    );
    let never: BucketingSinkConfig = serde_json::from_value(serde_json::json!({
        "path": "x", "batch_rollover_interval": i64::MAX
    }))
    .unwrap();
    assert_eq!(never.batch_rollover_interval.0, None);

    for (json, want) in [
        (
            serde_json::json!({"path": "x", "batch_sise": 1}),
            "unknown field",
        ),
        (
            serde_json::json!({"path": "x", "bucketer": "daily"}),
            "unknown variant",
        ),
        (
            serde_json::json!({"path": "x", "batch_size": "12 parsecs"}),
            "unknown unit",
        ),
        (
            serde_json::json!({"path": "x", "inactive_bucket_threshold": "soon"}),
            "duration",
        ),
        (
            serde_json::json!({"api": "streaming", "path": "x"}),
            "unknown variant",
        ),
    ] {
        let err = serde_json::from_value::<BucketingSinkConfig>(json.clone()).unwrap_err();
        assert!(err.to_string().contains(want), "{json}: {err}");
    }
    for (json, want) in [
        (
            serde_json::json!({"path": "x", "sequence_file": {}}),
            "sink.sequence_file",
        ),
        (
            serde_json::json!({"path": "x", "date_time_format": "%Q"}),
            "sink.date_time_format",
        ),
        (
            serde_json::json!({"path": "x", "timezone": "Mars/Base"}),
            "sink.timezone",
        ),
        (
            serde_json::json!({"path": "x", "inactive_bucket_check_interval": "never"}),
            "sink.inactive_bucket_check_interval",
        ),
    ] {
        let c: BucketingSinkConfig = serde_json::from_value(json.clone()).unwrap();
        let err = c
            .apply(BucketingSink::<String>::new("/tmp/x"))
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains(want), "{json}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let err = BucketingSink::<String>::new(dir.path())
        .writer(StringWriter::new())
        .pending_suffix(".in-progress")
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("pending names must differ"),
        "{err}"
    );
    let err = BucketingSink::<String>::new(dir.path())
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("no writer set"), "{err}");
}
