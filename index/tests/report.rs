//! The report model over the bulletin corpus: the headline is the national classes' total, the
//! breakdowns add up to it, periods compare with the previous period of their length, and an
//! issued period is frozen, never replaced, and explained when the index changes.

use canhgac_index::bulletin;
use canhgac_index::model::{Agencies, AgencyInfo};
use canhgac_index::snapshot::{Snapshot, Snapshots};
use canhgac_index::{IncidentIndex, Indexer, Lang, Period, Report, ReportRequest, Scope};

use crate::support::opts;

fn build(dir: &std::path::Path) -> Indexer {
    let mut ix = Indexer::open(dir, opts()).unwrap();
    for d in bulletin::corpus() {
        ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    ix
}

fn report(index: &IncidentIndex, period: &str, agencies: &Agencies) -> Report {
    index
        .report(
            &ReportRequest {
                scope: Scope::All,
                period: Period::parse(period).unwrap(),
                lang: Lang::En,
                top: 5,
            },
            agencies,
        )
        .unwrap()
}

fn total(r: &Report, section: &str) -> (u64, u64) {
    let s = r.section(section).unwrap();
    s.rows
        .iter()
        .filter(|x| x.key != "total")
        .fold((0, 0), |(c, p), x| {
            (c + x.current, p + x.previous.unwrap_or(0))
        })
}

#[test]
fn the_headline_counts_the_national_classes_and_every_breakdown_adds_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let ix = build(dir.path());
    let index = IncidentIndex::of(&ix).unwrap();
    let agencies = Agencies(
        [
            ("byt", "ministry"),
            ("ubnd-ha-noi", "province"),
            ("ubnd-tp-hcm", "province"),
        ]
        .into_iter()
        .map(|(id, kind)| {
            (
                id.to_string(),
                AgencyInfo {
                    name_vi: id.to_uppercase(),
                    name_en: id.to_uppercase(),
                    kind: kind.into(),
                },
            )
        })
        .collect(),
    );
    let r = report(&index, "2022-04", &agencies);
    assert_eq!(r.headline.current, 938);
    assert_eq!(r.headline.previous, Some(1035));
    assert_eq!(r.headline.change_pct, Some(-937));
    assert!(
        r.summary.starts_with(
            "938 attacks causing incidents were recorded, warned about and guided in April \
             2022, down 9.37% from March 2022: 313 phishing, 313 defacement and 312 malware."
        ),
        "{}",
        r.summary
    );
    for s in ["national", "agency", "kind", "level"] {
        assert_eq!(total(&r, s), (938, 1035), "section {s}");
    }
    let other = r.section("other").unwrap();
    assert_eq!(other.rows.last().unwrap().current, 45);
    assert_eq!(total(&r, "other"), (45, 60));
    // bca is not in the registry given.
    let kind = r.section("kind").unwrap();
    assert!(kind.rows.iter().any(|x| x.key == "unregistered"));
    assert_eq!(
        kind.rows
            .iter()
            .find(|x| x.key == "ministry")
            .unwrap()
            .current,
        r.section("agency")
            .unwrap()
            .rows
            .iter()
            .find(|x| x.key == "byt")
            .unwrap()
            .current
    );
    // Levels 1–5 and the unattributed row are always shown.
    assert_eq!(r.section("level").unwrap().rows.len(), 6);
    assert_eq!(r.trend.len(), 12);
    assert_eq!(r.trend.last().unwrap().national, 938);
    assert_eq!(r.trend.last().unwrap().other, 45);

    // A quarter against the previous quarter; a half-year and a year.
    let q = report(&index, "2022-Q2", &agencies);
    assert_eq!((q.headline.current, q.headline.previous), (938, Some(1055)));
    assert_eq!(q.previous, "2022-Q1");
    let h = report(&index, "2022-H1", &agencies);
    assert_eq!((h.headline.current, h.headline.previous), (1993, Some(0)));
    assert_eq!(h.headline.change_pct, None);
    let y = report(&index, "2022", &agencies);
    assert_eq!(y.headline.current, 1993);
    assert_eq!(total(&y, "other"), (109, 0));
    ix.close().unwrap();
}

#[test]
fn an_issued_period_is_frozen_and_later_changes_are_explained_by_incident_id() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("index");
    let mut ix = build(&idx);
    let index = IncidentIndex::of(&ix).unwrap();
    let snaps = Snapshots::beside(&idx);
    assert_eq!(snaps.dir(), dir.path().join("reports"));
    let p = Period::parse("2022-04").unwrap();
    let r = report(&index, "2022-04", &Agencies::default());
    let counted = index
        .counted_incidents(&Scope::All, p.first, p.last())
        .unwrap();
    assert_eq!(counted.len(), 938 + 45);
    let snap = Snapshot::of(&r, counted, chrono::Utc::now());
    assert_eq!(snap.figures["national.phishing"], 313);
    let path = snaps.issue(&snap, p, &Scope::All).unwrap();
    assert_eq!(path, dir.path().join("reports/202204.json"));
    let again = snaps.issue(&snap, p, &Scope::All).unwrap_err().to_string();
    assert!(again.contains("never replaced"), "{again}");
    assert_eq!(snaps.load(p, &Scope::All).unwrap().unwrap(), snap);

    // Late data: two more April attacks reach the index after the issue.
    for k in [5000, 5001] {
        for d in bulletin::attack(202204, k, false) {
            ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
        }
    }
    ix.commit().unwrap();
    index.reload().unwrap();
    let now = index
        .counted_incidents(&Scope::All, p.first, p.last())
        .unwrap();
    let since = index
        .since_issue(&snap, &now, &Scope::All, Lang::En)
        .unwrap();
    assert_eq!(since.issued_headline, 938);
    assert_eq!(since.changes.len(), 2, "{since:?}");
    assert!(since.changes.iter().all(|c| c.change == "added"));
    assert!(
        since.changes[0].reason.starts_with("late data"),
        "{since:?}"
    );
    // An incident gone from the index (merged or dropped): the snapshot still lists it.
    let mut older = snap.clone();
    older.incidents.push(canhgac_index::cells::CountedIncident {
        id: "00".repeat(16),
        month: 202204,
        category: "phishing".into(),
        agency: "byt".into(),
        level: 1,
    });
    older.incidents[0].category = "other".into();
    let since = index
        .since_issue(&older, &now, &Scope::All, Lang::En)
        .unwrap();
    let kinds: Vec<&str> = since.changes.iter().map(|c| c.change).collect();
    assert_eq!(kinds, ["added", "added", "category", "gone"], "{since:?}");
    assert!(since.changes[3]
        .reason
        .contains("merged into another attack"));
    ix.close().unwrap();
}
