//! The simulator against the shipped rules: deterministic, time-ordered, decodable, every
//! injected attack detected, no benign record detected, and recall/precision per national
//! class above a floor.

use canhgac_core::registry::Registry;
use canhgac_detect::worker::RulesetSpec;
use canhgac_sim::score::{replay, score};
use canhgac_sim::{Category, SimConfig, Simulator, Stream};
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
    }
    for c in Category::NATIONAL {
        assert!(truth.iter().any(|t| t.category == c), "{c:?}");
    }
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
    }
    // No other category appears: the shipped rules classify only into the national classes
    // here.
    assert!(
        sc.classes.keys().all(|c| Category::NATIONAL.contains(c)),
        "{:?}",
        sc.classes.keys()
    );
}
