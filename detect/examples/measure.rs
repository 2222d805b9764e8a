//! Load time, RSS and single-core throughput over a JSONL event file (gzip allowed):
//!
//! ```text
//! cargo run --release -p canhgac-detect --example measure -- \
//!     ../shared/data/windows/evtx-attack-samples.jsonl.gz RULE_DIR...
//! ```
//!
//! Prints: rules loaded, load time, RSS after load, events/s with decoding excluded
//! (pre-parsed Events) and included (JSON text → Event → eval), and the match count.
//! Environment: `ROUNDS=n` timed passes (best is reported), `SKIP_DECODE=1` skips the
//! decode-included passes, `MATCHES=FILE` writes `line-index<TAB>rule-id` for every match (to
//! compare match sets with another engine), `SCANNERS=1` lists the largest automata and the
//! rules without a prefilter.

use std::io::Read;
use std::time::Instant;

use canhgac_detect::{EngineBuilder, Mappings};

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (events_path, rule_dirs) = args
        .split_first()
        .expect("usage: measure EVENTS.jsonl[.gz] RULE_DIR...");
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);

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
    let events: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            canhgac_detect::input::record_to_event(
                v,
                "bench",
                i as u64,
                l.as_bytes(),
                chrono::Utc::now(),
            )
        })
        .collect();
    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    let mut matches = 0;
    for e in &events {
        out.clear();
        engine.eval(e, &mut scratch, &mut out);
        matches += out.len();
    }
    if let Ok(path) = std::env::var("MATCHES") {
        // (event line index, rule id) for comparing match sets with another engine
        let mut w = String::new();
        for (i, e) in events.iter().enumerate() {
            out.clear();
            engine.eval(e, &mut scratch, &mut out);
            for r in &out {
                w.push_str(&format!("{i}\t{}\n", engine.rule(*r).id));
            }
        }
        std::fs::write(path, w).expect("write matches");
    }
    let mut best = f64::MAX;
    let cpu0 = cpu_secs();
    for _ in 0..rounds {
        let t = Instant::now();
        for e in &events {
            out.clear();
            engine.eval(e, &mut scratch, &mut out);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let cpu_eval = (cpu_secs() - cpu0) / rounds as f64;
    let mut best_dec = f64::MAX;
    let dec_rounds = if std::env::var("SKIP_DECODE").is_ok() {
        0
    } else {
        rounds
    };
    for _ in 0..dec_rounds {
        let t = Instant::now();
        for (i, l) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let e = canhgac_detect::input::record_to_event(
                v,
                "bench",
                i as u64,
                l.as_bytes(),
                chrono::Utc::now(),
            );
            out.clear();
            engine.eval(&e, &mut scratch, &mut out);
        }
        best_dec = best_dec.min(t.elapsed().as_secs_f64());
    }
    println!(
        "events {} matches {} eval_only {:.0} ev/s (cpu-time {:.0} ev/s, {:.2} us/ev wall) with_decode {:.0} ev/s rss_end {:.1}MB",
        events.len(),
        matches,
        events.len() as f64 / best,
        events.len() as f64 / cpu_eval,
        best * 1e6 / events.len() as f64,
        events.len() as f64 / best_dec,
        rss_mb()
    );
}
