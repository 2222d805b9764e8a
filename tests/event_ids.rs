//! One event id per record (issue 14): a simulated day written to files by the simulator's file
//! sink is read by the sensor's file harvester (in process), by `canhgac hunt --agency
//! --sensor`, and encoded by the simulator's own publishing path (whose file positions the
//! accuracy harness shares); all three give every record of every format the same event id.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::event::Event;
use canhgac_core::topics::Topics;
use canhgac_ingest::sensor::Identity;
use canhgac_ingest::source::file::{harvest, FileContext, FileOptions};
use canhgac_ingest::{DecoderOptions, Format};
use canhgac_sim::out::FileSink;
use canhgac_sim::publish::Encoder;
use canhgac_sim::{Registry, SimConfig, SimRecord, Simulator, Stream};

/// The agency whose files are read back.
const AGENCY: &str = "byt";

/// Event ids by (file relative to the output directory, byte offset).
type Ids = BTreeMap<(String, u64), String>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The records of the first simulated day (24 hours) of October 2026.
fn simulated_day() -> Vec<SimRecord> {
    let registry = Registry::load(&root().join("rules/agencies.example.toml")).unwrap();
    let month = "2026-10".parse().unwrap();
    let mut cfg = SimConfig::new(registry, month, month);
    cfg.seed = 3;
    cfg.events_per_day = 500;
    let sim = Simulator::new(cfg).unwrap();
    let mut records = sim.records().peekable();
    let end = records.peek().unwrap().time + chrono::Duration::days(1);
    records.take_while(|r| r.time < end).collect()
}

fn stream_of(rel: &str) -> Stream {
    let file = rel.split('/').nth(1).unwrap();
    Stream::ALL
        .into_iter()
        .find(|s| s.file_name() == file)
        .unwrap_or_else(|| panic!("no stream writes {rel}"))
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap().display().to_string()
}

/// The simulator's publishing path: the events it would send, by file and offset.
fn simulator_ids(records: &[SimRecord]) -> Ids {
    let topics = Topics::new("canhgac").unwrap();
    let mut enc = Encoder::new(topics.clone());
    let mut ids = Ids::new();
    for r in records {
        let Some(m) = enc.encode(r).unwrap() else {
            continue;
        };
        if m.topic != topics.events(&r.agency) {
            continue;
        }
        let ev: Event = serde_json::from_slice(&m.payload).unwrap();
        let name = ev.source.name.strip_prefix("sim/").unwrap().to_string();
        let old = ids.insert((name, ev.source.offset.unwrap()), ev.id.to_string());
        assert!(old.is_none(), "two records at one place");
    }
    ids
}

/// The sensor: its file harvester reads each file once, as `canhgac sensor --once` does.
fn sensor_ids(dir: &Path, files: &[PathBuf]) -> Ids {
    let topics = Topics::new("canhgac").unwrap();
    let opts = FileOptions {
        format: Format::Auto,
        max_record_len: 1 << 20,
        follow: false,
        poll_interval: Duration::from_millis(50),
        decoder: DecoderOptions::default(),
    };
    let mut ids = Ids::new();
    for path in files {
        let rel = relative(dir, path);
        let ident = Identity {
            agency: AGENCY.into(),
            sensor: stream_of(&rel).sensor().into(),
            topics: topics.clone(),
        };
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let events = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let cx = FileContext {
                    ident: &ident,
                    tx: &tx,
                    cancel: &cancel,
                    progress: &|_| {},
                };
                let stats = harvest(path, None, &opts, &cx).unwrap();
                drop(tx);
                stats
            });
            let mut events = Vec::new();
            while let Some(out) = rx.blocking_recv() {
                if out.message.topic == topics.events(AGENCY) {
                    events.push(serde_json::from_slice::<Event>(&out.message.payload).unwrap());
                }
            }
            let stats = reader.join().unwrap();
            assert_eq!(stats.rejected, 0, "{rel}");
            events
        });
        for ev in events {
            assert_eq!(ev.source.name, path.display().to_string());
            ids.insert((rel.clone(), ev.source.offset.unwrap()), ev.id.to_string());
        }
    }
    ids
}

/// Rules that match every event of the simulated streams.
fn catch_all_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for (n, (logsource, field)) in [
        ("category: webserver", "cs-method"),
        ("product: windows", "EventID"),
        ("product: suricata", "event_type"),
        ("product: zeek\n    service: dns", "query"),
        ("product: linux", "message"),
        ("category: email", "subject"),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(
            rules.join(format!("all-{n}.yml")),
            format!(
                "title: Every event {n}\nid: 00000000-0000-4000-8000-00000000000{n}\n\
                 status: test\nlevel: low\nlogsource:\n    {logsource}\n\
                 detection:\n    selection:\n        {field}|exists: true\n    \
                 condition: selection\n"
            ),
        )
        .unwrap();
    }
    rules
}

/// `canhgac hunt --agency --sensor`, one run per stream, over the same files.
fn hunt_ids(dir: &Path, files: &[PathBuf]) -> Ids {
    let rules = catch_all_rules(dir.parent().unwrap());
    let mut by_stream: BTreeMap<Stream, Vec<&PathBuf>> = BTreeMap::new();
    for f in files {
        by_stream
            .entry(stream_of(&relative(dir, f)))
            .or_default()
            .push(f);
    }
    let mut ids = Ids::new();
    for (stream, files) in by_stream {
        let out = support::canhgac()
            .args(["hunt", "--format", "jsonl", "--agency", AGENCY, "--sensor"])
            .arg(stream.sensor())
            .arg("--rules")
            .arg(&rules)
            .args(files)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(" 0 undecodable records, 0 unreadable files"),
            "{stderr}"
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let path = Path::new(v["source"]["name"].as_str().unwrap());
            let key = (relative(dir, path), v["source"]["offset"].as_u64().unwrap());
            let id = v["event_id"].as_str().unwrap().to_string();
            if let Some(old) = ids.insert(key.clone(), id.clone()) {
                assert_eq!(old, id, "two ids for {key:?}");
            }
        }
    }
    ids
}

#[test]
fn sensor_hunt_and_simulator_give_the_same_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    let records = simulated_day();
    let mut sink = FileSink::new(&dir).unwrap();
    for r in &records {
        sink.write(r).unwrap();
    }
    sink.finish().unwrap();

    let mut inputs = Vec::new();
    support::files(&dir.join(AGENCY), &mut inputs);
    inputs.sort();
    let simulated: Ids = simulator_ids(&records)
        .into_iter()
        .filter(|((rel, _), _)| rel.starts_with(&format!("{AGENCY}/")))
        .collect();
    let sensed = sensor_ids(&dir, &inputs);
    let hunted = hunt_ids(&dir, &inputs);

    // Every format of the day, line-based (web, syslog), JSON lines (Windows, Suricata, Zeek)
    // and whole files (mail), with records in each.
    let mut per_stream: BTreeMap<Stream, usize> = BTreeMap::new();
    for (rel, _) in sensed.keys() {
        *per_stream.entry(stream_of(rel)).or_default() += 1;
    }
    assert_eq!(
        per_stream.keys().copied().collect::<Vec<_>>(),
        Stream::ALL.to_vec(),
        "{per_stream:?}"
    );
    assert!(per_stream.values().all(|n| *n >= 2), "{per_stream:?}");
    eprintln!("records per stream: {per_stream:?}");

    assert_eq!(sensed.len(), simulated.len());
    for (key, id) in &sensed {
        assert_eq!(
            simulated.get(key),
            Some(id),
            "simulator vs sensor at {key:?}"
        );
        assert_eq!(hunted.get(key), Some(id), "hunt vs sensor at {key:?}");
    }
    assert_eq!(hunted.len(), sensed.len());
}
