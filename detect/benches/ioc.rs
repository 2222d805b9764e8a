//! IOC benchmark: the maltrail "malicious" trails (127 files, 182,356 non-comment lines,
//! 169,272 indicators) loaded through `rules/ioc/maltrail-malicious.yaml`, matched against the
//! 53,615 Zeek DNS records of `zed-sample-data/dns.json.gz` turned into Events (query name,
//! both endpoints, answers as `related.*`).
//!
//! ```text
//! cargo bench -p canhgac-detect --bench ioc
//! ```
//!
//! Before criterion runs, it prints the load time, the RSS before and after loading (the
//! delta is the set plus allocator slack left by loading), the set's own heap estimate, and a
//! single-thread pass over the events (events/s, values looked up/s, matches). Criterion then
//! measures loading (`ioc_load`), the DNS events as they are (`ioc_match/zeek_dns`: almost no
//! hits) and the same events with one in fifty rewritten to query a listed domain
//! (`ioc_match/zeek_dns_2pct_hits`). `CANHGAC_DATA` overrides `../shared/data`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use canhgac_core::{Ecs, Event};
use canhgac_detect::ioc::{IocLoader, IocSet};
use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};

fn data_dir() -> PathBuf {
    let dir = std::env::var("CANHGAC_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    assert!(
        dir.join("intel").is_dir(),
        "test data missing at {} (set CANHGAC_DATA)",
        dir.display()
    );
    dir.canonicalize().expect("data dir")
}

fn definition() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/ioc/maltrail-malicious.yaml")
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn load() -> IocSet {
    let mut l = IocLoader::new().var("CANHGAC_DATA", data_dir().display().to_string());
    l.add_path(&definition()).expect("maltrail-malicious loads");
    l.build().0
}

fn blank_event() -> Event {
    serde_json::from_value(json!({
        "v": 1, "id": "00000000000000000000000000000000", "agency": "a", "sensor": "zeek",
        "dataset": "zeek.dns", "@timestamp": "2018-03-24T17:15:20Z",
        "received": "2018-03-24T17:15:20Z", "source": {"kind": "file", "name": "dns.json.gz"},
        "original": {}
    }))
    .expect("event")
}

/// The Zeek DNS log as Events with the ECS fields a decoder would set.
fn dns_events() -> Vec<Event> {
    let path = data_dir().join("network/zeek/zed-sample-data/dns.json.gz");
    let file = std::fs::File::open(&path).expect("dns.json.gz");
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let template = blank_event();
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.expect("line");
        let v: Value = serde_json::from_str(&line).expect("json");
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|p| p as u16);
        let mut ecs = Ecs {
            dns_question_name: s("query").filter(|q| *q != "-").map(String::from),
            source_ip: s("id.orig_h").and_then(|a| a.parse().ok()),
            source_port: n("id.orig_p"),
            destination_ip: s("id.resp_h").and_then(|a| a.parse().ok()),
            destination_port: n("id.resp_p"),
            network_transport: s("proto").map(String::from),
            ..Default::default()
        };
        for a in v
            .get("answers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(a) = a.as_str() {
                match a.parse() {
                    Ok(ip) => ecs.related.add_ip(ip),
                    Err(_) => ecs.related.add_host(a),
                }
            }
        }
        ecs.fill_related();
        let mut ev = template.clone();
        ev.ecs = ecs;
        out.push(ev);
    }
    out
}

/// Domains of the trail files, to turn some events into hits.
fn listed_domains() -> Vec<String> {
    let dir = data_dir().join("intel/maltrail/malicious");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("trails")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for l in std::fs::read_to_string(f).expect("trail").lines() {
            let l = l.trim();
            if !l.is_empty()
                && !l.starts_with('#')
                && !l.contains(['/', ':', ' ', '\\', '('])
                && l.parse::<std::net::IpAddr>().is_err()
            {
                out.push(l.to_string());
            }
        }
    }
    out
}

/// Values the matcher looks up in an event (distinct IPs, names, URLs, hashes, sender).
fn values(e: &Ecs) -> usize {
    let mut ips: Vec<_> = [e.source_ip, e.destination_ip, e.host_ip]
        .into_iter()
        .flatten()
        .collect();
    ips.extend(e.related.ip.iter().copied());
    ips.sort();
    ips.dedup();
    let mut hosts: Vec<String> = [&e.dns_question_name, &e.url_domain, &e.tls_sni]
        .into_iter()
        .flatten()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    hosts.extend(e.related.hosts.iter().cloned());
    hosts.sort();
    hosts.dedup();
    ips.len()
        + hosts.len()
        + e.related.url.len()
        + e.related.hash.len()
        + e.email_from.iter().count()
}

fn pass(set: &IocSet, events: &[Event]) -> (Duration, usize) {
    let mut out = Vec::new();
    let mut matches = 0;
    let t = Instant::now();
    for ev in events {
        out.clear();
        set.matches(ev, &mut out);
        matches += out.len();
    }
    (t.elapsed(), matches)
}

fn main() {
    let rss0 = rss_kb();
    let t = Instant::now();
    let set = load();
    let load_time = t.elapsed();
    let rss1 = rss_kb();
    let stats = set.stats();
    println!(
        "ioc load: maltrail-malicious {} distinct indicators in {:.3} s; RSS {:.1} MB -> {:.1} MB \
         (+{:.1} MB); set heap estimate {:.1} MB; {:?}",
        stats.indicators,
        load_time.as_secs_f64(),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        (rss1 - rss0) as f64 / 1024.0,
        stats.heap_bytes as f64 / 1e6,
        stats
    );

    let events = dns_events();
    let domains = listed_domains();
    let mut hits = events.clone();
    for (i, ev) in hits.iter_mut().enumerate().filter(|(i, _)| i % 50 == 0) {
        let d = &domains[(i * 7919) % domains.len()];
        ev.ecs.dns_question_name = Some(format!("cdn.{d}"));
    }
    let per_event: usize = events.iter().map(|e| values(&e.ecs)).sum();
    for (name, evs) in [("zeek_dns", &events), ("zeek_dns_2pct_hits", &hits)] {
        let mut best = Duration::MAX;
        let mut matches = 0;
        for _ in 0..5 {
            let (d, m) = pass(&set, evs);
            best = best.min(d);
            matches = m;
        }
        let secs = best.as_secs_f64();
        println!(
            "ioc match {name}: {} events, {} values looked up, {matches} matches, best of 5 \
             {:.1} ms: {:.2} M events/s, {:.2} M values/s",
            evs.len(),
            per_event,
            secs * 1e3,
            evs.len() as f64 / secs / 1e6,
            per_event as f64 / secs / 1e6,
        );
    }

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("ioc_load");
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(15));
        g.bench_function("maltrail_malicious", |b| b.iter(|| black_box(load())));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("ioc_match");
        for (name, evs) in [("zeek_dns", &events), ("zeek_dns_2pct_hits", &hits)] {
            g.throughput(Throughput::Elements(evs.len() as u64));
            g.bench_with_input(BenchmarkId::from_parameter(name), evs, |b, evs| {
                let mut out = Vec::new();
                b.iter(|| {
                    for ev in evs.iter() {
                        out.clear();
                        set.matches(black_box(ev), &mut out);
                    }
                    out.len()
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}
