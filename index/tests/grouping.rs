//! Grouping detections into attacks (`canhgac_index::group`): one incident per attack on one
//! agency, across rules, days and months; the same incidents in any arrival order, with commits
//! (a crash point) anywhere; old ids of renamed or merged incidents keep resolving.

use std::collections::BTreeMap;

use canhgac_core::detection::{Category, Detection, Grouping, Link, LinkRole};
use canhgac_core::Id;
use canhgac_index::synth::detection;
use canhgac_index::{IncidentIndex, Indexer, Kind, Record, Scope, SearchRequest};

use crate::support::opts;

pub(crate) const DAY: i64 = 86_400;
const GAP: u64 = 3 * DAY as u64;
/// 2026-10-01 00:00 in Hanoi.
pub(crate) const T0: i64 = 1_790_787_600;

pub(crate) fn link(role: LinkRole, kind: &str, value: &str) -> Link {
    Link {
        role,
        kind: kind.into(),
        value: value.into(),
    }
}

/// A detection of `rule` at day `day` (+ `n` seconds) linking through `links`.
pub(crate) fn det(agency: &str, rule: &str, day: f64, n: u64, links: &[Link]) -> Detection {
    let mut d = detection(
        agency,
        rule,
        "k",
        T0 + (day * DAY as f64) as i64 + n as i64,
        n,
    );
    d.grouping = Grouping {
        gap_secs: GAP,
        links: links.to_vec(),
    };
    d
}

pub(crate) fn attack(v: &str) -> Link {
    link(LinkRole::Attack, "domain", v)
}

pub(crate) fn target(v: &str) -> Link {
    link(LinkRole::Target, "host", v)
}

/// Detection id → the incident's first detection id, and the incidents' counts, read back from
/// the index: the partition of the detections into incidents.
fn partition(ix: &Indexer) -> (BTreeMap<Id, Id>, BTreeMap<Id, u64>) {
    let index = IncidentIndex::of(ix).unwrap();
    let mut incidents = BTreeMap::new();
    let mut firsts = BTreeMap::new();
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Incidents;
    req.limit = 1000;
    for h in index.search(&req).unwrap().hits {
        let Record::Incident(r) = h.record else {
            panic!("incident expected")
        };
        incidents.insert(r.incident.id, r.incident.count);
        firsts.insert(r.incident.id, r.first_detection);
    }
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Detections;
    req.limit = 1000;
    let mut of = BTreeMap::new();
    for h in index.search(&req).unwrap().hits {
        let Record::Detection(d) = h.record else {
            panic!("detection expected")
        };
        let first = firsts
            .get(&d.incident_id)
            .unwrap_or_else(|| panic!("detection {} in unknown incident {}", d.id, d.incident_id));
        of.insert(d.id, *first);
    }
    (of, incidents)
}

fn index_in_order(ds: &[Detection], commit_every: usize) -> Indexer {
    let mut ix = Indexer::in_ram(opts()).unwrap();
    for (i, d) in ds.iter().enumerate() {
        let json = serde_json::to_vec(d).unwrap();
        ix.add_detection(d, &json).unwrap();
        if commit_every > 0 && (i + 1) % commit_every == 0 {
            ix.commit().unwrap();
        }
    }
    ix.commit().unwrap();
    ix
}

/// One agency's month with three attacks and an unrelated second phishing campaign.
pub(crate) fn month() -> Vec<Detection> {
    let a = "byt";
    vec![
        // Phishing campaign: mails on three days (two rules), DNS look-ups of its domain on two.
        det(
            a,
            "cg-phish-002",
            1.0,
            1,
            &[
                attack("evil-login.example"),
                link(LinkRole::Attack, "email", "it@evil-login.example"),
            ],
        ),
        det(
            a,
            "cg-phish-002",
            3.0,
            2,
            &[link(LinkRole::Attack, "email", "it@evil-login.example")],
        ),
        det(a, "cg-phish-001", 3.2, 3, &[attack("evil-login.example")]),
        det(a, "cg-phish-001", 4.0, 4, &[attack("evil-login.example")]),
        det(
            a,
            "cg-phish-002",
            5.5,
            5,
            &[link(LinkRole::Attack, "email", "it@evil-login.example")],
        ),
        // A second campaign: another sender and domain.
        det(
            a,
            "cg-phish-002",
            2.0,
            6,
            &[
                attack("other.example"),
                link(LinkRole::Attack, "email", "x@other.example"),
            ],
        ),
        // Defacement over two days: upload, web shell, defaced page, across a month boundary.
        det(
            a,
            "cg-deface-001",
            29.9,
            7,
            &[
                link(LinkRole::Target, "system", "byt-portal"),
                link(LinkRole::Attack, "ip", "198.51.100.7"),
            ],
        ),
        det(
            a,
            "cg-deface-002",
            30.5,
            8,
            &[link(LinkRole::Target, "system", "byt-portal")],
        ),
        det(
            a,
            "cg-deface-002",
            31.2,
            9,
            &[link(LinkRole::Attack, "ip", "198.51.100.7")],
        ),
        // Malware: one workstation beaconing over five days, longer than the gap end to end.
        det(
            a,
            "cg-malware-001",
            10.0,
            10,
            &[target("ws-17"), attack("c2.example")],
        ),
        det(
            a,
            "cg-malware-001",
            12.0,
            11,
            &[target("ws-17"), attack("c2.example")],
        ),
        det(a, "cg-malware-002", 14.5, 12, &[target("ws-17")]),
        det(a, "cg-malware-001", 14.9, 13, &[attack("c2.example")]),
        // The same C2 in another agency: its own incident there.
        det(
            "bca",
            "cg-malware-001",
            12.0,
            14,
            &[target("pc-1"), attack("c2.example")],
        ),
    ]
}

#[test]
fn one_incident_per_attack_across_rules_days_and_months() {
    let ds = month();
    let ix = index_in_order(&ds, 0);
    let (of, counts) = partition(&ix);
    assert_eq!(of.len(), ds.len());
    let groups = |ns: &[usize]| ns.iter().map(|&i| of[&ds[i].id]).collect::<Vec<_>>();
    let same = |ns: &[usize]| {
        let g = groups(ns);
        assert!(
            g.windows(2).all(|w| w[0] == w[1]),
            "detections {ns:?} in one incident"
        );
    };
    same(&[0, 1, 2, 3, 4]);
    same(&[6, 7, 8]);
    same(&[9, 10, 11, 12]);
    assert_ne!(of[&ds[0].id], of[&ds[5].id], "two phishing campaigns");
    assert_ne!(
        of[&ds[9].id], of[&ds[13].id],
        "agencies never share an incident"
    );
    assert_eq!(counts.len(), 5, "{counts:?}");
    let index = IncidentIndex::of(&ix).unwrap();
    let by_cat = |c: Category| {
        let mut req = SearchRequest::new(Scope::Agency("byt".into()), "");
        req.kind = Kind::Incidents;
        req.categories = vec![c];
        index.search(&req).unwrap().total
    };
    assert_eq!(
        (
            by_cat(Category::Phishing),
            by_cat(Category::Deface),
            by_cat(Category::Malware)
        ),
        (2, 1, 1)
    );
    // The same C2 in two agencies: one incident each, linked as one campaign in the national
    // view, and invisible to an agency's own view.
    let malware = |agency: &str| {
        let mut req = SearchRequest::new(Scope::Agency(agency.into()), "");
        req.kind = Kind::Incidents;
        req.categories = vec![Category::Malware];
        match &index.search(&req).unwrap().hits[0].record {
            Record::Incident(r) => r.incident.id,
            _ => unreachable!(),
        }
    };
    let (byt, bca) = (malware("byt"), malware("bca"));
    let national = index.incident(&Scope::All, &byt, 10).unwrap();
    assert_eq!(national.campaign.len(), 1);
    assert_eq!(
        (
            national.campaign[0].id,
            national.campaign[0].agency.as_str()
        ),
        (bca, "bca")
    );
    let own = index
        .incident(&Scope::Agency("byt".into()), &byt, 10)
        .unwrap();
    assert!(
        own.campaign.is_empty(),
        "an agency never sees another agency's incidents"
    );
}

#[test]
fn detections_beyond_the_gap_are_separate_until_one_bridges_them() {
    let a = "byt";
    let l = [target("ws-1")];
    let d0 = det(a, "cg-malware-001", 0.0, 1, &l);
    let d1 = det(a, "cg-malware-001", 5.0, 2, &l);
    let d2 = det(a, "cg-malware-001", 2.5, 3, &l);
    let mut ix = index_in_order(&[d0.clone(), d1.clone()], 0);
    let (of, counts) = partition(&ix);
    assert_eq!(counts.len(), 2, "5 days apart with a 3-day gap");
    let index = IncidentIndex::of(&ix).unwrap();
    let mut req = SearchRequest::new(Scope::All, "");
    req.kind = Kind::Incidents;
    let late_incident = index
        .search(&req)
        .unwrap()
        .hits
        .into_iter()
        .find_map(|h| match h.record {
            Record::Incident(r) if r.first_detection == of[&d1.id] => Some(r.incident.id),
            _ => None,
        })
        .expect("the later detection's incident");
    let json = serde_json::to_vec(&d2).unwrap();
    ix.add_detection(&d2, &json).unwrap();
    ix.commit().unwrap();
    let (of, counts) = partition(&ix);
    assert_eq!(counts.len(), 1, "the middle detection bridges both");
    assert_eq!(counts.values().sum::<u64>(), 3);
    assert!(of.values().all(|f| *f == d0.id));
    // The merged incident's old id resolves to the attack it is now part of.
    let now = ix
        .incident(&late_incident)
        .unwrap()
        .expect("old id resolves");
    assert_eq!(now.first_detection, d0.id);
    assert_eq!(now.incident.count, 3);
    let detail = IncidentIndex::of(&ix)
        .unwrap()
        .incident(&Scope::All, &late_incident, 10)
        .unwrap();
    assert_eq!(detail.incident.incident.id, now.incident.id);
    assert_eq!(detail.detections_total, 3);
}

/// A small deterministic shuffle (no rand dependency in the index's tests).
pub(crate) fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..out.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.swap(i, (s % (i as u64 + 1)) as usize);
    }
    out
}

#[test]
fn any_order_and_any_commit_points_give_the_same_incidents() {
    let ds = month();
    let reference = partition(&index_in_order(&ds, 0));
    for seed in 1..=12u64 {
        let order = shuffled(&ds, seed);
        for commit_every in [0, 1, 3, 5] {
            let got = partition(&index_in_order(&order, commit_every));
            assert_eq!(got, reference, "seed {seed}, commit every {commit_every}");
        }
    }
    // A replay of everything (a crash after the commit, before the acks) changes nothing.
    let mut twice = ds.clone();
    twice.extend(shuffled(&ds, 99));
    assert_eq!(partition(&index_in_order(&twice, 4)), reference);
}
