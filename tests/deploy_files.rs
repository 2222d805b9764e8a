//! deploy/: every YAML and JSON file parses, and every metric the Grafana dashboard and the
//! Prometheus alert rules name is exported by the binary (read from the roles' metric
//! registries, not from a hand-written list), with the labels it is selected by.

use crate::support;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use prometheus::proto::MetricType;

/// Metrics of roles that are not built yet. Each entry says which role will export it; remove
/// it when the role lands (the test then checks it against the role's registry).
const NOT_YET_EXPORTED: &[(&str, &[&str], &str)] = &[];

/// Series Prometheus itself provides.
const PROMETHEUS_BUILTINS: &[&str] = &["up"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Metric name → label names, from the registries every built role creates.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let registry = canhgac_core::telemetry::new_registry();
    let sensor = canhgac_ingest::sensor::SensorMetrics::new(&registry).unwrap();
    let detect = canhgac_detect::worker::DetectMetrics::new(&registry).unwrap();
    let index = canhgac_index::IndexMetrics::new(&registry).unwrap();
    let notify = canhgac_notify::NotifyMetrics::new(&registry).unwrap();
    // Labelled families are only gathered once they have a child.
    sensor.records_rejected.with_label_values(&["x"]);
    detect.detections.with_label_values(&["x", "y"]);
    detect.dlq.with_label_values(&["x"]);
    detect.reloads.with_label_values(&["x"]);
    index.detections.with_label_values(&["x"]);
    index.rejected.with_label_values(&["x"]);
    for v in [
        &notify.detections,
        &notify.decided,
        &notify.delivered,
        &notify.retried,
        &notify.dead_lettered,
        &notify.throttled,
    ] {
        v.with_label_values(&["x"]);
    }
    let mut out = BTreeMap::new();
    for f in registry.gather() {
        let labels: BTreeSet<String> = f
            .get_metric()
            .iter()
            .flat_map(|m| m.get_label().iter().map(|l| l.name().to_string()))
            .collect();
        let name = f.name().to_string();
        if f.get_field_type() == MetricType::HISTOGRAM {
            for suffix in ["_bucket", "_sum", "_count"] {
                let mut l = labels.clone();
                if suffix == "_bucket" {
                    l.insert("le".into());
                }
                out.insert(format!("{name}{suffix}"), l);
            }
        }
        out.insert(name, labels);
    }
    for (name, labels, _why) in NOT_YET_EXPORTED {
        assert!(
            !out.contains_key(*name),
            "{name} is exported now: remove it from NOT_YET_EXPORTED"
        );
        out.insert(
            name.to_string(),
            labels.iter().map(|l| l.to_string()).collect(),
        );
    }
    out
}

/// (metric, label keys in its selector) for every metric a PromQL expression names.
fn metrics_in(expr: &str) -> Vec<(String, Vec<String>)> {
    let re = regex::Regex::new(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?").unwrap();
    let keys = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)"#).unwrap();
    re.captures_iter(expr)
        .filter(|c| {
            let n = &c[1];
            n.starts_with("canhgac_") || PROMETHEUS_BUILTINS.contains(&n)
        })
        .map(|c| {
            let sel = c.get(2).map_or("", |m| m.as_str());
            (
                c[1].to_string(),
                keys.captures_iter(sel).map(|k| k[1].to_string()).collect(),
            )
        })
        .collect()
}

fn check(exprs: &[(String, String)], exported: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (origin, expr) in exprs {
        let found = metrics_in(expr);
        if found.is_empty() {
            problems.push(format!("{origin}: names no canhgac metric: {expr}"));
        }
        for (name, keys) in found {
            if PROMETHEUS_BUILTINS.contains(&name.as_str()) {
                continue;
            }
            match exported.get(&name) {
                None => problems.push(format!("{origin}: {name} is not exported")),
                Some(labels) => {
                    for k in keys {
                        if !labels.contains(&k) {
                            problems.push(format!("{origin}: {name} has no label {k}"));
                        }
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_file_parses() {
    let mut all = Vec::new();
    support::files(&deploy_dir(), &mut all);
    let (mut yaml, mut json) = (0, 0);
    for p in &all {
        let text = std::fs::read_to_string(p).unwrap();
        match p.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                let docs = yaml_rust2::YamlLoader::load_from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(
                    docs.iter().all(|d| d.as_hash().is_some()),
                    "{}: every document is a mapping",
                    p.display()
                );
                yaml += 1;
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                json += 1;
            }
            _ => {}
        }
    }
    assert!(yaml >= 12, "{yaml} YAML files");
    assert_eq!(json, 1);
}

#[test]
fn dashboard_and_alerts_use_exported_metrics() {
    let exported = exported();
    let dir = deploy_dir();
    let mut exprs = Vec::new();
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grafana/canhgac.json")).unwrap())
            .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push((
                format!("dashboard panel {:?}", p["title"].as_str().unwrap()),
                t["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    let n_dash = exprs.len();
    let alerts = yaml_rust2::YamlLoader::load_from_str(
        &std::fs::read_to_string(dir.join("prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let mut names = BTreeSet::new();
    for g in alerts[0]["groups"].as_vec().unwrap() {
        for r in g["rules"].as_vec().unwrap() {
            let name = r["alert"].as_str().unwrap().to_string();
            exprs.push((
                format!("alert {name}"),
                r["expr"].as_str().unwrap().to_string(),
            ));
            names.insert(name);
        }
    }
    assert!(n_dash >= 15, "{n_dash} dashboard queries");
    // The alerts the issue asks for.
    for a in [
        "CanhgacConsumerLagHigh",
        "CanhgacSensorDlqGrowth",
        "CanhgacIndexCommitsFailing",
        "CanhgacAlertDeadLetters",
    ] {
        assert!(names.contains(a), "missing alert {a}");
    }
    let problems = check(&exprs, &exported);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_catches_unknown_metrics_and_labels() {
    let exported = exported();
    let bad = vec![
        (
            "a".to_string(),
            "rate(canhgac_detect_made_up_total[5m])".to_string(),
        ),
        (
            "b".to_string(),
            r#"canhgac_detect_reloads_total{nolabel="x"}"#.to_string(),
        ),
        ("c".to_string(), "vector(1)".to_string()),
    ];
    assert_eq!(check(&bad, &exported).len(), 3);
    let good = vec![(
        "d".to_string(),
        r#"histogram_quantile(0.9, sum by (le) (rate(canhgac_detect_eval_seconds_bucket{le!=""}[5m])))"#
            .to_string(),
    )];
    assert!(check(&good, &exported).is_empty());
}

#[test]
fn compose_and_kubernetes_run_every_role() {
    let dir = deploy_dir();
    let compose = yaml_rust2::YamlLoader::load_from_str(
        &std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap(),
    )
    .unwrap();
    let services = compose[0]["services"].as_hash().unwrap();
    for role in [
        "kafka",
        "sensor",
        "detect",
        "index",
        "serve",
        "notify",
        "prometheus",
        "grafana",
    ] {
        assert!(
            services.contains_key(&yaml_rust2::Yaml::String(role.into())),
            "compose lacks {role}"
        );
    }
    let kafka = &compose[0]["services"]["kafka"]["environment"];
    assert_eq!(
        kafka["KAFKA_PROCESS_ROLES"].as_str(),
        Some("broker,controller"),
        "KRaft mode"
    );
    let mut kinds = BTreeSet::new();
    let mut k8s = Vec::new();
    support::files(&dir.join("k8s"), &mut k8s);
    for p in k8s {
        for d in
            yaml_rust2::YamlLoader::load_from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
        {
            kinds.insert(format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            ));
        }
    }
    for k in [
        "Deployment/detect",
        "ScaledObject/detect",
        "StatefulSet/index",
        "Service/serve",
        "StatefulSet/notify",
    ] {
        assert!(kinds.contains(k), "k8s lacks {k}: {kinds:?}");
    }
}

/// Every canhgac command line in compose (`command`) and Kubernetes (`args`): the argument
/// lists of the roles.
fn role_command_lines() -> Vec<(String, Vec<String>)> {
    const ROLES: [&str; 7] = [
        "sensor", "detect", "index", "serve", "notify", "simulate", "run",
    ];
    fn strings(y: &yaml_rust2::Yaml) -> Option<Vec<String>> {
        let v: Vec<String> = y
            .as_vec()?
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        ROLES.contains(&v.first()?.as_str()).then_some(v)
    }
    let dir = deploy_dir();
    let mut out = Vec::new();
    let compose = yaml_rust2::YamlLoader::load_from_str(
        &std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap(),
    )
    .unwrap();
    for (name, svc) in compose[0]["services"].as_hash().unwrap() {
        if let Some(v) = strings(&svc["command"]) {
            out.push((format!("compose {}", name.as_str().unwrap()), v));
        }
    }
    let mut k8s = Vec::new();
    support::files(&dir.join("k8s"), &mut k8s);
    for p in k8s {
        for d in
            yaml_rust2::YamlLoader::load_from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
        {
            let Some(containers) = d["spec"]["template"]["spec"]["containers"].as_vec() else {
                continue;
            };
            for c in containers {
                if let Some(v) = strings(&c["args"]) {
                    out.push((
                        format!("{} {}", p.display(), c["name"].as_str().unwrap()),
                        v,
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_deployed_command_line_is_accepted_by_the_binary() {
    let lines = role_command_lines();
    let roles: BTreeSet<&str> = lines.iter().map(|(_, v)| v[0].as_str()).collect();
    for r in ["sensor", "detect", "index", "serve", "notify"] {
        assert!(roles.contains(r), "no command line for {r}: {lines:?}");
    }
    for (place, args) in &lines {
        // clap rejects an unknown option before it reaches the trailing --help.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_canhgac"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{place}: canhgac {} rejected: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
