//! The deployment examples in `examples/deploy/` are checked, not just written: the manifests parse
//! and fit together, the pod ordinal becomes the worker index, the job file in the ConfigMap is a
//! valid job, and every metric the Grafana dashboard queries is one Spillway exports.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy")
}

/// The YAML documents of the manifests, parsed by PyYAML and handed over as JSON.
fn manifests(python: &str) -> Vec<serde_json::Value> {
    let files: Vec<PathBuf> = ["configmap.yaml", "statefulset.yaml", "service.yaml"]
        .iter()
        .map(|f| deploy_dir().join(f))
        .collect();
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml\nprint(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f))]))",
        ])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kubernetes_manifests_fit_together() {
    let Some(python) = sink_core::test_support::service("SPILLWAY_PYTHON", "Python with PyYAML")
    else {
        return;
    };
    let docs = manifests(&python);
    let of = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let (cm, sts, svc) = (of("ConfigMap"), of("StatefulSet"), of("Service"));

    let replicas = sts["spec"]["replicas"].as_u64().unwrap();
    assert_eq!(sts["spec"]["serviceName"], svc["metadata"]["name"]);
    assert_eq!(
        svc["spec"]["clusterIP"], "None",
        "a headless service for a StatefulSet"
    );
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let script = c["args"][0].as_str().unwrap();
    assert!(
        script.contains(&format!("--workers {replicas}")),
        "{script}"
    );
    assert!(script.contains("--http 0.0.0.0:9249"), "{script}");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 9249);
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        cm["metadata"]["name"]
    );
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert!(script.contains(&format!("{mount}/job.toml")), "{script}");
    let labels = &sts["spec"]["selector"]["matchLabels"];
    assert_eq!(&sts["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(&svc["spec"]["selector"], labels);

    // The pod name's ordinal becomes --worker: run the container's shell line with `spillway`
    // replaced by echo, as pod 2 would.
    let echo = script.replace("exec spillway", "echo");
    for ordinal in 0..replicas {
        let out = Command::new("/bin/sh")
            .args(["-c", &echo])
            .env(
                "HOSTNAME",
                format!("{}-{ordinal}", sts["metadata"]["name"].as_str().unwrap()),
            )
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(
            line.contains(&format!("--worker {ordinal} --workers {replicas}")),
            "{line}"
        );
    }

    // The job file is a valid job (checked without touching Kafka or S3).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        cm["data"]["job.toml"].as_str().unwrap(),
    )
    .unwrap();
    let out = run(&["validate", "job.toml"], dir.path());
    assert!(
        out.status.success(),
        "the ConfigMap's job file does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Metric names in the dashboard's queries (`spillway_…`, without histogram suffixes).
fn dashboard_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(deploy_dir().join("grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut names = BTreeSet::new();
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("job_name=\"$job_name\""), "{expr}");
            let mut rest = expr;
            while let Some(i) = rest.find("spillway_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_count"))
                    .or_else(|| name.strip_suffix("_sum"))
                    .unwrap_or(name);
                names.insert(base.to_string());
                rest = &tail[end..];
            }
        }
    }
    names
}

#[test]
fn every_dashboard_metric_is_exported() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 15, "{wanted:?}");
    // A real run, scraped at its end. The Kafka lag metric needs a Kafka source; with the
    // generator it is checked by name against the runtime's list of built-in metrics.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "[job]\nname = \"dash\"\non_bad_record = \"skip\"\n[source]\ntype = \"generator\"\ncount = 20000\nstep = \"1s\"\n\
         [sink]\npath = \"lake\"\nformat = \"json\"\n[sink.bucketing]\ntype = \"datetime\"\ntime = \"event\"\n\
         [checkpoint]\ndir = \"ckpt\"\ninterval = \"100ms\"\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = start(
        &dir.path().join("job.toml"),
        dir.path(),
        &[
            "--http",
            &format!("127.0.0.1:{port}"),
            "--http-linger",
            "60s",
        ],
    );
    let text = loop {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(
                s,
                "GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut b = String::new();
            let _ = s.read_to_string(&mut b);
            if b.contains("\"state\":\"finished\"") {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let _ = write!(
                    s,
                    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                );
                let mut m = String::new();
                s.read_to_string(&mut m).unwrap();
                break m;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    signal(&child, libc::SIGTERM);
    wait_for(child, std::time::Duration::from_secs(20));
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    let source_lag = format!(
        "{}{}",
        sink_core::runtime::metrics::PREFIX,
        sink_core::runtime::metrics::names::SOURCE_LAG
    );
    for name in &wanted {
        if *name == source_lag {
            continue; // exported by sources that know their lag (Kafka); see kafka tests
        }
        assert!(
            exported.contains(name),
            "the dashboard queries {name}, which is not exported; exported: {exported:?}"
        );
    }
    assert!(
        wanted.contains(&source_lag),
        "the dashboard shows consumer lag"
    );
}
