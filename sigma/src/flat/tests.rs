//! The walk against the `Value` path (extraction, keyword text, keyword values) on every
//! record of the shared JSON data sets, with the slots of the whole SigmaHQ corpus.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::extract::{join_scalars, keywords, Extractor, Fields};
use crate::{Engine, EngineBuilder, Mappings};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

fn lines(rel: &str, max: usize) -> Vec<String> {
    let raw = std::fs::read(data().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut text = String::new();
    if rel.ends_with(".gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .expect("gzip");
    } else {
        text = String::from_utf8(raw).expect("utf-8");
    }
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .take(max)
        .map(str::to_string)
        .collect()
}

/// A slot and its values as (text, folded text, null), in order.
type SlotValues = (u32, Vec<(Vec<u8>, Vec<u8>, bool)>);

fn dump(f: &Fields, n: usize) -> Vec<SlotValues> {
    (0..n as u32)
        .filter(|&s| f.has(s))
        .map(|s| {
            (
                s,
                f.values(s)
                    .map(|v| (f.orig(v).to_vec(), f.low(v).to_vec(), v.null))
                    .collect(),
            )
        })
        .collect()
}

fn engine() -> Engine {
    let r = data().join("sigma/rules");
    let mut b = EngineBuilder::new(Mappings::builtin());
    for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        b.add_path(&r.join(d)).expect("rules");
    }
    b.add_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma"))
        .expect("own rules");
    b.build().0
}

/// Reads `line` both ways and asserts the same fields, keyword text and keyword values;
/// returns what the `Value` extraction reported, `None` when the record has no plan.
fn compare(
    engine: &Engine,
    rec: &mut FlatRecord,
    line: &str,
    at: &str,
    walked: &mut usize,
    declined: &mut usize,
) -> Option<Vec<(u32, Value)>> {
    let n = engine.slots.len();
    let v: Value = serde_json::from_str(line).expect("json");
    let dataset = crate::testsuite::guess_dataset(&v);
    let &pi = engine.plan_by_dataset.get(dataset.as_str())?;
    let layout = engine.plans[pi as usize].layout;
    let mut path = String::new();
    let mut pairs = Vec::new();
    Extractor {
        slots: &engine.slots,
        path: &mut path,
        sink: |slot, x: &Value| pairs.push((slot, x.clone())),
    }
    .run(layout, &v);
    if rec.read(line, layout, &engine.slots).is_err() {
        *declined += 1;
        return Some(pairs);
    }
    *walked += 1;
    let mut by_value = Fields::new(n);
    for (slot, x) in &pairs {
        by_value.push_json(*slot, x);
    }
    // As `Engine::eval_flat` links them: ranges of the record's text and keyword text.
    let mut by_walk = Fields::new(n);
    let t = by_walk.append(&rec.text);
    let k = by_walk.append(&rec.kw);
    for (slot, x) in &rec.fields {
        let (orig, low) = ((t + x.start, t + x.end), (k + x.low.0, k + x.low.1));
        by_walk.push_ranges(*slot, orig, low, x.null);
    }
    assert_eq!(dump(&by_walk, n), dump(&by_value, n), "fields of {at}");

    let mut kw = Vec::new();
    join_scalars(&v, &mut kw);
    assert!(kw == rec.kw, "keyword text of {at}");

    let mut kv = Fields::new(n);
    keywords(&mut kv, &v);
    let mut kf = Fields::new(n);
    for x in rec.scalars.iter().filter(|x| !x.null) {
        let t = &rec.text[x.start as usize..x.end as usize];
        kf.push_text(crate::compile::KEYWORD_SLOT, t, false);
    }
    assert_eq!(dump(&kf, n), dump(&kv, n), "keyword values of {at}");
    Some(pairs)
}

#[test]
fn walk_equals_the_value_path_on_the_shared_data() {
    let engine = engine();
    let mut sets = vec![
        (
            "windows/evtx-attack-samples.jsonl.gz".to_string(),
            usize::MAX,
        ),
        ("network/suricata/alerts.ndjson".to_string(), usize::MAX),
        (
            "network/zeek/otrf-apt29-day1/combined_zeek.log.gz".to_string(),
            usize::MAX,
        ),
    ];
    for log in [
        "dns",
        "ssl",
        "x509",
        "smtp",
        "kerberos",
        "dce_rpc",
        "smb_files",
        "smb_mapping",
        "weird",
        "notice",
        "syslog",
        "ssh",
        "rdp",
        "ntlm",
    ] {
        sets.push((format!("network/zeek/zed-sample-data/{log}.json.gz"), 3_000));
    }
    let mut rec = FlatRecord::new();
    let (mut walked, mut declined) = (0usize, 0usize);
    for (rel, max) in &sets {
        let rel = rel.as_str();
        for (i, line) in lines(rel, *max).iter().enumerate() {
            let at = format!("{rel}:{}", i + 1);
            let Some(pairs) = compare(&engine, &mut rec, line, &at, &mut walked, &mut declined)
            else {
                continue;
            };
            // The same Windows event flattened to its field names (as NXLog writes it, or
            // scripts/flatten-evtx.jq): read as a flat record under the evtx layout.
            if rel.starts_with("windows/") {
                let mut flat = serde_json::Map::new();
                for (slot, x) in pairs {
                    if !x.is_object() {
                        flat.entry(engine.slots.name(slot).to_string()).or_insert(x);
                    }
                }
                let flat = Value::Object(flat).to_string();
                compare(
                    &engine,
                    &mut rec,
                    &flat,
                    &format!("{at} flattened"),
                    &mut walked,
                    &mut declined,
                );
            }
        }
    }
    // Non-ASCII text (folded per scalar, ranges no longer shared), escapes, numbers that
    // serde_json prints its own way, nulls beside the values after them.
    for (i, line) in [
        r##"{"EventID":1,"Channel":"Security","Image":"C:\\Users\\ĐẶNG Văn\\x.exe","User":null,"CommandLine":"ÉCHO \"Ǆ\" ß","ParentImage":"C:\\A.EXE","ProcessId":-0,"Hashes":"ẞ"}"##,
        r##"{"EventID":4688,"Channel":"Security","NewProcessName":"\u0110\u00c9\ud83d\ude00 X","SubjectUserName":null,"TargetUserName":"ADMIN","CommandLine":1.50,"ProcessId":1e3}"##,
        r##"{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"Data":[{"#attributes":{"Name":"Image"},"#text":"Ä.EXE"},{"#attributes":{"Name":"User"}},{"#attributes":{"Name":"CommandLine"},"#text":"ÖL X"}]}}}"##,
    ]
    .iter()
    .enumerate()
    {
        let at = format!("synthetic record {}", i + 1);
        let seen = compare(&engine, &mut rec, line, &at, &mut walked, &mut declined);
        assert!(seen.is_some(), "{at} has no plan");
    }
    assert!(walked > 20_000, "walked {walked}, declined {declined}");
    assert_eq!(declined, 0, "no shared record needs the Value path");
}

#[test]
fn shapes_the_walk_declines_or_handles() {
    let slots = {
        let mut t = SlotTable::default();
        for n in [
            "Data",
            "Image",
            "message",
            "a.b",
            "EventID",
            "Provider_Name",
        ] {
            t.slot(n);
        }
        t
    };
    let mut rec = FlatRecord::new();
    // Winlogbeat and NXLog records under the evtx layout: decoded as Values instead.
    assert!(rec
        .read(r##"{"winlog": {"event_id": 1}}"##, Layout::Evtx, &slots)
        .is_err());
    assert!(rec
        .read(r##"{"Event": "text"}"##, Layout::Evtx, &slots)
        .is_err());
    // XML-style objects below the top of a flat record.
    assert!(rec
        .read(r##"{"a": {"#text": "x"}}"##, Layout::Flat, &slots)
        .is_err());
    assert!(rec.read("{not json", Layout::Flat, &slots).is_err());
    // A Data item whose Name comes after its text, one without text, one without name.
    let j = r##"{"Event": {"System": {"EventID": 1, "Provider": {"#attributes": {"Name": "P"}}},
        "EventData": {"Data": [{"#text": "C:\\x.exe", "#attributes": {"Name": "Image"}},
                               {"#attributes": {"Name": "Image"}}, {"#text": "free"}, 7]}}}"##;
    rec.read(j, Layout::Evtx, &slots).expect("evtx");
    let names: Vec<(u32, &[u8], bool)> = rec
        .fields
        .iter()
        .map(|(s, x)| (*s, &rec.text[x.start as usize..x.end as usize], x.null))
        .collect();
    let (data, image, id, prov) = (
        slots.get("Data").unwrap(),
        slots.get("Image").unwrap(),
        slots.get("EventID").unwrap(),
        slots.get("Provider_Name").unwrap(),
    );
    assert_eq!(
        names,
        vec![
            (id, &b"1"[..], false),
            (prov, &b"P"[..], false),
            (image, &b"C:\\x.exe"[..], false),
            (image, &b""[..], true),
            (data, &b"free"[..], false),
            (data, &b"7"[..], false),
        ]
    );
    // A record that is not an object is a message.
    rec.read(r##""plain text""##, Layout::Flat, &slots)
        .expect("string");
    assert_eq!(rec.fields.len(), 1);
    assert_eq!(rec.kw, b"plain text\xff");
}

/// `eval_json` errs on text that is not one JSON value, whatever the dataset: routed ones
/// through the walk or serde_json, others through a check of the text alone (the worker's
/// envelope reader leaves `original` to it unchecked).
#[test]
fn eval_json_checks_the_text_of_every_dataset() {
    let engine = engine();
    let mut s = engine.scratch();
    let mut out = Vec::new();
    for dataset in ["windows", "web.access", "no.rules.read.this"] {
        for (text, ok) in [
            (r#"{"a": 1}"#, true),
            (" [1, \"x\"] ", true),
            (r#"{"a": 1}, "v": 1"#, false),
            (r#"{"a": 1"#, false),
            ("", false),
        ] {
            let got = engine.eval_json(dataset, text, &mut s, &mut out);
            assert_eq!(got.is_ok(), ok, "{dataset}: {text}");
        }
    }
}
