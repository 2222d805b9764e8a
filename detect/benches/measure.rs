//! Load time, RSS and single-core throughput over a JSONL event file (gzip allowed):
//!
//! ```text
//! cargo bench -p canhgac-detect --bench measure -- \
//!     ../shared/data/windows/evtx-attack-samples.jsonl.gz RULE_DIR...
//! ```
//!
//! Prints rules loaded, load time, RSS after load, the match count, then events/s for three
//! passes over the events (best of `ROUNDS`):
//!
//! - `eval`: pre-parsed Events, evaluation only;
//! - `json`: record text → evaluation ([`Engine::eval_json`]: no `Value` is built), the
//!   dataset known (as a sensor knows it);
//! - `flat`: evaluation alone over records already read from their text
//!   ([`Engine::read_record`] beforehand, [`Engine::eval_record`] timed): the decoded form the
//!   detect worker evaluates;
//! - `raw`: record text → `serde_json::Value` → [`record_to_event`] (blake3 id, timestamp)
//!   → evaluation, the path of `hunt` over JSON lines;
//! - `event`: a serialized Event (the detect worker's Kafka payload, built here from the same
//!   records, its ECS fields filled by the ingest Windows decoder as a sensor fills them) →
//!   `PayloadHead` (the envelope read, the record left as text) → `eval_json`, and the whole
//!   `Event` decoded for events that matched: the path of the detect worker (its IOC lookups
//!   and detections excepted);
//! - `par`: the `event` pass on every core, in batches of 512 as the worker evaluates them.
//!
//! Environment: `ROUNDS=n` timed passes per kind (best is reported, default 5), `PASSES=a,b`
//! which passes to run (default `eval,flat,json,raw,event`; `par` on request), `MATCHES=FILE` writes
//! `line-index<TAB>rule-id` for every match (to compare match sets; it also checks that `eval_json`
//! matches the same rules as `eval` on every event), `SCANNERS=1` lists the
//! largest automata and the rules without a prefilter.
//!
//! Each pass is its own non-inlined function, so a profiler can count exactly one of them:
//! `valgrind --tool=callgrind --toggle-collect='*measure*pass_eval*' …` (see
//! `scripts/bench-sigma.sh --callgrind`).
//!
//! [`record_to_event`]: canhgac_sigma::testsuite::record_to_event

use std::io::Read;
use std::time::Instant;

use canhgac_core::Event;
use canhgac_detect::input::PayloadHead;
use canhgac_sigma::flat::FlatRecord;

// The allocator of the `canhgac` binary, so that offline and worker figures compare the same
// code.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use canhgac_sigma::{Engine, EngineBuilder, Mappings, RuleIdx, Scratch};

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn to_event(i: usize, l: &str, now: chrono::DateTime<chrono::Utc>) -> Event {
    let v: serde_json::Value = serde_json::from_str(l).expect("json");
    canhgac_sigma::testsuite::record_to_event(v, "bench", i as u64, l.as_bytes(), now)
}

/// Evaluation of pre-parsed events.
#[inline(never)]
fn pass_eval(engine: &Engine, s: &mut Scratch, out: &mut Vec<RuleIdx>, events: &[Event]) -> usize {
    let mut n = 0;
    for e in events {
        out.clear();
        engine.eval(e, s, out);
        n += out.len();
    }
    n
}

/// The untimed first pass (a profiler counting `pass_*` leaves it out). Not the same code as
/// `pass_eval`, or the linker folds the two into one symbol.
#[inline(never)]
fn warm_up(engine: &Engine, s: &mut Scratch, out: &mut Vec<RuleIdx>, events: &[Event]) -> usize {
    let mut n = 0;
    for e in events {
        out.clear();
        engine.eval(e, s, out);
        n += std::hint::black_box(out.len());
    }
    n
}

/// Record text → Value → Event → evaluation.
#[inline(never)]
fn pass_raw(engine: &Engine, s: &mut Scratch, out: &mut Vec<RuleIdx>, lines: &[&str]) -> usize {
    let now = chrono::Utc::now();
    let mut n = 0;
    for (i, l) in lines.iter().enumerate() {
        let e = to_event(i, l, now);
        out.clear();
        engine.eval(&e, s, out);
        n += out.len();
    }
    n
}

/// Record text → evaluation, no `Value`.
#[inline(never)]
fn pass_json(
    engine: &Engine,
    s: &mut Scratch,
    out: &mut Vec<RuleIdx>,
    lines: &[&str],
    events: &[Event],
) -> usize {
    let mut n = 0;
    for (l, e) in lines.iter().zip(events) {
        out.clear();
        engine
            .eval_json(e.dataset.as_str(), l, s, out)
            .expect("json");
        n += out.len();
    }
    n
}

/// Records already read from their text → evaluation.
#[inline(never)]
fn pass_flat(
    engine: &Engine,
    s: &mut Scratch,
    out: &mut Vec<RuleIdx>,
    records: &[(String, FlatRecord)],
) -> usize {
    let mut n = 0;
    for (dataset, r) in records {
        out.clear();
        engine.eval_record(dataset, r, s, out);
        n += out.len();
    }
    n
}

/// Serialized Event (Kafka payload) → `PayloadHead` → `eval_json` → the whole `Event` when
/// something matched (as the detect worker does).
#[inline(never)]
fn pass_event(
    engine: &Engine,
    s: &mut Scratch,
    out: &mut Vec<RuleIdx>,
    payloads: &[Vec<u8>],
) -> usize {
    payloads
        .iter()
        .map(|p| eval_payload(engine, s, out, p))
        .sum()
}

/// One payload as the worker takes it: `PayloadHead` → `eval_json` → the whole `Event` when
/// something matched; the number of rules that matched.
#[inline]
fn eval_payload(engine: &Engine, s: &mut Scratch, out: &mut Vec<RuleIdx>, p: &[u8]) -> usize {
    let mut head = PayloadHead::read(p).expect("event payload");
    out.clear();
    head.eval(engine, s, out).expect("original");
    // What the IOC lists read, when any is loaded (every production worker loads some).
    std::hint::black_box(head.ioc_fields(&mut None).expect("ecs"));
    if !out.is_empty() {
        std::hint::black_box(head.event().expect("event"));
    }
    out.len()
}

/// The `event` pass on every core: batches of 512 payloads, each evaluated in parallel with
/// rayon, as the detect worker's evaluation jobs are.
#[inline(never)]
fn pass_par(engine: &Engine, payloads: &[Vec<u8>]) -> usize {
    use rayon::prelude::*;
    payloads
        .chunks(512)
        .map(|batch| {
            batch
                .par_iter()
                .map_init(
                    || (engine.scratch(), Vec::new()),
                    |(s, out), p| eval_payload(engine, s, out, p),
                )
                .sum::<usize>()
        })
        .sum()
}

fn best_of(rounds: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        n = std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn main() {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (events_path, rule_dirs) = args
        .split_first()
        .expect("usage: measure EVENTS.jsonl[.gz] RULE_DIR...");
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let passes = std::env::var("PASSES").unwrap_or_else(|_| "eval,flat,json,raw,event".into());
    let pass = |name: &str| passes.split(',').any(|p| p.trim() == name);

    let rss0 = rss_mb();
    let t = Instant::now();
    let mut b = EngineBuilder::new(Mappings::builtin());
    for d in rule_dirs {
        b.add_path(d.as_ref()).expect("rules");
    }
    let (engine, report) = b.build();
    let load = t.elapsed();
    let rss_loaded = rss_mb();
    println!(
        "rules loaded {} rejected {} load {:.3}s rss_before {:.1}MB rss_after_load {:.1}MB stats {:?}",
        engine.len(),
        report.rejections.len(),
        load.as_secs_f64(),
        rss0,
        rss_loaded,
        engine.stats()
    );

    if std::env::var("SCANNERS").is_ok() {
        for r in engine.unprefiltered() {
            println!("unprefiltered {} {} {}", r.logsource, r.id, r.title);
        }
        for s in engine.scanner_sizes().iter().take(15) {
            println!("scanner {s:?}");
        }
    }
    let raw = std::fs::read(events_path).expect("events");
    let text = if events_path.ends_with(".gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .expect("gunzip");
        s
    } else {
        String::from_utf8(raw).expect("utf8")
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let now = chrono::Utc::now();
    let events: Vec<Event> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| to_event(i, l, now))
        .collect();
    let payloads: Vec<Vec<u8>> = if pass("event") || pass("par") {
        // As a sensor publishes them: the ECS fields filled by the ingest decoder.
        let mut dec = canhgac_ingest::decode::WindowsDecoder::new(&Default::default());
        events
            .iter()
            .zip(&lines)
            .map(|(e, l)| {
                let mut e = e.clone();
                if let Ok(Some(d)) = canhgac_ingest::decode::Decoder::decode(&mut dec, l.as_bytes())
                {
                    e.ecs = d.ecs;
                }
                serde_json::to_vec(&e).expect("serialize")
            })
            .collect()
    } else {
        Vec::new()
    };
    let records: Vec<(String, FlatRecord)> = if pass("flat") {
        lines
            .iter()
            .zip(&events)
            .map(|(l, e)| {
                let mut r = FlatRecord::new();
                engine
                    .read_record(e.dataset.as_str(), l, &mut r)
                    .expect("a record the text walk reads");
                (e.dataset.as_str().to_string(), r)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    // Warm-up pass (route cache, buffers, regex caches); its count is the match count.
    let matches = warm_up(&engine, &mut scratch, &mut out, &events);
    if let Ok(path) = std::env::var("MATCHES") {
        let mut w = String::new();
        let mut by_text = Vec::new();
        for (i, e) in events.iter().enumerate() {
            out.clear();
            engine.eval(e, &mut scratch, &mut out);
            for r in &out {
                w.push_str(&format!("{i}\t{}\n", engine.rule(*r).id));
            }
            // The text path must give the same rules on every event.
            by_text.clear();
            engine
                .eval_json(e.dataset.as_str(), lines[i], &mut scratch, &mut by_text)
                .expect("json");
            assert_eq!(
                by_text,
                out,
                "eval_json differs from eval on line {}",
                i + 1
            );
        }
        std::fs::write(path, w).expect("write matches");
    }
    println!(
        "events {} matches {} payload_bytes_per_event {:.0}",
        events.len(),
        matches,
        payloads.iter().map(Vec::len).sum::<usize>() as f64 / events.len().max(1) as f64
    );
    let n = events.len() as f64;
    let mut line = String::new();
    for (name, on) in [
        ("eval", pass("eval")),
        ("flat", pass("flat")),
        ("json", pass("json")),
        ("raw", pass("raw")),
        ("event", pass("event")),
        ("par", pass("par")),
    ] {
        if !on {
            continue;
        }
        let (secs, m) = match name {
            "eval" => best_of(rounds, || {
                pass_eval(&engine, &mut scratch, &mut out, &events)
            }),
            "flat" => best_of(rounds, || {
                pass_flat(&engine, &mut scratch, &mut out, &records)
            }),
            "json" => best_of(rounds, || {
                pass_json(&engine, &mut scratch, &mut out, &lines, &events)
            }),
            "raw" => best_of(rounds, || pass_raw(&engine, &mut scratch, &mut out, &lines)),
            "par" => best_of(rounds, || pass_par(&engine, &payloads)),
            _ => best_of(rounds, || {
                pass_event(&engine, &mut scratch, &mut out, &payloads)
            }),
        };
        assert_eq!(m, matches, "{name} pass found a different match count");
        line.push_str(&format!(
            "{name} {:.0} ev/s ({:.2} us/ev)  ",
            n / secs,
            secs * 1e6 / n
        ));
    }
    println!("{line}rss_end {:.1}MB", rss_mb());
}
