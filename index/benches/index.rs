//! The index benchmark: indexing rate next to bare tantivy's for the same documents, search
//! latency, monthly statistics over twelve months, and size on disk.
//!
//! ```text
//! cargo bench -p canhgac-index --bench index -- --incidents 5000000 --dir /tmp/bench-index
//! ```
//!
//! (`scripts/bench-index.sh` runs it.) A bare `cargo bench`, which gives no arguments, only
//! prints this usage: the default run (5,000,000 incidents) needs about 20 GB of disk.
//!
//! Each generated incident has `--per-incident K` detections (default 1; its event included),
//! spread over 24 months, 8 agencies and every category. With K > 1 the detections of an
//! incident are ten minutes apart and link through a shared target and attacker (the grouping of
//! issue 15), and a batch interleaves the incidents (every incident's first detection, then every
//! second, …), so the indexer finds each incident again among the others, across commits too. Generation (building and serialising the detections) is
//! outside the timed sections. "canhgac" is [`Indexer::process`] on the JSON bytes (parse,
//! duplicate lookup, incident aggregation, two documents) with commits by the default policy
//! (50,000 detections); "bare tantivy" adds the documents the index ends with — every detection's
//! and, per incident, its aggregate — from the parsed structs, with a commit every 50,000
//! detections, and nothing else.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canhgac_core::detection::{Grouping, Link, LinkRole};
use canhgac_core::Category;
use canhgac_index::incident::IncidentRecord;
use canhgac_index::schema::{detection_doc, incident_doc};
use canhgac_index::synth::{incident_detections, AGENCIES};
use canhgac_index::{
    IncidentIndex, Indexer, IndexerOptions, Kind, Position, Scope, SearchRequest, StatsRequest,
};
use tantivy::IndexWriter;

const START_MONTH: u32 = 202301;
const MONTHS: u32 = 24;
const BATCH: u64 = 50_000;

const USAGE: &str = "index benchmark: cargo bench -p canhgac-index --bench index -- \
     [--incidents N] [--per-incident K] [--dir DIR] [--queries N] [--threads N] [--skip-bare] [--reuse]";

struct Args {
    incidents: u64,
    per_incident: u64,
    dir: PathBuf,
    queries: usize,
    threads: usize,
    skip_bare: bool,
    /// Search the index left in DIR by an earlier run instead of building one.
    reuse: bool,
}

fn args() -> Args {
    let mut a = Args {
        incidents: 5_000_000,
        per_incident: 1,
        dir: std::env::temp_dir().join("canhgac-index-bench"),
        queries: 300,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        skip_bare: false,
        reuse: false,
    };
    let mut given: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` adds `--bench`; with nothing else it is a bare `cargo bench` of every target.
    let by_cargo_bench = given.iter().any(|k| k == "--bench");
    given.retain(|k| k != "--bench");
    if by_cargo_bench && given.is_empty() {
        println!("{USAGE}");
        std::process::exit(0);
    }
    let mut it = given.into_iter();
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("a value after the option");
        match k.as_str() {
            "--incidents" => a.incidents = v().parse().expect("a number"),
            "--per-incident" => a.per_incident = v().parse::<u64>().expect("a number").max(1),
            "--dir" => a.dir = PathBuf::from(v()),
            "--queries" => a.queries = v().parse().expect("a number"),
            "--threads" => a.threads = v().parse().expect("a number"),
            "--skip-bare" => a.skip_bare = true,
            "--reuse" => a.reuse = true,
            other => panic!("unknown option {other} ({USAGE})"),
        }
    }
    a
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn du(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        du(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The detections of incidents `from..to` with their JSON, `k` per incident, interleaved (every
/// incident's first detection, then every second, …), and the incidents' aggregates.
fn batch(
    from: u64,
    to: u64,
    k: u64,
) -> (Vec<(canhgac_core::Detection, Vec<u8>)>, Vec<IncidentRecord>) {
    let per: Vec<Vec<canhgac_core::Detection>> = (from..to)
        .map(|i| {
            let mut ds = incident_detections(i, k, START_MONTH, MONTHS);
            if k > 1 {
                for d in &mut ds {
                    d.grouping = grouping(d);
                }
            }
            ds
        })
        .collect();
    let records = per
        .iter()
        .map(|ds| {
            let mut r = IncidentRecord::from_detection(&ds[0]);
            for d in &ds[1..] {
                r.merge(d);
            }
            r
        })
        .collect();
    let mut out = Vec::with_capacity(per.len() * k as usize);
    for j in 0..k as usize {
        for ds in &per {
            let d = ds[j].clone();
            let json = serde_json::to_vec(&d).unwrap();
            out.push((d, json));
        }
    }
    (out, records)
}

/// Links of a generated detection: its incident's site (target) and a per-incident attacker.
fn grouping(d: &canhgac_core::Detection) -> Grouping {
    let link = |role, kind: &str, value: &str| Link {
        role,
        kind: kind.into(),
        value: value.into(),
    };
    Grouping {
        gap_secs: 72 * 3600,
        links: vec![
            link(LinkRole::Target, "domain", &d.group_key),
            link(LinkRole::Attack, "email", &format!("x@{}", d.group_key)),
        ],
    }
}

fn options(threads: usize) -> IndexerOptions {
    IndexerOptions {
        threads,
        heap_bytes: 512 << 20,
        ..Default::default()
    }
}

fn index_canhgac(a: &Args, dir: &Path) -> Duration {
    let mut ix = Indexer::open(dir, options(a.threads)).unwrap();
    let mut spent = Duration::ZERO;
    let mut from = 0;
    let per_batch = (BATCH / a.per_incident).max(1);
    while from < a.incidents {
        let to = (from + per_batch).min(a.incidents);
        let (docs, _) = batch(from, to, a.per_incident);
        let t = Instant::now();
        for (k, (_, json)) in docs.iter().enumerate() {
            let pos = Position {
                topic: "canhgac.detections".into(),
                partition: 0,
                offset: (from * a.per_incident) as i64 + k as i64,
            };
            ix.process(json, Some(&pos)).unwrap();
            if ix.should_commit() {
                ix.commit().unwrap();
            }
        }
        spent += t.elapsed();
        from = to;
        if from % (1_000_000 / a.per_incident).max(1) == 0 {
            eprintln!(
                "  canhgac: {from} incidents, {:.0}/s",
                from as f64 / spent.as_secs_f64()
            );
        }
    }
    let t = Instant::now();
    ix.commit().unwrap();
    ix.close().unwrap();
    spent + t.elapsed()
}

fn index_bare(a: &Args, dir: &Path) -> Duration {
    let (index, fields) = canhgac_index::store::open_index(dir, true).unwrap();
    let opts = options(a.threads);
    let mut writer: IndexWriter = index
        .writer_with_num_threads(opts.threads, opts.heap_bytes)
        .unwrap();
    writer.set_merge_policy(Box::new(canhgac_index::writer::merge_policy()));
    let mut spent = Duration::ZERO;
    let mut from = 0;
    let per_batch = (BATCH / a.per_incident).max(1);
    while from < a.incidents {
        let to = (from + per_batch).min(a.incidents);
        let (docs, records) = batch(from, to, a.per_incident);
        let t = Instant::now();
        for (d, json) in &docs {
            writer
                .add_document(detection_doc(&fields, d, &d.incident_id, json))
                .unwrap();
        }
        for rec in &records {
            let rjson = serde_json::to_vec(rec).unwrap();
            writer
                .add_document(incident_doc(&fields, rec, &rjson))
                .unwrap();
        }
        writer.commit().unwrap();
        spent += t.elapsed();
        from = to;
    }
    let t = Instant::now();
    writer.wait_merging_threads().unwrap();
    spent + t.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let a = args();
    let ours = a.dir.join("canhgac");
    let bare = a.dir.join("bare");
    if a.reuse && ours.exists() {
        println!("searching the index in {} (--reuse)", ours.display());
    } else {
        build(&a, &ours, &bare);
    }
    search(&a, &ours);
}

fn build(a: &Args, ours: &Path, bare: &Path) {
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir).unwrap();
    println!(
        "incidents: {} ({} detection(s) each), writer threads: {}, load before: {}",
        a.incidents,
        a.per_incident,
        a.threads,
        loadavg()
    );

    let t_ours = index_canhgac(a, ours);
    let rate_ours = (a.incidents * a.per_incident) as f64 / t_ours.as_secs_f64();
    println!(
        "canhgac indexer: {:.1} s, {:.0} detections/s (load {})",
        t_ours.as_secs_f64(),
        rate_ours,
        loadavg()
    );
    if !a.skip_bare {
        let t_bare = index_bare(a, bare);
        let rate_bare = (a.incidents * a.per_incident) as f64 / t_bare.as_secs_f64();
        println!(
            "bare tantivy:    {:.1} s, {:.0} detections/s (load {})",
            t_bare.as_secs_f64(),
            rate_bare,
            loadavg()
        );
        println!("ratio canhgac/bare: {:.2}", rate_ours / rate_bare);
        println!("bare size: {:.1} MiB", du(bare) as f64 / (1 << 20) as f64);
        let _ = std::fs::remove_dir_all(bare);
    }
    let size = du(ours);
    println!(
        "index size: {:.1} MiB, {:.0} bytes per incident (incident + detection documents, event JSON stored)",
        size as f64 / (1 << 20) as f64,
        size as f64 / a.incidents as f64
    );
}

fn search(a: &Args, ours: &Path) {
    let index = IncidentIndex::open(ours).unwrap();
    let terms = [
        "tan cong",
        "\"thay doi giao dien\"",
        "ma doc",
        "lua dao",
        "ssh",
        "du lieu",
        "portal",
        "web",
    ];
    let cats = [
        Category::Deface,
        Category::Malware,
        Category::Phishing,
        Category::Intrusion,
    ];
    let mut lat = Vec::new();
    let mut by_word = vec![(Duration::ZERO, Duration::ZERO); terms.len()];
    let mut total_hits = 0u64;
    for q in 0..a.queries {
        let mut req = SearchRequest::new(Scope::All, terms[q % terms.len()]);
        req.kind = Kind::Incidents;
        req.agencies = vec![AGENCIES[q % AGENCIES.len()].to_string()];
        req.categories = vec![cats[q % cats.len()]];
        let m = (q % 20) as u32;
        let start = canhgac_index::synth::month_start(START_MONTH, m);
        req.from = chrono::DateTime::from_timestamp(start, 0);
        req.to = chrono::DateTime::from_timestamp(
            canhgac_index::synth::month_start(START_MONTH, m + 3),
            0,
        );
        req.limit = 20;
        req.facets = q % 2 == 1;
        let t = Instant::now();
        let r = index.search(&req).unwrap();
        let took = t.elapsed();
        lat.push(took);
        let w = &mut by_word[q % terms.len()];
        w.0 = w.0.max(took);
        w.1 += took;
        total_hits += r.total;
    }
    for (i, (max, sum)) in by_word.iter().enumerate() {
        println!(
            "  {:<24} mean {:>7.1} ms  max {:>7.1} ms",
            terms[i],
            sum.as_secs_f64() * 1000.0 / (a.queries as f64 / terms.len() as f64),
            max.as_secs_f64() * 1000.0
        );
    }
    lat.sort();
    println!(
        "filtered full-text search ({} queries: words + agency + category + 3-month range, newest first, 20 hits, half with facets; {:.0} matches on average): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        a.queries,
        total_hits as f64 / a.queries as f64,
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99)
    );
    let mut st = Vec::new();
    let mut last = None;
    for k in 0..15 {
        let req = StatsRequest {
            scope: Scope::All,
            month: canhgac_index::stats::add_months(START_MONTH, i64::from(MONTHS) - 1),
            months: 12,
            top: 10,
        };
        let t = Instant::now();
        let r = index.monthly(&req).unwrap();
        if k > 0 {
            st.push(t.elapsed());
        }
        last = Some(r);
    }
    st.sort();
    let r = last.unwrap();
    println!(
        "monthly statistics, 12 months (+12 for year-over-year) over {} incidents: p50 {:.1} ms, max {:.1} ms",
        r.months.iter().map(|m| m.incidents).sum::<u64>(),
        percentile(&st, 0.5),
        st.last().unwrap().as_secs_f64() * 1000.0
    );
    println!("load after: {}", loadavg());
}
