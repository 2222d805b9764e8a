//! The simulator against the shipped rules: deterministic, time-ordered, decodable, attacks
//! that span days, hosts and agencies, near misses in the background, every injected attack
//! detected, no benign record detected, recall/precision per national class above a floor and
//! at most 1.1 incidents per attack; the attack-level scoring on hand-made incidents.

use canhgac_core::registry::Registry;
use canhgac_detect::worker::RulesetSpec;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use canhgac_sim::score::{replay, score, Incident};
use canhgac_sim::{Category, SimConfig, Simulator, Stream, TruthIncident, QUIET_DAYS};
use canhgac_testsupport::repo;

fn sim(seed: u64, per_day: u32, month: &str) -> Simulator {
    let registry = Registry::load(&repo("rules/agencies.example.toml")).unwrap();
    let m = month.parse().unwrap();
    let mut cfg = SimConfig::new(registry, m, m);
    cfg.seed = seed;
    cfg.events_per_day = per_day;
    Simulator::new(cfg).unwrap()
}

#[test]
fn deterministic_ordered_and_complete() {
    let a = sim(7, 60, "2026-02");
    let b = sim(7, 60, "2026-02");
    let c = sim(8, 60, "2026-02");
    assert_eq!(a.truth(), b.truth());
    assert_ne!(a.truth(), c.truth());
    let ra: Vec<_> = a.records().collect();
    let rb: Vec<_> = b.records().take(5000).collect();
    assert_eq!(&ra[..rb.len()], &rb[..]);
    assert!(ra.windows(2).all(|w| w[0].time <= w[1].time), "time order");
    // Every day of February (UTC+7) and every stream is present.
    let days: std::collections::BTreeSet<_> = ra
        .iter()
        .map(|r| {
            r.time
                .with_timezone(&canhgac_core::detection::vietnam())
                .date_naive()
        })
        .collect();
    assert_eq!(days.len(), 28);
    for s in Stream::ALL {
        assert!(ra.iter().any(|r| r.stream == s), "{s:?}");
    }
    // Every truth incident has records, inside its time range, and every class occurs.
    let truth = a.truth();
    for t in &truth {
        let mine: Vec<_> = ra
            .iter()
            .filter(|r| r.truth_id.as_deref() == Some(&t.truth_id))
            .collect();
        assert!(!mine.is_empty(), "{}", t.truth_id);
        assert!(mine
            .iter()
            .all(|r| r.time >= t.first_time && r.time <= t.last_time));
        assert!(t.entities.contains(&t.key_entity));
        assert!(
            !t.attack_entities.is_empty() && !t.targets.is_empty(),
            "{t:?}"
        );
        assert!(t.campaign.is_some());
    }
    for c in Category::NATIONAL {
        assert!(truth.iter().any(|t| t.category == c), "{c:?}");
    }
    // Attacks like attackers: some span several days, and the background holds near misses
    // (an administrator's PowerShell, mail about passwords from the agency's own IT staff).
    assert!(
        truth
            .iter()
            .any(|t| t.last_time - t.first_time > chrono::Duration::hours(24)),
        "no attack spans days"
    );
    let benign = |needle: &str| {
        ra.iter()
            .any(|r| r.truth_id.is_none() && String::from_utf8_lossy(&r.bytes).contains(needle))
    };
    assert!(benign("-ExecutionPolicy Bypass -File"));
    assert!(benign("cntt@"));
}

/// The `--attacks-per-class` knob: exactly N attacks per national class over a year, in
/// campaigns (some hitting several agencies, one attack each), never two attacks of one class
/// on one agency closer than the quiet gap.
#[test]
fn attacks_per_class_in_campaigns() {
    let registry = Registry::load(&repo("rules/agencies.example.toml")).unwrap();
    let mut cfg = SimConfig::new(
        registry,
        "2026-01".parse().unwrap(),
        "2026-12".parse().unwrap(),
    );
    cfg.seed = 5;
    cfg.attacks_per_class = Some(100);
    let truth = Simulator::new(cfg).unwrap().truth();
    for c in Category::NATIONAL {
        let ts: Vec<&TruthIncident> = truth.iter().filter(|t| t.category == c).collect();
        assert_eq!(ts.len(), 100, "{c:?}");
        let mut by_campaign: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for t in &ts {
            let agencies = by_campaign
                .entry(t.campaign.as_deref().unwrap())
                .or_default();
            assert!(
                agencies.insert(&t.agency),
                "one attack per agency and campaign"
            );
        }
        assert!(
            by_campaign.values().any(|a| a.len() >= 2),
            "{c:?}: no campaign on several agencies"
        );
        let ids: HashSet<&str> = ts.iter().map(|t| t.truth_id.as_str()).collect();
        assert_eq!(ids.len(), ts.len());
        for a in &ts {
            for b in &ts {
                if a.truth_id < b.truth_id && a.agency == b.agency {
                    let gap = chrono::Duration::days(QUIET_DAYS);
                    assert!(
                        a.last_time + gap < b.first_time || b.last_time + gap < a.first_time,
                        "{} and {} overlap",
                        a.truth_id,
                        b.truth_id
                    );
                }
            }
        }
    }
    assert!(
        truth.iter().any(|t| t.targets.len() >= 4),
        "several hosts or mailboxes"
    );
}

fn attack(id: &str, agency: &str, c: Category, entities: &[&str]) -> TruthIncident {
    let t0 = "2026-10-05T02:00:00Z".parse().unwrap();
    TruthIncident {
        truth_id: id.into(),
        campaign: None,
        agency: agency.into(),
        system: None,
        category: c,
        first_time: t0,
        last_time: t0 + chrono::Duration::days(2),
        key_entity: entities[0].into(),
        attack_entities: vec![entities[0].into()],
        targets: entities[1..].iter().map(|e| e.to_string()).collect(),
        entities: entities.iter().map(|e| e.to_string()).collect(),
        description: String::new(),
    }
}

fn incident(n: u8, agency: &str, c: Category, day: u32, entities: &[&str]) -> Incident {
    let first: chrono::DateTime<chrono::Utc> =
        format!("2026-10-{day:02}T03:00:00Z").parse().unwrap();
    Incident {
        id: canhgac_core::Id([n; 16]),
        agency: agency.into(),
        category: c,
        rule_ids: vec!["r".into()],
        rule_titles: vec!["rule".into()],
        group_key: String::new(),
        first,
        last: first + chrono::Duration::hours(1),
        count: 1,
        entities: entities.iter().map(|e| e.to_ascii_lowercase()).collect(),
    }
}

/// Attack-level figures: an attack split into two incidents counts 2 incidents per attack, an
/// incident on another agency, in another category, or outside the attack's time does not
/// match, and other categories are counted apart.
#[test]
fn scores_attacks_not_incidents() {
    use Category::*;
    let truth = vec![
        attack("p1", "byt", Phishing, &["evil.example", "lan@moh.gov.vn"]),
        attack("m1", "byt", Malware, &["c2.example", "byt-pc001"]),
        attack("d1", "btc", Deface, &["203.0.113.5", "mof.gov.vn"]),
    ];
    let incidents = vec![
        incident(1, "byt", Phishing, 5, &["EVIL.example"]),
        incident(2, "byt", Phishing, 6, &["lan@moh.gov.vn"]),
        incident(3, "byt", Phishing, 20, &["evil.example"]),
        incident(4, "btc", Phishing, 5, &["evil.example"]),
        incident(5, "byt", Malware, 5, &["byt-pc001"]),
        incident(6, "byt", Recon, 5, &["byt-pc001"]),
    ];
    let s = score(&incidents, &truth);
    let p = s.class(Phishing);
    assert_eq!(
        (p.truth, p.found, p.incidents, p.true_incidents),
        (1, 1, 4, 2)
    );
    assert_eq!(p.incidents_per_attack, 2.0);
    assert_eq!(p.precision, 0.5);
    let m = s.class(Malware);
    assert_eq!(
        (m.recall, m.precision, m.incidents_per_attack),
        (1.0, 1.0, 1.0)
    );
    let d = s.class(Deface);
    assert_eq!(
        (d.found, d.recall, d.missed.clone()),
        (0, 0.0, vec!["d1".to_string()])
    );
    assert_eq!(s.other.get(&Recon), Some(&1));
    assert!(!s.classes.contains_key(&Recon));
}

#[test]
fn own_rules_find_every_attack_and_nothing_else() {
    let s = sim(1, 150, "2026-10");
    let spec = RulesetSpec {
        rules: vec![repo("rules/sigma")],
        registry: Some(repo("rules/agencies.example.toml")),
        ..Default::default()
    };
    let rules = spec.load(1).unwrap();
    assert!(rules.report.rejections.is_empty());
    let r = replay(s.records(), &rules, None).unwrap();
    assert_eq!(r.undecodable, 0, "every simulated record decodes");
    assert_eq!(r.events, r.records);
    assert_eq!(
        r.benign_detections, 0,
        "benign records matched: {:?}",
        r.benign_by_rule
    );
    let truth = s.truth();
    let sc = score(&r.incidents, &truth);
    eprint!("{}", canhgac_sim::score::render(&sc));
    // Floors per national class: every attack is found (the simulator injects only what the
    // shipped rules detect) and every incident of the class is explained by the truth.
    for c in Category::NATIONAL {
        let cs = sc.class(c);
        assert!(cs.truth >= 5, "{c:?}: {} attacks", cs.truth);
        assert!(
            cs.recall >= 0.99,
            "{c:?} recall {} missed {:?}",
            cs.recall,
            cs.missed
        );
        assert!(
            cs.precision >= 0.99,
            "{c:?} precision {}: {:?}",
            cs.precision,
            cs.false_incidents
        );
        // One attack, one incident: its records name what links its detections.
        assert!(
            cs.incidents_per_attack <= 1.1,
            "{c:?}: {} incidents per attack",
            cs.incidents_per_attack
        );
    }
    // No other category appears: the shipped rules classify only into the national classes
    // here.
    assert!(sc.other.is_empty(), "{:?}", sc.other);
}
