//! rsigma 0.23 evaluation timed as a library (issue 3's comparison).
//!
//! `rsigma-eval-bench EVENTS.jsonl RULE_DIR…` loads the rule trees into one `rsigma_eval::Engine`
//! with logsource pruning on `product: windows` (what `rsigma engine eval --logsource-routing
//! --event-logsource product=windows` does), decodes every line into a `serde_json::Value` once,
//! then times, best of `ROUNDS` (default 5) passes:
//!
//! - `eval`: evaluation only over the pre-decoded events (`Engine::evaluate`);
//! - `routed`: evaluation only, each event given its Sigma logsource (product, service from the
//!   channel, Sysmon category from the EventID, as SigmaHQ's `thor.yml`) through
//!   `Engine::evaluate_pruned`, the most pruning rsigma can do with this data;
//! - `raw`: JSON line → `Value` → evaluation.
//!
//! `PASSES=eval,routed,raw` picks the passes. `ALTERNATE=1` also loads canhgac-sigma over the
//! same rule trees and times both engines in this one process, pass by pass in alternation
//! (ours on pre-decoded `Value`s, on records already read from their text, and from the record
//! text; rsigma `eval` and `raw`),
//! so that the machine's drift cancels out of the ratios; best of `ROUNDS` each. `MATCHES=FILE` writes `line<TAB>rule id` for every match of the `eval` pass.
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use rsigma_eval::{Engine, JsonEvent, LogSourceExtractor};
use rsigma_parser::{parse_sigma_directory, LogSource, SigmaCollection};
use serde_json::Value;

fn windows() -> LogSource {
    LogSource {
        product: Some("windows".into()),
        ..LogSource::default()
    }
}

/// The event's logsource as SigmaHQ's regression harness (`thor.yml`) derives it.
fn logsource_of(v: &Value) -> LogSource {
    let s = |k: &str| {
        v.get(k).map(|x| {
            x.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| x.to_string())
        })
    };
    let channel = s("Channel").unwrap_or_default();
    let id: u32 = s("EventID").and_then(|x| x.parse().ok()).unwrap_or(0);
    let mut ls = windows();
    let service = match channel.as_str() {
        "Security" => "security",
        "System" => "system",
        "Application" => "application",
        "Microsoft-Windows-Sysmon/Operational" => "sysmon",
        "Microsoft-Windows-PowerShell/Operational" => "powershell",
        "Windows PowerShell" => "powershell-classic",
        "Microsoft-Windows-Windows Defender/Operational" => "windefend",
        "Microsoft-Windows-TaskScheduler/Operational" => "taskscheduler",
        "Microsoft-Windows-WMI-Activity/Operational" => "wmi",
        _ => "",
    };
    if !service.is_empty() {
        ls.service = Some(service.into());
    }
    let category = match (channel.as_str(), id) {
        ("Microsoft-Windows-Sysmon/Operational", n) => match n {
            1 => "process_creation",
            2 => "file_change",
            3 => "network_connection",
            5 => "process_termination",
            6 => "driver_load",
            7 => "image_load",
            8 => "create_remote_thread",
            9 => "raw_access_thread",
            10 => "process_access",
            11 => "file_event",
            12..=14 => "registry_event",
            15 => "create_stream_hash",
            17 | 18 => "pipe_created",
            19..=21 => "wmi_event",
            22 => "dns_query",
            23 | 26 => "file_delete",
            24 => "clipboard_capture",
            25 => "process_tampering",
            _ => "",
        },
        ("Microsoft-Windows-PowerShell/Operational", 4104) => "ps_script",
        ("Microsoft-Windows-PowerShell/Operational", 4103) => "ps_module",
        ("Windows PowerShell", 400) => "ps_classic_start",
        ("Windows PowerShell", 600) => "ps_classic_provider_start",
        _ => "",
    };
    if !category.is_empty() {
        // A category event carries no service dimension in Sigma's sense.
        ls.service = None;
        ls.category = Some(category.into());
    }
    ls
}

fn best<F: FnMut() -> usize>(rounds: usize, n: usize, label: &str, mut f: F) -> usize {
    let mut best = f64::MAX;
    let mut matches = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        matches = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label:>7}: {:>9.0} events/s  {:>6.2} µs/event  {matches} matches  (best of {rounds})",
        n as f64 / best,
        best * 1e6 / n as f64
    );
    matches
}

#[inline(never)]
fn pass_eval(engine: &Engine, events: &[Value]) -> usize {
    events
        .iter()
        .map(|v| engine.evaluate(&JsonEvent::borrow(v)).len())
        .sum()
}

#[inline(never)]
fn pass_raw(engine: &Engine, lines: &[&str]) -> usize {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            engine.evaluate(&JsonEvent::borrow(&v)).len()
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: rsigma-eval-bench EVENTS.jsonl RULE_DIR...");
        std::process::exit(2);
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);

    let t = Instant::now();
    let mut collection = SigmaCollection::new();
    for dir in &args[1..] {
        let c = parse_sigma_directory(Path::new(dir)).expect("rule directory");
        collection.rules.extend(c.rules);
        collection.correlations.extend(c.correlations);
        collection.filters.extend(c.filters);
        collection.errors.extend(c.errors);
    }
    let mut engine = Engine::new();
    engine.set_logsource_extractor(Some(LogSourceExtractor::new().with_defaults(windows())));
    engine.add_collection(&collection).expect("rules compile");
    println!(
        "   load: {:.2} s, {} rules ({} parse errors)",
        t.elapsed().as_secs_f64(),
        engine.rule_count(),
        collection.errors.len()
    );

    let text = std::fs::read_to_string(&args[0]).expect("events file");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let logsources: Vec<LogSource> = events.iter().map(logsource_of).collect();
    let n = events.len();

    let passes = std::env::var("PASSES").unwrap_or_else(|_| "eval,routed,raw".into());
    let on = |p: &str| passes.split(',').any(|x| x == p);
    if on("eval") {
        best(rounds, n, "eval", || pass_eval(&engine, &events));
    }
    if on("routed") {
        best(rounds, n, "routed", || {
            events
                .iter()
                .zip(&logsources)
                .map(|(v, ls)| engine.evaluate_pruned(&JsonEvent::borrow(v), ls).len())
                .sum()
        });
    }
    if on("raw") {
        best(rounds, n, "raw", || pass_raw(&engine, &lines));
    }

    if std::env::var("ALTERNATE").is_ok() {
        alternate(&engine, &args[1..], &lines, &events, rounds);
    }

    if let Ok(path) = std::env::var("MATCHES") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("MATCHES file"));
        for (i, v) in events.iter().enumerate() {
            for r in engine.evaluate(&JsonEvent::borrow(v)) {
                let id = r.header.rule_id.as_deref().unwrap_or(&r.header.rule_title);
                writeln!(out, "{}\t{}", i + 1, id).expect("write");
            }
        }
    }
}

/// Both engines, pass by pass in alternation, in this process.
fn alternate(rs: &Engine, dirs: &[String], lines: &[&str], values: &[Value], rounds: usize) {
    use canhgac_sigma::{EngineBuilder, Mappings};
    let t = Instant::now();
    let mut b = EngineBuilder::new(Mappings::builtin());
    for d in dirs {
        b.add_path(Path::new(d)).expect("rules");
    }
    let (ours, report) = b.build();
    println!(
        "   canhgac-sigma load: {:.2} s, {} rules ({} rejected)",
        t.elapsed().as_secs_f64(),
        ours.len(),
        report.rejections.len()
    );
    let now = chrono_now();
    let events: Vec<canhgac_core::Event> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            canhgac_sigma::testsuite::record_to_event(
                v.clone(),
                "bench",
                i as u64,
                lines[i].as_bytes(),
                now,
            )
        })
        .collect();
    let mut s = ours.scratch();
    let mut out = Vec::new();
    let mut ours_eval = || {
        let mut n = 0;
        for e in &events {
            out.clear();
            ours.eval(e, &mut s, &mut out);
            n += out.len();
        }
        n
    };
    let mut s2 = ours.scratch();
    let mut out2 = Vec::new();
    let mut ours_json = || {
        let mut n = 0;
        for (l, e) in lines.iter().zip(&events) {
            out2.clear();
            ours.eval_json(e.dataset.as_str(), l, &mut s2, &mut out2)
                .expect("json");
            n += out2.len();
        }
        n
    };
    // Records already read from their text: the decoded form the detect worker evaluates.
    let records: Vec<canhgac_sigma::flat::FlatRecord> = lines
        .iter()
        .zip(&events)
        .map(|(l, e)| {
            let mut r = canhgac_sigma::flat::FlatRecord::new();
            ours.read_record(e.dataset.as_str(), l, &mut r)
                .expect("record");
            r
        })
        .collect();
    let mut s3 = ours.scratch();
    let mut out3 = Vec::new();
    let mut ours_flat = || {
        let mut n = 0;
        for (r, e) in records.iter().zip(&events) {
            out3.clear();
            ours.eval_record(e.dataset.as_str(), r, &mut s3, &mut out3);
            n += out3.len();
        }
        n
    };
    let n = lines.len() as f64;
    let mut best = [f64::MAX; 5];
    let mut counts = [0usize; 5];
    for _ in 0..rounds {
        for k in 0..5 {
            let t = Instant::now();
            counts[k] = match k {
                0 => ours_eval(),
                1 => ours_flat(),
                2 => pass_eval(rs, values),
                3 => ours_json(),
                _ => pass_raw(rs, lines),
            };
            best[k] = best[k].min(t.elapsed().as_secs_f64());
        }
    }
    let rate = |k: usize| n / best[k];
    println!(
        "   alternating, best of {rounds}: evaluation alone: rsigma {:.0} ev/s ({} matches); ours over read records {:.0} ev/s ({}) -> {:.2}x, over Values {:.0} ev/s -> {:.2}x",
        rate(2), counts[2], rate(1), counts[1], rate(1) / rate(2), rate(0), rate(0) / rate(2)
    );
    println!(
        "   alternating, best of {rounds}: text -> evaluation: rsigma {:.0} ev/s; ours {:.0} ev/s -> {:.2}x",
        rate(4), rate(3), rate(3) / rate(4)
    );
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
