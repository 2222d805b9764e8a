//! `canhgac sensor` against a real Kafka-protocol broker (Tansu): every record of the shared
//! data exactly once with stable ids, a SIGKILL mid-file that loses nothing, and malformed input
//! that goes to the DLQ while the sensor keeps going.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{canhgac, data_dir, read_topic, Broker, TopicRecord};

/// Records a sensor should find in each input: non-blank lines (without IIS `#` directives) of
/// line files, one per `.eml`.
fn expected_records(path: &Path) -> usize {
    if path.extension().is_some_and(|e| e == "eml") {
        return 1;
    }
    let file = std::fs::File::open(path).unwrap();
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    reader
        .split(b'\n')
        .map(|l| l.unwrap())
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace) && !l.starts_with(b"#"))
        .count()
}

fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn sensor_once(
    broker: &Broker,
    agency: &str,
    extra: &[&str],
    paths: &[PathBuf],
) -> std::process::Output {
    let out = canhgac()
        .args([
            "sensor",
            "--brokers",
            &broker.brokers(),
            "--agency",
            agency,
            "--sensor",
            "test-01",
            "--once",
        ])
        .args(extra)
        .args(paths)
        .output()
        .expect("run sensor");
    out
}

fn source_of(r: &TopicRecord) -> (String, u64) {
    let v = r.json();
    (
        v["source"]["name"].as_str().unwrap().to_string(),
        v["source"]["offset"].as_u64().unwrap(),
    )
}

#[test]
fn shared_data_reaches_the_topic_exactly_once_with_stable_ids() {
    let _heavy = crate::support::heavy();
    let data = data_dir();
    let mut inputs = vec![
        data.join("windows/evtx-attack-samples.jsonl.gz"),
        data.join("network/suricata/alerts.ndjson"),
    ];
    inputs.extend(files_in(
        &data.join("network/zeek/zed-sample-data"),
        ".json.gz",
    ));
    inputs.push(data.join("network/zeek/otrf-apt29-day1/combined_zeek.log.gz"));
    inputs.extend(
        files_in(&data.join("web"), ".txt")
            .into_iter()
            .chain(files_in(&data.join("web"), ".log")),
    );
    inputs.push(data.join("web/acunetix.txt.gz"));
    inputs.extend(files_in(&data.join("syslog"), ".log"));
    inputs.extend(files_in(&data.join("email"), ".eml"));
    let expected: BTreeMap<String, usize> = inputs
        .iter()
        .map(|p| {
            (
                p.canonicalize().unwrap().display().to_string(),
                expected_records(p),
            )
        })
        .collect();
    assert_eq!(
        expected[&data
            .join("windows/evtx-attack-samples.jsonl.gz")
            .canonicalize()
            .unwrap()
            .display()
            .to_string()],
        8255
    );
    let total: usize = expected.values().sum();

    let broker = Broker::start();
    let started = Instant::now();
    let out = sensor_once(&broker, "byt", &[], &inputs);
    assert!(
        out.status.success(),
        "sensor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elapsed = started.elapsed();
    let events = read_topic(&broker.brokers(), "canhgac.events.byt");
    let dlq = read_topic(&broker.brokers(), "canhgac.dlq.byt");
    eprintln!(
        "{} events, {} dlq records from {} inputs in {:.1?}",
        events.len(),
        dlq.len(),
        inputs.len(),
        elapsed
    );

    // Every record exactly once: per source, each offset once, and the counts match the files.
    let mut per_source: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for r in &events {
        let (name, offset) = source_of(r);
        assert!(
            per_source.entry(name.clone()).or_default().insert(offset),
            "duplicate record {name}@{offset}"
        );
        assert!(
            ids.insert(r.json()["id"].as_str().unwrap().to_string()),
            "duplicate id"
        );
        assert_eq!(r.json()["agency"], "byt");
    }
    for r in &dlq {
        let name = r.headers["source"].clone();
        let offset: u64 = r.headers["offset"].parse().unwrap();
        assert!(
            per_source.entry(name.clone()).or_default().insert(offset),
            "duplicate record {name}@{offset}"
        );
    }
    for (name, n) in &expected {
        let got = per_source.get(name).map_or(0, BTreeSet::len);
        assert_eq!(got, *n, "{name}: {got} records, expected {n}");
    }
    assert_eq!(events.len() + dlq.len(), total);
    let windows = events
        .iter()
        .filter(|r| r.json()["dataset"] == "windows")
        .count();
    assert_eq!(windows, 8255);

    // A second run publishes the same records again, with the same ids.
    let out = sensor_once(&broker, "byt", &[], &inputs);
    assert!(
        out.status.success(),
        "second run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = read_topic(&broker.brokers(), "canhgac.events.byt");
    assert_eq!(all.len(), 2 * events.len());
    let mut count: HashMap<String, usize> = HashMap::new();
    for r in &all {
        *count
            .entry(r.json()["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        count.len(),
        ids.len(),
        "the second run produced the same ids"
    );
    assert!(count.values().all(|&c| c == 2));
}

/// A large synthetic access log (combined format) with numbered requests.
fn write_big_log(path: &Path, lines: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 1..=lines {
        writeln!(
            f,
            "10.20.{}.{} - - [22/Apr/2022:10:{:02}:{:02} +0700] \"GET /portal/tin-tuc?id={i} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"",
            i % 250,
            i % 200 + 1,
            (i / 60) % 60,
            i % 60,
            1000 + i % 5000
        )
        .unwrap();
    }
}

fn checkpoint_offset(dir: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(dir.join("byt.kill-test.checkpoints.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let (_, pos) = v["sources"].as_object()?.iter().next()?;
    Some((pos["offset"].as_u64()?, pos["line"].as_u64()?))
}

#[test]
fn sigkill_mid_file_loses_nothing_and_repeats_only_after_the_checkpoint() {
    let _heavy = crate::support::heavy();
    let broker = Broker::start();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("access.log");
    let lines = 200_000;
    write_big_log(&log, lines);
    let size = std::fs::metadata(&log).unwrap().len();
    let ckpt = work.path().join("ckpt");
    let run = || {
        let mut c = canhgac();
        c.args([
            "sensor",
            "--brokers",
            &broker.brokers(),
            "--agency",
            "byt",
            "--sensor",
            "kill-test",
            "--once",
            "--checkpoint-dir",
        ])
        .arg(&ckpt)
        .arg(&log)
        .env("CANHGAC_SENSOR__CHECKPOINT_INTERVAL_MS", "50")
        .stderr(std::process::Stdio::null());
        c
    };
    let mut child = run().spawn().unwrap();
    // Kill once a checkpoint covers part, not all, of the file.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some((offset, _)) = checkpoint_offset(&ckpt) {
            if offset > size / 4 {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sensor finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (offset, line) = checkpoint_offset(&ckpt).unwrap();
    assert!(
        offset < size,
        "killed halfway: checkpoint {offset} of {size}"
    );
    let before = read_topic(&broker.brokers(), "canhgac.events.byt");
    eprintln!(
        "killed at checkpoint offset {offset} (line {line}); {} records already in the topic",
        before.len()
    );

    let out = run().output().unwrap();
    assert!(out.status.success());
    let all = read_topic(&broker.brokers(), "canhgac.events.byt");
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for r in &all {
        let v = r.json();
        seen.entry(v["source"]["line"].as_u64().unwrap())
            .or_default()
            .push(v["id"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), lines, "every line reached the topic");
    assert_eq!(*seen.keys().next().unwrap(), 1);
    for (l, ids) in &seen {
        if ids.len() > 1 {
            assert!(
                *l >= line,
                "line {l} is before the checkpoint (line {line}) yet appears {} times",
                ids.len()
            );
            assert!(
                ids.iter().all(|i| i == &ids[0]),
                "a repeated line keeps its id"
            );
        }
    }
    let repeated = seen.values().filter(|ids| ids.len() > 1).count();
    eprintln!("{repeated} lines after the checkpoint were published twice, with the same id");
}

#[test]
fn malformed_input_goes_to_the_dlq_and_the_sensor_keeps_going() {
    let _heavy = crate::support::heavy();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let good = |i: usize| {
        format!("{{\"@timestamp\":\"2022-04-01T00:00:0{i}Z\",\"message\":\"ok {i}\"}}\n")
    };
    std::fs::write(
        p("truncated.json"),
        format!(
            "{}{{\"message\": \"cut\", \"x\": [1, 2\n{}",
            good(1),
            good(2)
        ),
    )
    .unwrap();
    let mut garbage = good(1).into_bytes();
    garbage.extend(
        (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .filter(|b| *b != b'\n'),
    );
    garbage.push(b'\n');
    garbage.extend(good(2).into_bytes());
    std::fs::write(p("garbage.json"), garbage).unwrap();
    let mut long = good(1).into_bytes();
    long.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    long.push(b'\n');
    long.extend(good(2).into_bytes());
    std::fs::write(p("long.json"), long).unwrap();
    let mut utf8 = good(1).into_bytes();
    utf8.extend(b"{\"message\":\"bad \xff\xfe bytes\"}\n");
    utf8.extend(good(2).into_bytes());
    std::fs::write(p("utf8.json"), utf8).unwrap();
    std::fs::write(
        p("bad-priority.log"),
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\n\
         <999>Oct 11 22:14:16 mymachine su: priority out of range\n\
         <x>Oct 11 22:14:16 mymachine su: priority not a number\n\
         <13>Oct 11 22:14:17 mymachine sshd[42]: Accepted password for root from 10.0.0.1 port 22 ssh2\n",
    )
    .unwrap();
    let mut evtx = Vec::new();
    std::fs::File::open(
        data_dir().join("windows/evtx/Defense Evasion/DE_1102_security_log_cleared.evtx"),
    )
    .unwrap()
    .read_to_end(&mut evtx)
    .unwrap();
    evtx[4096..4096 + 8].copy_from_slice(b"XXXXXXXX");
    std::fs::write(p("corrupt.evtx"), evtx).unwrap();

    let inputs: Vec<PathBuf> = [
        "truncated.json",
        "garbage.json",
        "long.json",
        "utf8.json",
        "bad-priority.log",
        "corrupt.evtx",
    ]
    .iter()
    .map(|n| p(n))
    .collect();
    let out = sensor_once(&broker, "ubnd-ha-noi", &[], &inputs);
    assert!(
        out.status.success(),
        "sensor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dlq = read_topic(&broker.brokers(), "canhgac.dlq.ubnd-ha-noi");
    let events = read_topic(&broker.brokers(), "canhgac.events.ubnd-ha-noi");
    let reasons: BTreeMap<String, Vec<String>> = dlq.iter().fold(BTreeMap::new(), |mut m, r| {
        let file = Path::new(&r.headers["source"])
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        m.entry(file).or_default().push(r.headers["reason"].clone());
        m
    });
    for r in &dlq {
        for h in ["reason", "message", "source", "offset", "sensor"] {
            assert!(
                r.headers.contains_key(h),
                "DLQ record without {h}: {:?}",
                r.headers
            );
        }
        assert!(r.payload.len() <= 64 * 1024, "DLQ payloads are bounded");
    }
    eprintln!("DLQ reasons: {reasons:?}");
    assert_eq!(reasons["truncated.json"], ["truncated"]);
    assert_eq!(reasons["garbage.json"].len(), 1);
    assert_eq!(reasons["long.json"], ["too_long"]);
    assert_eq!(reasons["utf8.json"], ["invalid_utf8"]);
    assert_eq!(
        reasons["bad-priority.log"],
        ["bad_priority", "bad_priority"]
    );
    assert_eq!(reasons["corrupt.evtx"], ["corrupt_chunk"]);
    let long = dlq
        .iter()
        .find(|r| r.headers["reason"] == "too_long")
        .unwrap();
    assert_eq!(long.headers["line"], "2");

    // The good records around each bad one were all published.
    let per_file = events
        .iter()
        .fold(BTreeMap::<String, usize>::new(), |mut m, r| {
            let name = r.json()["source"]["name"].as_str().unwrap().to_string();
            *m.entry(
                Path::new(&name)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
            .or_default() += 1;
            m
        });
    for f in [
        "truncated.json",
        "garbage.json",
        "long.json",
        "utf8.json",
        "bad-priority.log",
    ] {
        assert_eq!(per_file.get(f), Some(&2), "{f}: {per_file:?}");
    }
    assert!(
        per_file["corrupt.evtx"] > 0 && per_file["corrupt.evtx"] < 112,
        "{per_file:?}"
    );
}
