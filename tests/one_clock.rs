//! One clock (issue 15): the same zone-less lines — an RFC 3164 syslog line and an Apache error
//! log line, at 22:14 local on the last day of a month — get the same event time and the same
//! month (Asia/Ho_Chi_Minh) in every role that decodes: `canhgac sensor` (to a real broker),
//! `canhgac run`'s sources, `canhgac hunt` and the simulator's decode path. Read as UTC they
//! would fall at 05:14 on the first of the next month.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canhgac_core::detection::month_of;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::support::{canhgac, index_records, read_topic, Broker};

/// The two lines and the instant both state: 22:14 at +07:00 on 31 August of the latest year
/// that is not in the future (RFC 3164 states no year: the decoder infers it the same way).
struct Lines {
    dir: tempfile::TempDir,
    syslog: PathBuf,
    apache: PathBuf,
    expected: DateTime<Utc>,
}

fn lines() -> Lines {
    let now = Utc::now();
    let at = |year: i32| {
        canhgac_core::detection::vietnam()
            .with_ymd_and_hms(year, 8, 31, 22, 14, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    let year = if at(now.year()) <= now + Duration::days(1) {
        now.year()
    } else {
        now.year() - 1
    };
    let expected = at(year);
    let weekday = NaiveDate::from_ymd_opt(year, 8, 31).unwrap().format("%a");
    let dir = tempfile::tempdir().unwrap();
    let syslog = dir.path().join("auth.log");
    std::fs::write(
        &syslog,
        "Aug 31 22:14:00 gw-01 sshd[4242]: Failed password for root from 203.0.113.7 port 52111 ssh2\n",
    )
    .unwrap();
    let apache = dir.path().join("error.log");
    std::fs::write(
        &apache,
        format!("[{weekday} Aug 31 22:14:00 {year}] [error] [client 203.0.113.8] File does not exist: /var/www/html/wp-login.php\n"),
    )
    .unwrap();
    Lines {
        dir,
        syslog,
        apache,
        expected,
    }
}

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// Both lines read in one role: file name → event time.
fn check(role: &str, times: &BTreeMap<String, DateTime<Utc>>, l: &Lines) {
    for file in ["auth.log", "error.log"] {
        let t = times
            .get(file)
            .unwrap_or_else(|| panic!("{role}: no event of {file} in {times:?}"));
        assert_eq!(*t, l.expected, "{role}: {file}");
        assert_eq!(
            month_of(*t),
            month_of(l.expected),
            "{role}: {file} in another month"
        );
    }
    // The line really is near a month's end: read as UTC it would count in the next month.
    let as_utc = l.expected + Duration::hours(7);
    assert_ne!(month_of(as_utc), month_of(l.expected));
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A Sigma rule and a mapping of the test's own that route both lines, so that `hunt` prints
/// their event times (the shipped mappings route no Apache error lines to Sigma rules).
fn hunt_rules(dir: &Path) -> (PathBuf, PathBuf) {
    let rules = dir.join("rules");
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(
        rules.join("clock.yml"),
        "title: Clock test\nid: 5a0f6a52-0c6e-4d55-9a0b-2f7d1c1e0c15\nstatus: test\n\
logsource:\n    product: clocktest\ndetection:\n    keywords:\n        - '203.0.113.'\n    condition: keywords\nlevel: low\n",
    )
    .unwrap();
    std::fs::write(
        mappings.join("clocktest.yml"),
        "datasets: [syslog, apache.error]\nlayout: flat\nlogsources:\n  - logsource: {product: clocktest}\n",
    )
    .unwrap();
    (rules, mappings)
}

fn hunt_times(l: &Lines, extra: &[&str]) -> BTreeMap<String, DateTime<Utc>> {
    let (rules, mappings) = hunt_rules(l.dir.path());
    let out = canhgac()
        .args(["hunt", "--format", "jsonl", "--rules"])
        .arg(&rules)
        .arg("--mappings")
        .arg(&mappings)
        .args(extra)
        .arg(&l.syslog)
        .arg(&l.apache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hunt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                file_name(v["source"]["name"].as_str().unwrap()),
                time(&v["timestamp"]),
            )
        })
        .collect()
}

#[test]
fn hunt_reads_zone_less_times_in_the_local_offset() {
    let l = lines();
    check("hunt", &hunt_times(&l, &[]), &l);
    // The flag moves it, with the one name and syntax of every role.
    let utc = hunt_times(&l, &["--local-offset", "UTC"]);
    assert_eq!(utc["auth.log"], l.expected + Duration::hours(7));
    let out = canhgac()
        .args(["hunt", "--rules", "rules/sigma", "--local-offset", "+7"])
        .arg(&l.syslog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--local-offset") && err.contains("+07:00, -05:30 or UTC"),
        "{err}"
    );
}

#[test]
fn the_simulators_decode_path_reads_zone_less_times_in_the_local_offset() {
    let l = lines();
    let mut enc =
        canhgac_sim::publish::Encoder::new(canhgac_core::topics::Topics::new("canhgac").unwrap());
    let mut times = BTreeMap::new();
    for path in [&l.syslog, &l.apache] {
        let bytes = std::fs::read(path).unwrap();
        let rec = canhgac_sim::SimRecord {
            agency: "byt".into(),
            stream: canhgac_sim::Stream::Syslog,
            time: l.expected,
            bytes: bytes.strip_suffix(b"\n").unwrap().to_vec(),
            truth_id: None,
        };
        let msg = enc.encode(&rec).unwrap().expect("an event");
        assert_eq!(msg.topic, "canhgac.events.byt");
        let v: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        times.insert(file_name(path.to_str().unwrap()), time(&v["@timestamp"]));
    }
    check("simulator", &times, &l);
}

#[test]
fn run_sources_read_zone_less_times_in_the_local_offset() {
    let _heavy = crate::support::heavy();
    let l = lines();
    // Both client addresses as an indicator list: each line makes one detection.
    let ioc = l.dir.path().join("clock-ioc.txt");
    std::fs::write(&ioc, "203.0.113.7\n203.0.113.8\n").unwrap();
    let data = l.dir.path().join("run");
    let out = canhgac()
        .args(["run", "--once", "--listen", "", "--data-dir"])
        .arg(&data)
        .arg("--ioc")
        .arg(&ioc)
        .arg("--source")
        .arg(format!("byt:gw-01:{}", l.syslog.display()))
        .arg("--source")
        .arg(format!("byt:web-01:{}", l.apache.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = data.join("index");
    let mut times = BTreeMap::new();
    let mut months = BTreeMap::new();
    for r in index_records(&index, canhgac_index::Kind::Detections) {
        if let canhgac_index::Record::Detection(d) = r {
            let file = if d.entities.ips.iter().any(|ip| ip == "203.0.113.7") {
                "auth.log"
            } else {
                "error.log"
            };
            assert_eq!(d.month, month_of(l.expected), "{file}: detection month");
            times.insert(file.to_string(), d.timestamp);
        }
    }
    for r in index_records(&index, canhgac_index::Kind::Incidents) {
        if let canhgac_index::Record::Incident(i) = r {
            months.insert(i.incident.id, (i.incident.month, i.incident.first_seen));
        }
    }
    check("run", &times, &l);
    assert!(!months.is_empty(), "no incident");
    for (month, first_seen) in months.values() {
        assert_eq!(*month, month_of(l.expected), "incident month");
        assert_eq!(*first_seen, l.expected, "incident first seen");
    }
}

#[test]
fn the_sensor_reads_zone_less_times_in_the_local_offset() {
    let _heavy = crate::support::heavy();
    let l = lines();
    let broker = Broker::start_memory();
    let out = canhgac()
        .args([
            "sensor",
            "--brokers",
            &broker.brokers(),
            "--agency",
            "byt",
            "--sensor",
            "gw-01",
            "--once",
        ])
        .arg(&l.syslog)
        .arg(&l.apache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sensor: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: BTreeMap<String, DateTime<Utc>> =
        read_topic(&broker.brokers(), "canhgac.events.byt")
            .iter()
            .map(|r| {
                let v = r.json();
                (
                    file_name(v["source"]["name"].as_str().unwrap()),
                    time(&v["@timestamp"]),
                )
            })
            .collect();
    check("sensor", &times, &l);
}
