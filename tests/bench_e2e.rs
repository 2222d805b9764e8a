//! End-to-end benchmark through Tansu (run by `scripts/bench-e2e.sh`, ignored by `cargo test`):
//! sensors → broker → one detect worker (whole SigmaHQ corpus + the project's rules) → indexer.
//!
//! - **Sustained events/s**: a backlog of the 8,255 Windows attack events under `COPIES`
//!   sensors (distinct event ids) is published; the time from the first publish until the
//!   index has committed every expected detection gives events/s through the whole pipeline.
//! - **Latency event → searchable incident**: while the backlog flows and for a while after, a
//!   probe appends one web-shell request to a followed access log every 200 ms and measures
//!   how long until its detection is searchable in the index (p50, p99; under load and idle).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{canhgac, data_dir, repo, Broker};
use canhgac_index::{IncidentIndex, Kind, Scope, SearchRequest};

fn rules(c: &mut Command) -> &mut Command {
    c.arg("--rules")
        .arg(repo("rules/sigma"))
        .arg("--rules")
        .arg(data_dir().join("sigma/rules/rules"))
        .arg("--registry")
        .arg(repo("rules/agencies.example.toml"))
}

fn spawn(c: &mut Command, log: &Path) -> Child {
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn count(index: &IncidentIndex, agency: Option<&str>) -> u64 {
    let _ = index.reload();
    let scope = match agency {
        Some(a) => Scope::Agency(a.into()),
        None => Scope::All,
    };
    let mut req = SearchRequest::new(scope, "");
    req.kind = Kind::Detections;
    req.limit = 1;
    index.search(&req).map(|r| r.total).unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[test]
#[ignore = "benchmark: scripts/bench-e2e.sh"]
fn end_to_end_through_tansu() {
    let _heavy = crate::support::heavy();
    let copies: usize = std::env::var("COPIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let commit_ms = std::env::var("COMMIT_MS").unwrap_or_else(|_| "500".into());
    let windows = data_dir().join("windows/evtx-attack-samples.jsonl.gz");
    let out = canhgac()
        .arg("hunt")
        .arg("--rules")
        .arg(repo("rules/sigma"))
        .arg("--rules")
        .arg(data_dir().join("sigma/rules/rules"))
        .arg(&windows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let per_copy = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let expected = (per_copy * copies) as u64;

    let broker = Broker::start_memory();
    let work = tempfile::tempdir().unwrap();
    let b = broker.brokers();
    let index_dir = work.path().join("index");
    let probe_log = work.path().join("probe.log");
    std::fs::write(&probe_log, b"").unwrap();
    // The probe's sensor and the detections topic first, so that nothing waits on metadata.
    let mut probe_sensor = spawn(
        canhgac()
            .env("CANHGAC_SENSOR__POLL_INTERVAL_MS", "10")
            .args(["sensor", "--brokers", &b, "--agency", "ubnd-da-nang"])
            .args(["--sensor", "probe", "--format", "web"])
            .arg(&probe_log),
        &work.path().join("probe-sensor.log"),
    );
    let mut detect = spawn(
        rules(canhgac().args(["detect", "--brokers", &b, "--reload-interval", "0"])),
        &work.path().join("detect.log"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut indexer = spawn(
        canhgac()
            .args(["index", "--brokers", &b, "--commit-interval-ms", &commit_ms])
            .arg("--index")
            .arg(&index_dir),
        &work.path().join("index.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while IncidentIndex::open(&index_dir).is_err() {
        assert!(Instant::now() < deadline, "index did not appear");
        std::thread::sleep(Duration::from_millis(50));
    }
    let index = IncidentIndex::open(&index_dir).unwrap();

    // Probe: one web-shell request, then wait until it is searchable.
    let mut probe_n = 0u64;
    let mut probe = |index: &IncidentIndex| -> f64 {
        probe_n += 1;
        let before = count(index, Some("ubnd-da-nang"));
        let line = format!(
            "10.20.30.{} - - [{}] \"GET /upload/cmd.jsp?probe={probe_n} HTTP/1.1\" 200 48\n",
            probe_n % 250,
            chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000")
        );
        let t0 = Instant::now();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&probe_log)
            .unwrap();
        f.write_all(line.as_bytes()).unwrap();
        f.flush().unwrap();
        loop {
            if count(index, Some("ubnd-da-nang")) > before {
                return t0.elapsed().as_secs_f64() * 1000.0;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "probe {probe_n} never became searchable"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Warm up (topics, group join).
    for _ in 0..3 {
        probe(&index);
    }

    // Backlog.
    let t0 = Instant::now();
    let mut sensors: Vec<Child> = (0..copies)
        .map(|i| {
            spawn(
                canhgac()
                    .args(["sensor", "--once", "--brokers", &b, "--agency", "bca"])
                    .args(["--sensor", &format!("win-{i:02}")])
                    .arg(&windows),
                &work.path().join(format!("sensor-{i}.log")),
            )
        })
        .collect();
    let mut loaded = Vec::new();
    let base = count(&index, None);
    loop {
        loaded.push(probe(&index));
        if count(&index, None) >= base + expected {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "backlog not indexed in 30 min"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let elapsed = t0.elapsed().as_secs_f64();
    for s in &mut sensors {
        assert!(s.wait().unwrap().success(), "a sensor failed");
    }
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(probe(&index));
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = 8255 * copies;
    println!(
        "e2e: {events} events ({copies} × 8,255 Windows events), {expected} detections, indexed in {elapsed:.1} s: {:.0} events/s, {:.0} detections/s",
        events as f64 / elapsed,
        expected as f64 / elapsed
    );
    println!(
        "e2e: event → searchable detection, commit interval {commit_ms} ms: under load p50 {:.0} ms p99 {:.0} ms (n={}), idle p50 {:.0} ms p99 {:.0} ms (n={})",
        pct(&mut loaded, 0.5),
        pct(&mut loaded, 0.99),
        loaded.len(),
        pct(&mut idle, 0.5),
        pct(&mut idle, 0.99),
        idle.len()
    );
    for c in [&mut probe_sensor, &mut detect, &mut indexer] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
