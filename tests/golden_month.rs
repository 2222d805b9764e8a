//! A hand-built month (issue 15): one agency's October 2026 in the formats the sensor reads,
//! with four attacks of the three national classes spread over days and rules, and benign
//! traffic with near misses (`tests/golden/month/README.md` says which line belongs to which
//! attack). `canhgac run` reads the folder once, as a user would, with our rules, SigmaHQ's and
//! the IOC lists; the figures come from `canhgac stats --format json`.
//!
//! - every attack is detected: at least one incident of its class names one of its entities,
//!   and every incident of a national class names one attack (no benign traffic counted);
//! - the counts: one incident per attack (the grouping of issue 15), so
//!   October counts 2 phishing, 1 deface and 1 malware attacks, September and November 0.

use std::path::{Path, PathBuf};

use canhgac_index::{IncidentRecord, Kind, Record};

use crate::support::{canhgac, data_dir, heavy, index_records, repo};

/// One attack of the month: its class and the entities that name it (any one of them).
struct Attack {
    name: &'static str,
    category: &'static str,
    entities: &'static [&'static str],
}

const ATTACKS: [Attack; 4] = [
    Attack {
        name: "P1 phishing campaign from the look-alike moh-gov-vn.com",
        category: "phishing",
        entities: &["thongbao@moh-gov-vn.com", "dangnhap.moh-gov-vn.com"],
    },
    Attack {
        name: "P2 payment-report lure with an ISO attachment",
        category: "phishing",
        entities: &["ketoan@hoadon-doitac.example", "hoadon-t10.pages.dev"],
    },
    Attack {
        name: "D1 defacement of the portal moh.gov.vn on moh-web01",
        category: "deface",
        entities: &["198.51.100.23", "moh-web01"],
    },
    Attack {
        name: "M1 fake-update infection of moh-ws-017 beaconing to its C2",
        category: "malware",
        entities: &["moh-ws-017", "10.21.4.17", "daynews.sytes.net"],
    },
];

const NATIONAL: [&str; 3] = ["phishing", "deface", "malware"];

fn month_dir() -> PathBuf {
    repo("tests/golden/month/byt")
}

/// Runs `canhgac run --once` over the month into `data` and returns the index directory.
fn run_month(data: &Path) -> PathBuf {
    let sigmahq = data_dir().join("sigma/rules/rules");
    assert!(
        sigmahq.is_dir(),
        "test data missing: expected {} (see BRIEF §8)",
        sigmahq.display()
    );
    let out = canhgac()
        .current_dir(repo("."))
        .env("CANHGAC_DATA", data_dir())
        .args(["run", "--once", "--listen", "", "--data-dir"])
        .arg(data)
        .args(["--registry", "rules/agencies.example.toml"])
        .args(["--rules", "rules/sigma", "--rules"])
        .arg(&sigmahq)
        .args(["--ioc", "rules/ioc", "--source"])
        .arg(format!("byt:golden:{}", month_dir().display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(" 0 rejected"),
        "a record of the month did not decode: {stdout}"
    );
    data.join("index")
}

fn incidents(index: &Path) -> Vec<IncidentRecord> {
    index_records(index, Kind::Incidents)
        .into_iter()
        .filter_map(|r| match r {
            Record::Incident(i) => Some(*i),
            Record::Detection(_) => None,
        })
        .collect()
}

fn names(i: &IncidentRecord, attack: &Attack) -> bool {
    let e = &i.incident.entities;
    i.incident.category.as_str() == attack.category
        && [&e.ips, &e.hosts, &e.domains, &e.emails, &e.users]
            .into_iter()
            .flatten()
            .any(|v| attack.entities.iter().any(|a| v.eq_ignore_ascii_case(a)))
}

fn describe(i: &IncidentRecord) -> String {
    format!(
        "{} {} {} {:?}",
        i.incident.category.as_str(),
        i.incident.first_seen,
        i.incident.group_key,
        i.incident.rule_ids
    )
}

/// `canhgac stats --format json` for September to November 2026: month → class → count.
fn national_counts(index: &Path) -> Vec<(String, [u64; 3])> {
    let out = canhgac()
        .args(["stats", "--index"])
        .arg(index)
        .args(["--month", "2026-11", "--months", "3", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let count = |c: &str| m["by_category"][c].as_u64().unwrap();
            (
                m["month"].as_str().unwrap().to_string(),
                NATIONAL.map(count),
            )
        })
        .collect()
}

#[test]
fn every_attack_of_the_month_is_detected_and_nothing_benign_is_counted() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let all = incidents(&run_month(dir.path()));
    for attack in &ATTACKS {
        assert!(
            all.iter().any(|i| names(i, attack)),
            "{}: not detected; incidents: {:#?}",
            attack.name,
            all.iter().map(describe).collect::<Vec<_>>()
        );
    }
    for i in all
        .iter()
        .filter(|i| NATIONAL.contains(&i.incident.category.as_str()))
    {
        let owners: Vec<&str> = ATTACKS
            .iter()
            .filter(|a| names(i, a))
            .map(|a| a.name)
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "a national incident belongs to exactly one attack: {} → {owners:?}",
            describe(i)
        );
        assert_eq!(i.incident.month, 202610, "{}", describe(i));
    }
    // What the month counts today, whatever the counting unit: October only.
    let counts = national_counts(&dir.path().join("index"));
    assert_eq!(counts[0], ("2026-09".to_string(), [0, 0, 0]));
    assert_eq!(counts[2], ("2026-11".to_string(), [0, 0, 0]));
    assert!(counts[1].1.iter().all(|n| *n > 0), "{counts:?}");
}

#[test]
fn the_month_counts_each_attack_once() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let index = run_month(dir.path());
    let all = incidents(&index);
    for attack in &ATTACKS {
        let of: Vec<String> = all
            .iter()
            .filter(|i| names(i, attack))
            .map(describe)
            .collect();
        assert_eq!(of.len(), 1, "{}: incidents {of:#?}", attack.name);
    }
    assert_eq!(
        national_counts(&index),
        vec![
            ("2026-09".to_string(), [0, 0, 0]),
            // phishing, deface, malware
            ("2026-10".to_string(), [2, 1, 1]),
            ("2026-11".to_string(), [0, 0, 0]),
        ]
    );
}
