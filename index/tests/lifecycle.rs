//! The incident lifecycle in the index (`canhgac_index::lifecycle`): records applied by anchor
//! in any order (before or after their detections, across commits and reopens), merge and
//! split as grouping, suppressed detections, statistics without false positives and
//! duplicates, search by handling, and the upgrade of a version-2 index.

use std::collections::{BTreeMap, BTreeSet};

use canhgac_core::detection::{Detection, Status};
use canhgac_core::lifecycle::{
    Action, Actor, CloseReason, EntityRef, Handling, IncidentEvent, Suppression,
};
use canhgac_core::Id;
use canhgac_index::model::{Agencies, Lang};
use canhgac_index::{
    monthly, IncidentIndex, Indexer, Kind, Outcome, Period, Record, ReportRequest, Scope,
    SearchRequest, StatsRequest, SuppressionState,
};
use chrono::{DateTime, Utc};

use crate::grouping::{det, month, shuffled, target, DAY, T0};
use crate::support::opts;

#[derive(Clone)]
enum Item {
    D(Box<Detection>),
    R(Box<IncidentEvent>),
}

fn payload(item: &Item) -> Vec<u8> {
    match item {
        Item::D(d) => serde_json::to_vec(d).unwrap(),
        Item::R(e) => e.to_json(),
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + 40 * DAY + minutes * 60, 0).unwrap()
}

fn record(anchor: &Detection, minutes: i64, name: &str, action: Action) -> IncidentEvent {
    let by = Actor {
        name: name.into(),
        role: "national".into(),
    };
    // `incident` is the id as its author saw it: any id; the index follows the anchor.
    IncidentEvent::new(
        anchor.incident_id,
        anchor.id,
        &anchor.agency,
        at(minutes),
        by,
        action,
        None,
    )
}

fn suppression(d: &Detection) -> Suppression {
    let entity = EntityRef {
        kind: "ip".into(),
        value: "198.51.100.7".into(),
    };
    let created = at(7);
    Suppression {
        id: canhgac_core::lifecycle::suppression_id(&d.rule.id, &d.agency, &entity, created),
        rule: d.rule.id.clone(),
        agency: d.agency.clone(),
        entity,
        owner: "Lan".into(),
        reason: "the agency's own scanner".into(),
        created,
        expires: created + chrono::Duration::days(30),
    }
}

/// One month of detections (`grouping::month`), a detection marked by a suppression, and
/// records: acknowledge, assign, comment, resolve as false positive, a merge, a split and a
/// suppression.
fn corpus() -> (Vec<Detection>, Vec<IncidentEvent>) {
    let mut ds = month();
    let sup = suppression(&ds[6]);
    let mut marked = det("byt", "cg-malware-001", 11.0, 40, &[target("ws-17")]);
    marked.suppressed = Some(sup.id);
    ds.push(marked);
    let rs = vec![
        record(&ds[0], 1, "Lan", Action::Acknowledge { note: "xem".into() }),
        record(
            &ds[6],
            2,
            "Minh",
            Action::Assign {
                to: Some("Lan".into()),
            },
        ),
        record(
            &ds[9],
            3,
            "Lan",
            Action::Comment {
                text: "beacon every 5 min".into(),
            },
        ),
        record(
            &ds[5],
            4,
            "Lan",
            Action::Resolve {
                reason: CloseReason::FalsePositive,
                note: "a newsletter".into(),
                duplicate_of: None,
            },
        ),
        record(
            &ds[5],
            5,
            "Lan",
            Action::Merge {
                into: ds[0].incident_id,
                into_anchor: ds[0].id,
            },
        ),
        record(
            &ds[9],
            6,
            "Lan",
            Action::Split {
                detections: vec![ds[12].id],
            },
        ),
        record(&ds[6], 7, "Lan", Action::Suppress { suppression: sup }),
    ];
    (ds, rs)
}

fn items() -> Vec<Item> {
    let (ds, rs) = corpus();
    ds.into_iter()
        .map(|d| Item::D(Box::new(d)))
        .chain(rs.into_iter().map(|r| Item::R(Box::new(r))))
        .collect()
}

/// The index's whole contents, comparable: detection → its incident's first detection,
/// incidents by first detection (count, handling, joins), detections in no incident.
#[derive(Debug, PartialEq)]
struct Contents {
    of: BTreeMap<Id, Id>,
    incidents: BTreeMap<Id, (u64, Handling)>,
    unassigned: BTreeSet<Id>,
}

fn contents(ix: &Indexer) -> Contents {
    let index = IncidentIndex::of(ix).unwrap();
    index.reload().unwrap();
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Incidents;
    req.limit = 1000;
    let mut ids = BTreeMap::new();
    let mut incidents = BTreeMap::new();
    for h in index.search(&req).unwrap().hits {
        let Record::Incident(r) = h.record else {
            panic!("incident expected")
        };
        ids.insert(r.incident.id, r.first_detection);
        incidents.insert(r.first_detection, (r.incident.count, r.handling.clone()));
    }
    req.kind = Kind::Detections;
    let (mut of, mut unassigned) = (BTreeMap::new(), BTreeSet::new());
    for h in index.search(&req).unwrap().hits {
        let Record::Detection(d) = h.record else {
            panic!("detection expected")
        };
        match ids.get(&d.incident_id) {
            Some(first) => {
                of.insert(d.id, *first);
            }
            None => {
                assert!(d.suppressed.is_some(), "detection {} in no incident", d.id);
                unassigned.insert(d.id);
            }
        }
    }
    Contents {
        of,
        incidents,
        unassigned,
    }
}

fn index_items(ix: &mut Indexer, items: &[Item], commit_every: usize) {
    for (i, it) in items.iter().enumerate() {
        let out = ix.process(&payload(it), None).unwrap();
        assert!(
            !matches!(out, Outcome::Rejected { .. }),
            "item {i} rejected: {out:?}"
        );
        if commit_every > 0 && (i + 1) % commit_every == 0 {
            ix.commit().unwrap();
        }
    }
    ix.commit().unwrap();
}

fn build(items: &[Item], commit_every: usize) -> Indexer {
    let mut ix = Indexer::in_ram(opts()).unwrap();
    index_items(&mut ix, items, commit_every);
    ix
}

#[test]
fn records_give_the_same_incidents_and_handling_in_any_order() {
    let (ds, _) = corpus();
    let reference = contents(&build(&items(), 0));
    // What the records did.
    let of = &reference.of;
    assert_eq!(of[&ds[5].id], ds[0].id, "merged into the first campaign");
    assert_eq!(of[&ds[12].id], ds[12].id, "split off into its own incident");
    for i in [10, 11] {
        assert_eq!(of[&ds[i].id], ds[9].id, "the rest of the malware incident");
    }
    assert_eq!(reference.incidents.len(), 5, "{:?}", reference.incidents);
    assert_eq!(
        reference.unassigned,
        BTreeSet::from([ds[14].id]),
        "a suppressed detection joins no incident"
    );
    let phishing = &reference.incidents[&ds[0].id].1;
    assert_eq!(phishing.status, Status::Resolved);
    assert_eq!(phishing.close_reason, Some(CloseReason::FalsePositive));
    assert!(!phishing.counted);
    assert_eq!(phishing.history.len(), 3, "acknowledge, resolve, merge");
    let deface = &reference.incidents[&ds[6].id].1;
    assert_eq!(deface.assignee.as_deref(), Some("Lan"));
    assert_eq!(deface.status, Status::Acknowledged);
    assert_eq!(deface.history.len(), 2, "assign, suppress");
    let malware = &reference.incidents[&ds[9].id].1;
    assert_eq!(malware.history.len(), 2, "comment, split");
    assert_eq!(reference.incidents[&ds[12].id].1.history.len(), 0);
    // Any order, records before or after their anchors, commits anywhere.
    let all = items();
    for seed in 1..=12u64 {
        let order = shuffled(&all, seed);
        for commit_every in [0, 1, 3, 5] {
            let got = contents(&build(&order, commit_every));
            assert_eq!(got, reference, "seed {seed}, commit every {commit_every}");
        }
    }
    // A replay of everything changes nothing.
    let mut twice = all.clone();
    twice.extend(shuffled(&all, 99));
    assert_eq!(contents(&build(&twice, 4)), reference);
}

#[test]
fn pending_anchors_survive_a_reopen_and_a_rebuild_equals_the_original() {
    let all = items();
    let original = tempfile::tempdir().unwrap();
    let reference = {
        let mut ix = Indexer::open(original.path(), opts()).unwrap();
        index_items(&mut ix, &all, 0);
        contents(&ix)
    };
    // Records first: none has its anchor yet; they wait in the index across a reopen.
    let dir = tempfile::tempdir().unwrap();
    let (records, detections): (Vec<Item>, Vec<Item>) =
        all.iter().cloned().partition(|i| matches!(i, Item::R(_)));
    {
        let mut ix = Indexer::open(dir.path(), opts()).unwrap();
        for r in &records {
            assert_eq!(
                ix.process(&payload(r), None).unwrap(),
                Outcome::Recorded { applied: false }
            );
        }
        ix.commit().unwrap();
        ix.close().unwrap();
    }
    let mut ix = Indexer::open(dir.path(), opts()).unwrap();
    assert_eq!(
        ix.process(&payload(&records[0]), None).unwrap(),
        Outcome::Duplicate,
        "a record counts once"
    );
    let order = shuffled(&detections, 5);
    index_items(&mut ix, &order, 2);
    assert_eq!(contents(&ix), reference, "rebuilt in another order");
}

#[test]
fn suppressions_are_listed_with_their_state_and_count() {
    let (ds, rs) = corpus();
    let mut ix = build(&items(), 0);
    let index = IncidentIndex::of(&ix).unwrap();
    let Action::Suppress { suppression: sup } = &rs[6].action else {
        panic!()
    };
    let list = index.suppressions(&Scope::All, at(60)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].suppression, *sup);
    assert_eq!(list[0].state, SuppressionState::Active);
    assert_eq!(list[0].suppressed, 1, "the marked detection");
    let deface = index.incident_of_detection(&Scope::All, &ds[6].id).unwrap();
    assert_eq!(list[0].incident, deface.map(|r| r.incident.id));
    assert!(list[0].incident.is_some());
    let later = sup.expires + chrono::Duration::seconds(1);
    assert_eq!(
        index.suppressions(&Scope::All, later).unwrap()[0].state,
        SuppressionState::Expired
    );
    assert!(index
        .suppressions(&Scope::Agency("bca".into()), at(60))
        .unwrap()
        .is_empty());
    let revoke = record(
        &ds[6],
        9,
        "Lan",
        Action::Unsuppress {
            suppression: sup.id,
        },
    );
    ix.apply(&revoke).unwrap();
    ix.commit().unwrap();
    index.reload().unwrap();
    assert_eq!(
        index.suppressions(&Scope::All, at(60)).unwrap()[0].state,
        SuppressionState::Revoked
    );
    // The marked detection is searchable.
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Detections;
    req.limit = 100;
    let hits = index.search(&req).unwrap().hits;
    assert!(hits
        .iter()
        .any(|h| matches!(&h.record, Record::Detection(d) if d.id == ds[14].id)));
}

#[test]
fn false_positives_and_duplicates_leave_the_statistics() {
    let ds = month();
    let mut ix = build(
        &ds.iter()
            .cloned()
            .map(|d| Item::D(Box::new(d)))
            .collect::<Vec<_>>(),
        0,
    );
    let index = IncidentIndex::of(&ix).unwrap();
    let req = StatsRequest {
        scope: Scope::All,
        month: 202610,
        months: 1,
        top: 5,
    };
    let before = index.monthly(&req).unwrap().months[0].incidents;
    let report_req = ReportRequest {
        scope: Scope::All,
        period: Period::parse("2026-10").unwrap(),
        lang: Lang::En,
        top: 5,
    };
    let agencies = Agencies::default();
    let headline_before = index
        .report(&report_req, &agencies)
        .unwrap()
        .headline
        .current;
    let fp = record(
        &ds[5],
        1,
        "Lan",
        Action::Resolve {
            reason: CloseReason::FalsePositive,
            note: String::new(),
            duplicate_of: None,
        },
    );
    let dup = record(
        &ds[9],
        2,
        "Lan",
        Action::Resolve {
            reason: CloseReason::Duplicate,
            note: String::new(),
            duplicate_of: Some(ds[0].incident_id),
        },
    );
    let handled = record(
        &ds[0],
        3,
        "Lan",
        Action::Resolve {
            reason: CloseReason::Handled,
            note: String::new(),
            duplicate_of: None,
        },
    );
    for r in [&fp, &dup, &handled] {
        assert_eq!(ix.apply(r).unwrap(), Outcome::Recorded { applied: true });
    }
    ix.commit().unwrap();
    index.reload().unwrap();
    let after = index.monthly(&req).unwrap().months[0].incidents;
    assert_eq!(
        after,
        before - 2,
        "false positive and duplicate out, handled in"
    );
    let report = index.report(&report_req, &agencies).unwrap();
    assert_eq!(report.headline.current, headline_before - 2);
    assert_eq!(
        (report.excluded.false_positive, report.excluded.duplicate),
        (1, 1)
    );
    let line = "1 incident closed as false positive and 1 as duplicate are not counted";
    assert!(monthly::to_markdown(&report).contains(line));
    assert!(monthly::to_html(&report).contains(line));
    assert!(monthly::to_csv(&report).contains(line));
    assert!(monthly::to_json(&report).contains("\"excluded\""));
    let cells: u64 = index
        .cells(&Scope::All, 202610, 202610)
        .unwrap()
        .values()
        .sum();
    assert_eq!(cells, after);
}

#[test]
fn search_filters_by_handling_and_finds_alert_keys() {
    let (ds, _) = corpus();
    let ix = build(&items(), 3);
    let index = IncidentIndex::of(&ix).unwrap();
    let mut req = SearchRequest::new(Scope::All, "");
    req.assignees = vec!["Lan".into()];
    let hits = index.search(&req).unwrap().hits;
    assert_eq!(hits.len(), 1);
    let Record::Incident(r) = &hits[0].record else {
        panic!()
    };
    assert_eq!(r.first_detection, ds[6].id);
    assert_eq!(r.incident.assignee.as_deref(), Some("Lan"));
    let mut req = SearchRequest::new(Scope::All, "");
    req.close_reasons = vec![CloseReason::FalsePositive];
    req.statuses = vec![Status::Resolved];
    let hits = index.search(&req).unwrap().hits;
    assert_eq!(hits.len(), 1);
    let Record::Incident(phishing) = &hits[0].record else {
        panic!()
    };
    assert_eq!(
        phishing.incident.close_reason,
        Some(CloseReason::FalsePositive)
    );
    let mut req = SearchRequest::new(Scope::All, "");
    req.statuses = vec![Status::New, Status::Acknowledged];
    assert_eq!(index.search(&req).unwrap().total, 4);
    // Alert keys: the provisional ids of its detections (the merged campaigns' included).
    let keys = index
        .alert_keys(&Scope::All, &phishing.incident.id)
        .unwrap();
    let want: BTreeSet<Id> = ds[..6].iter().map(|d| d.incident_id).collect();
    assert_eq!(keys, want.into_iter().collect::<Vec<_>>());
    assert!(index
        .alert_keys(&Scope::Agency("bca".into()), &phishing.incident.id)
        .is_err());
    let of = index
        .incident_of_detection(&Scope::All, &ds[3].id)
        .unwrap()
        .unwrap();
    assert_eq!(of.incident.id, phishing.incident.id);
    assert!(index
        .incident_of_detection(&Scope::Agency("bca".into()), &ds[3].id)
        .unwrap()
        .is_none());
    assert!(index
        .incident_of_detection(&Scope::All, &ds[14].id)
        .unwrap()
        .is_none());
}

#[test]
fn a_version_2_index_is_refused_and_its_statuses_become_records() {
    use tantivy::schema::{Schema, STORED, STRING};
    let dir = tempfile::tempdir().unwrap();
    let d = det("byt", "cg-phish-001", 1.0, 1, &[]);
    let incident = d.incident_id;
    {
        // The documents the way version 2 wrote them (the fields the upgrade reads).
        let mut b = Schema::builder();
        let kind = b.add_text_field("kind", STRING);
        let source = b.add_bytes_field("source", STORED);
        let index = tantivy::Index::create_in_dir(dir.path(), b.build()).unwrap();
        let mut w: tantivy::IndexWriter = index.writer(15 << 20).unwrap();
        let json = serde_json::json!({
            "id": incident, "agency": "byt", "first_detection": d.id, "count": 1,
            "status": "resolved",
            "history": [
                {"status": "acknowledged", "note": "đang xử lý", "by": "Lan", "at": "2026-10-02T01:00:00Z"},
                {"status": "resolved", "note": "đã khôi phục", "at": "2026-10-03T01:00:00Z"}
            ]
        });
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_text(kind, "incident");
        doc.add_bytes(source, serde_json::to_vec(&json).unwrap().as_slice());
        w.add_document(doc).unwrap();
        let mut p = w.prepare_commit().unwrap();
        p.set_payload(r#"{"schema":2,"offsets":{}}"#);
        p.commit().unwrap();
    }
    let err = Indexer::open(dir.path(), opts()).err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("schema version 2"), "{msg}");
    assert!(msg.contains("canhgac index upgrade"), "{msg}");
    let records = canhgac_index::upgrade::legacy_records(dir.path()).unwrap();
    assert_eq!(records.len(), 2);
    assert!(matches!(records[0].action, Action::Acknowledge { .. }));
    assert_eq!(records[0].by.name, "Lan");
    assert!(matches!(
        records[1].action,
        Action::Resolve {
            reason: CloseReason::Handled,
            ..
        }
    ));
    assert_eq!(records[1].by.name, "unknown");
    assert_eq!(records[1].anchor, d.id);
    assert_eq!(
        canhgac_index::upgrade::legacy_records(dir.path()).unwrap(),
        records,
        "deterministic ids: publishing twice counts once"
    );
    // Rebuilt from the topics: the detection and the records give the status back.
    let mut items: Vec<Item> = records.into_iter().map(|r| Item::R(Box::new(r))).collect();
    items.push(Item::D(Box::new(d.clone())));
    let ix = build(&items, 0);
    let r = ix.incident(&incident).unwrap().unwrap();
    assert_eq!(r.incident.status, Status::Resolved);
    assert_eq!(r.handling.history.len(), 2);
    assert_eq!(r.handling.history[0].action.text(), "đang xử lý");
}

#[test]
fn bad_records_are_rejected_and_record_offsets_are_committed() {
    let (ds, rs) = corpus();
    let mut ix = Indexer::in_ram(opts()).unwrap();
    let rejected = |out: Outcome| match out {
        Outcome::Rejected { reason, message } => (reason, message),
        other => panic!("expected a rejection, got {other:?}"),
    };
    let (reason, message) = rejected(ix.process(br#"{"v":1,"action":"resolve"}"#, None).unwrap());
    assert_eq!(reason, "record");
    assert!(message.contains("not an incident event"), "{message}");
    let mut future = serde_json::to_value(&rs[0]).unwrap();
    future["v"] = 2.into();
    let (reason, message) = rejected(
        ix.process(&serde_json::to_vec(&future).unwrap(), None)
            .unwrap(),
    );
    assert_eq!(reason, "record");
    assert!(message.contains("schema 2"), "{message}");
    let empty = record(&ds[0], 1, "Lan", Action::Comment { text: " ".into() });
    let (reason, message) = rejected(ix.process(&empty.to_json(), None).unwrap());
    assert_eq!(reason, "invalid");
    assert!(message.contains("text"), "{message}");
    // A record's position is consumed like a detection's: a rebuild reads both topics.
    let pos = canhgac_index::Position {
        topic: "canhgac.incident-events".into(),
        partition: 0,
        offset: 41,
    };
    assert_eq!(
        ix.process(&rs[0].to_json(), Some(&pos)).unwrap(),
        Outcome::Recorded { applied: false }
    );
    ix.commit().unwrap();
    assert_eq!(ix.committed_offsets()["canhgac.incident-events"][&0], 42);
    assert_eq!(
        ix.process(&rs[0].to_json(), Some(&pos)).unwrap(),
        Outcome::Skipped
    );
}

#[test]
fn an_incident_taken_apart_by_a_split_keeps_its_old_id_resolving() {
    let l = [target("ws-1")];
    let d0 = det("byt", "cg-malware-001", 0.0, 1, &l);
    let d1 = det("byt", "cg-malware-001", 5.0, 2, &l);
    let d2 = det("byt", "cg-malware-001", 2.5, 3, &l);
    let mut ix = build(&[d0.clone(), d1.clone()].map(|d| Item::D(Box::new(d))), 0);
    let late = ix.incident(&d0.incident_id).unwrap().map(|r| r.incident.id);
    assert!(late.is_none(), "linked detections have attack ids");
    let index = IncidentIndex::of(&ix).unwrap();
    let second = index
        .incident_of_detection(&Scope::All, &d1.id)
        .unwrap()
        .unwrap()
        .incident
        .id;
    // In one batch: d2 bridges both (the second is renamed into the first), then a split
    // takes d1 and d2 out: the second's old id names no incident any more, and resolves to
    // the one holding its first detection.
    let split = record(
        &d0,
        1,
        "Lan",
        Action::Split {
            detections: vec![d1.id, d2.id],
        },
    );
    index_items(
        &mut ix,
        &[Item::D(Box::new(d2.clone())), Item::R(Box::new(split))],
        0,
    );
    let c = contents(&ix);
    assert_eq!(c.of[&d0.id], d0.id);
    assert_eq!((c.of[&d1.id], c.of[&d2.id]), (d2.id, d2.id));
    let now = ix.incident(&second).unwrap().expect("the old id resolves");
    assert_eq!(now.first_detection, d2.id);
    assert_eq!(now.incident.count, 2);
}
