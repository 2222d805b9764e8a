//! The detect worker's payload reader on what sensors publish. Records of every kind of shared
//! data are read and decoded by the ingest crate and serialized by the sensor's own encoder;
//! for each payload the envelope reader must take it without falling back to serde_json, find
//! the head the event has, and evaluating through it must match the same rules and the same
//! IOC indicators as evaluating the decoded event.

use canhgac_sigma::testsuite as common;

use canhgac_core::event::{Event, SourceKind, SourceRef};
use canhgac_core::topics::Topics;
use canhgac_detect::envelope;
use canhgac_detect::input::PayloadHead;
use canhgac_detect::ioc::{IocLoader, IocSet, ListFormat};
use canhgac_ingest::sensor::Identity;
use canhgac_ingest::{FileReader, Item, ReadOptions};

/// The payloads a sensor publishes for the first `max` records of `rel`.
fn payloads(rel: &str, max: usize) -> Vec<Vec<u8>> {
    let path = common::data_dir().join(rel);
    let mut reader = FileReader::open(&path, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let id = Identity {
        agency: "bo-test".into(),
        sensor: "s1".into(),
        topics: Topics::new("canhgac").expect("topics"),
    };
    let received = "2026-11-23T01:02:03.456789Z".parse().expect("time");
    let mut out = Vec::new();
    while out.len() < max {
        match reader.next_item().expect("readable") {
            None => break,
            Some(Item::Event {
                offset,
                line,
                raw,
                decoded,
            }) => {
                let source = SourceRef {
                    kind: SourceKind::File,
                    name: rel.into(),
                    offset: Some(offset),
                    line: Some(line),
                };
                let (_, m) = id.event_message(source, rel.as_bytes(), &raw, *decoded, received);
                out.push(m.payload);
            }
            Some(_) => {}
        }
    }
    assert!(!out.is_empty(), "{rel}: no events");
    out
}

const DATA: [(&str, usize); 7] = [
    ("windows/evtx-attack-samples.jsonl.gz", 3000),
    ("network/suricata/alerts.ndjson", 1000),
    ("network/zeek/otrf-apt29-day1/combined_zeek.log.gz", 1000),
    (
        "web/web_attack_and_isp_webshell_localhost_access_log.txt",
        1000,
    ),
    ("web/Tunna_rdp_tunnel_IIS.log", 500),
    ("syslog/OpenSSH_2k.log", 500),
    ("email/sample-1.eml", 1),
];

/// The project's IOC lists (maltrail, ESET's MISP events, the MISP warninglists), and a plain
/// list of values found in every 7th event's ECS fields, so that every field kind matches.
fn ioc_set<'a>(events: impl Iterator<Item = &'a Event>) -> IocSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/ioc");
    let mut l = IocLoader::new().var("CANHGAC_DATA", common::data_dir().display().to_string());
    for def in [
        "maltrail-malicious.yaml",
        "maltrail-malware.yaml",
        "eset-misp.yaml",
        "misp-warninglists.yaml",
    ] {
        l.add_path(&dir.join(def)).expect(def);
    }
    let mut seen = String::new();
    for e in events.step_by(7).map(|e| &e.ecs) {
        let ips = [e.source_ip, e.destination_ip, e.host_ip];
        for ip in ips.into_iter().flatten() {
            seen.push_str(&format!("{ip}\n"));
        }
        let texts = [
            &e.dns_question_name,
            &e.url_domain,
            &e.url_full,
            &e.file_hash_sha256,
            &e.email_from,
        ];
        for t in texts.into_iter().flatten() {
            seen.push_str(&format!("{t}\n"));
        }
    }
    l.add_text("seen", "malware", ListFormat::Plain, &seen)
        .expect("a plain list");
    l.build().0
}

#[test]
fn sensor_payloads_are_read_without_serde_and_match_as_their_events() {
    let (engine, _) = common::load(&common::MAIN_FOLDERS, None);
    let mut all = Vec::new();
    for (rel, max) in DATA {
        for (i, p) in payloads(rel, max).into_iter().enumerate() {
            let event: Event = serde_json::from_slice(&p).expect("a sensor payload");
            all.push((rel, i, p, event));
        }
    }
    let iocs = ioc_set(all.iter().map(|a| &a.3));
    let (mut hits_head, mut hits_event) = (Vec::new(), Vec::new());
    let mut ioc_hits = 0;
    let mut ioc_taken = 0;
    let mut s = engine.scratch();
    let (mut by_head, mut by_event) = (Vec::new(), Vec::new());
    let mut failed = Vec::new();
    let mut total = 0;
    let mut matched = 0;
    for (rel, i, p, event) in &all {
        total += 1;
        let text = std::str::from_utf8(p).expect("UTF-8");
        let head = match envelope::read(text) {
            Ok(h) => h,
            Err(e) => {
                failed.push(format!("{rel} #{i}: envelope reader declined: {e}"));
                continue;
            }
        };
        ioc_taken += usize::from(head.ioc.is_some());
        let mut want = serde_json::to_value(&event.ecs).expect("ecs");
        if want.as_object().is_some_and(|o| o.is_empty()) {
            want = serde_json::Value::Null;
        }
        let ecs: serde_json::Value = head
            .ecs
            .map(|t| serde_json::from_str(t).expect("ecs text"))
            .unwrap_or_default();
        let original: serde_json::Value =
            serde_json::from_str(head.original).expect("one JSON value");
        let same = head.unchecked
            && head.schema == event.schema
            && head.dataset == event.dataset.as_str()
            && head.received == event.received
            && ecs == want
            && original == event.original;
        if !same {
            failed.push(format!("{rel} #{i}: head differs from the event: {head:?}"));
            continue;
        }
        let mut head = PayloadHead::read(p).expect("head");
        by_head.clear();
        by_event.clear();
        head.eval(&engine, &mut s, &mut by_head).expect("evaluates");
        engine.eval(event, &mut s, &mut by_event);
        matched += usize::from(!by_event.is_empty());
        if by_head != by_event {
            failed.push(format!("{rel} #{i}: {by_head:?} != {by_event:?}"));
        }
        hits_head.clear();
        hits_event.clear();
        let mut owned = None;
        let fields = head.ioc_fields(&mut owned).expect("ecs");
        let a = iocs.matches_fields(&fields, &mut hits_head);
        let b = iocs.matches(event, &mut hits_event);
        ioc_hits += hits_event.len();
        let ids = |h: &[canhgac_detect::ioc::IocMatch]| {
            h.iter().map(|m| m.hit.clone()).collect::<Vec<_>>()
        };
        if a != b || ids(&hits_head) != ids(&hits_event) {
            failed.push(format!("{rel} #{i}: IOC hits differ"));
        }
    }
    common::assert_all_passed(&failed, total);
    // The IOC fields are taken on the envelope's walk (an escape in one leaves them to serde).
    assert!(ioc_taken * 100 >= total * 95, "{ioc_taken} of {total}");
    assert!(
        matched > 100,
        "the data must exercise matching ({matched} matched)"
    );
    assert!(
        ioc_hits > 500,
        "the data must exercise the IOC lists ({ioc_hits} hits)"
    );
}
