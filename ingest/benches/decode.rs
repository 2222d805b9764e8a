//! Decode throughput per format on one core, over real data loaded into memory.
//!
//! For the JSON formats each group also measures merely parsing the same records into a
//! `serde_json::Value` (`serde_json_value`), the floor a decoder that keeps the original
//! record cannot beat. Throughput is in bytes; the record count of each data set is printed
//! at start so records/s can be derived.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-ingest cargo bench -p canhgac-ingest --bench decode`

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use canhgac_ingest::{decoder, DecoderOptions, EvtxOptions, EvtxReader, Format};

fn data_dir() -> PathBuf {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"));
    assert!(dir.is_dir(), "test data not found at {}", dir.display());
    dir.to_path_buf()
}

fn load(rel: &str) -> Vec<u8> {
    let path = data_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes
    }
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect()
}

fn cef_lines() -> Vec<u8> {
    let mut out = String::new();
    for i in 0..20_000u32 {
        out.push_str(&format!(
            "<134>Feb 19 12:{:02}:{:02} fw-{} CEF:0|Fortinet|Fortigate|v7.2.5|{}|traffic:forward deny|{}|src=10.0.{}.{} spt={} dst=203.0.113.{} dpt=443 proto=6 suser=user{} act=deny request=http://evil{}.example/a?b\\=c cat=traffic:forward msg=blocked by policy {} rt={}\n",
            i / 60 % 60,
            i % 60,
            i % 7,
            13 + i % 5,
            i % 11,
            i % 250,
            i % 200,
            1024 + i % 60000,
            i % 250,
            i % 50,
            i % 30,
            i % 90,
            1_708_344_001_000u64 + u64::from(i)
        ));
    }
    out.into_bytes()
}

fn bench_lines(c: &mut Criterion, name: &str, format: Format, records: &[&[u8]], json: bool) {
    let bytes: usize = records.iter().map(|r| r.len() + 1).sum();
    eprintln!("{name}: {} records, {bytes} bytes", records.len());
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes as u64));
    let opts = DecoderOptions::default().now("2024-06-01T00:00:00Z".parse().unwrap());
    group.bench_function("decode", |b| {
        let mut dec = decoder(format, &opts).unwrap();
        b.iter(|| {
            let mut n = 0usize;
            for r in records {
                if let Ok(Some(d)) = dec.decode(black_box(r)) {
                    n += usize::from(d.timestamp.is_some());
                    black_box(&d);
                }
            }
            n
        })
    });
    if json {
        interleaved_ratio(name, format, records, &opts);
        group.bench_function("serde_json_value", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in records {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(black_box(r)) {
                        n += usize::from(v.is_object());
                        black_box(&v);
                    }
                }
                n
            })
        });
    }
    group.finish();
}

/// Decode speed over bare `serde_json::Value` parse speed, from the best of 15 interleaved
/// rounds of each: robust to other processes sharing the machine, unlike two separately
/// sampled criterion groups.
fn interleaved_ratio(name: &str, format: Format, records: &[&[u8]], opts: &DecoderOptions) {
    let mut dec = decoder(format, opts).unwrap();
    let (mut best_decode, mut best_parse) = (Duration::MAX, Duration::MAX);
    for _ in 0..15 {
        let t = Instant::now();
        for r in records {
            black_box(dec.decode(black_box(r)).ok());
        }
        best_decode = best_decode.min(t.elapsed());
        let t = Instant::now();
        for r in records {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(r)).ok());
        }
        best_parse = best_parse.min(t.elapsed());
    }
    let per_sec = |d: Duration| records.len() as f64 / d.as_secs_f64();
    eprintln!(
        "{name}: best of 15 interleaved: decode {:.0} records/s, serde_json::Value {:.0} records/s, ratio {:.2}",
        per_sec(best_decode),
        per_sec(best_parse),
        best_parse.as_secs_f64() / best_decode.as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let windows = load("windows/evtx-attack-samples.jsonl.gz");
    bench_lines(c, "windows", Format::Windows, &lines(&windows), true);
    let suricata = load("network/suricata/alerts.ndjson");
    bench_lines(c, "suricata", Format::Suricata, &lines(&suricata), true);
    let zeek = load("network/zeek/zed-sample-data/dns.json.gz");
    bench_lines(c, "zeek_dns", Format::Zeek, &lines(&zeek), true);
    let zeek_apt = load("network/zeek/otrf-apt29-day1/combined_zeek.log.gz");
    bench_lines(c, "zeek_underscore", Format::Zeek, &lines(&zeek_apt), true);
    bench_lines(c, "json_generic", Format::Json, &lines(&suricata), true);
    let ssh = load("syslog/OpenSSH_2k.log");
    bench_lines(c, "syslog_openssh", Format::Syslog, &lines(&ssh), false);
    let cef = cef_lines();
    bench_lines(c, "cef", Format::Cef, &lines(&cef), false);
    let web = load("web/acunetix.txt.gz");
    bench_lines(c, "web_combined", Format::Web, &lines(&web), false);

    // Whole files: .eml and raw .evtx.
    let mails: Vec<Vec<u8>> = (1..=100)
        .map(|i| load(&format!("email/sample-{i}.eml")))
        .collect();
    let mail_bytes: usize = mails.iter().map(Vec::len).sum();
    eprintln!("eml: {} records, {mail_bytes} bytes", mails.len());
    let mut group = c.benchmark_group("eml");
    group.throughput(Throughput::Bytes(mail_bytes as u64));
    group.bench_function("decode", |b| {
        let mut dec = decoder(Format::Eml, &DecoderOptions::default()).unwrap();
        b.iter(|| {
            mails
                .iter()
                .filter(|m| dec.decode(black_box(m)).is_ok())
                .count()
        })
    });
    group.finish();

    let evtx = load("windows/evtx/Defense Evasion/DE_1102_security_log_cleared.evtx");
    eprintln!("evtx: 112 records, {} bytes", evtx.len());
    let mut group = c.benchmark_group("evtx");
    group.throughput(Throughput::Bytes(evtx.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let reader = EvtxReader::from_bytes(
                "bench",
                evtx.clone(),
                EvtxOptions::default(),
                &DecoderOptions::default(),
            )
            .unwrap();
            reader.count()
        })
    });
    group.finish();
}

criterion_group! {
    name = decode;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(decode);
