//! `canhgac simulate` end to end: files in the formats sensors read plus the truth, the same
//! files through `canhgac hunt` with the shipped rules, and `--score` (table and JSON)
//! agreeing with both.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.file_name().unwrap() != "truth.jsonl" {
            out.push(p);
        }
    }
}

fn simulate(extra: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .current_dir(root())
        .args([
            "simulate",
            "--registry",
            "rules/agencies.example.toml",
            "--from",
            "2026-10",
            "--scale",
            "40",
            "--seed",
            "3",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn files_truth_hunt_and_score_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    simulate(&["--out", dir.to_str().unwrap()]);
    let truth = canhgac_sim::read_truth(&dir.join("truth.jsonl")).unwrap();
    assert!(truth.len() >= 20, "{} attacks", truth.len());
    for agency in ["byt", "ubnd-lao-cai"] {
        for f in [
            "access.log",
            "windows.jsonl",
            "eve.json",
            "dns.json",
            "syslog.log",
        ] {
            assert!(dir.join(agency).join(f).is_file(), "{agency}/{f}");
        }
        assert!(
            std::fs::read_dir(dir.join(agency).join("mail"))
                .unwrap()
                .count()
                > 10
        );
    }
    // The portal's log names its virtual host (Apache vhost_combined); the workstations'
    // Sysmon events come through Winlogbeat, with the agent's addresses.
    let access = std::fs::read_to_string(dir.join("byt/access.log")).unwrap();
    assert!(access.lines().all(|l| l.starts_with("moh.gov.vn:443 ")));
    let windows = std::fs::read_to_string(dir.join("byt/windows.jsonl")).unwrap();
    assert!(windows
        .lines()
        .any(|l| l.contains("\"winlog\":") && l.contains("\"ip\":[")));
    assert!(windows.lines().any(|l| l.starts_with("{\"Event\":")));
    // The same seed again gives byte-identical files.
    let again = tmp.path().join("again");
    simulate(&["--out", again.to_str().unwrap()]);
    for f in ["byt/access.log", "ubnd-ha-noi/windows.jsonl", "truth.jsonl"] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }

    let mut inputs = Vec::new();
    files(&dir, &mut inputs);
    inputs.sort();
    let hunt = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .current_dir(root())
        .args(["hunt", "--rules", "rules/sigma", "--format", "jsonl"])
        .args(&inputs)
        .output()
        .unwrap();
    assert!(
        hunt.status.success(),
        "{}",
        String::from_utf8_lossy(&hunt.stderr)
    );
    let stderr = String::from_utf8_lossy(&hunt.stderr);
    assert!(
        stderr.contains(" 0 undecodable records, 0 unreadable files"),
        "{stderr}"
    );
    let matches: Vec<serde_json::Value> = String::from_utf8(hunt.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rules: std::collections::BTreeSet<&str> = matches
        .iter()
        .map(|m| m["rule_id"].as_str().unwrap())
        .collect();
    assert!(rules.len() >= 8, "own rules that fired: {rules:?}");

    // --score replays the same records in memory: as many detections as hunt found in the
    // files, all on attack records, every attack found.
    let scored = simulate(&["--score", "--rules", "rules/sigma"]);
    let err = String::from_utf8_lossy(&scored.stderr);
    let expect = format!(
        "{} detections ({} on attack records, 0 on benign records)",
        matches.len(),
        matches.len()
    );
    assert!(err.contains(&expect), "{expect}\n{err}");
    let table = String::from_utf8_lossy(&scored.stdout);
    for class in ["phishing", "deface", "malware"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(class))
            .unwrap_or_else(|| panic!("{class} in {table}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], cols[2], "{class}: every attack found: {line}");
        assert_eq!(cols[3], "1.000", "{line}");
        assert_eq!(cols[6], "1.000", "{line}");
    }

    // The same harness as JSON, with a fixed number of attacks per national class: every
    // attack found, every incident of the class on an attack, each attack at least one
    // incident.
    let json = simulate(&[
        "--score",
        "--rules",
        "rules/sigma",
        "--attacks-per-class",
        "12",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["benign_detections"], 0, "{v}");
    for class in ["phishing", "deface", "malware"] {
        let c = &v["score"]["classes"][class];
        assert_eq!(c["attacks"], 12, "{class}: {c}");
        assert_eq!(c["found"], 12, "{class}: {c}");
        assert_eq!(c["incidents"], c["true_incidents"], "{class}: {c}");
        assert!(c["incidents_per_attack"].as_f64().unwrap() >= 1.0, "{c}");
    }
}
