//! Grouping detections into attacks: the rule, and the spans that make it exact in any order.
//!
//! **The rule.** Two detections are linked when they are of the same agency and category,
//! share a link key ([`link_keys`]: the entities the detect worker wrote on them from the
//! taxonomy — attacker address, sender, look-alike domain, indicator, C2, target system or
//! host) and their event times are at most the gap apart. An incident is a connected component
//! of that relation: one attack. The components depend only on the set of detections, never on
//! the order they arrive in, so a replay after a crash, partitions interleaved differently, or
//! late data give the same incidents.
//!
//! **Spans.** For each of its link keys an incident keeps the *spans* of its detections' times:
//! maximal runs in which consecutive times are at most the gap apart. A time `t` lies within
//! the gap of some detection of a span `[a, b]` exactly when `a - gap <= t <= b + gap` (inside
//! the span, consecutive detections are at most the gap apart), so a new detection is tested
//! against an incident without keeping every detection time, and the test is exact. Spans of one
//! key in one incident are disjoint and more than the gap apart; adding a time or merging two
//! incidents coalesces the spans it bridges.
//!
//! **Ids.** An incident's id is `attack_id(agency, category, first detection)` (the detection
//! with the smallest event time, then id), a function of the component alone. A detection
//! earlier than an incident's first, or one that bridges two incidents, changes the id; the
//! index keeps the old id as an alias of the new one.

use canhgac_core::detection::Detection;
use canhgac_core::detection::LinkRole;
use canhgac_core::id::{attack_id, campaign_key, link_key};
use canhgac_core::Id;
use serde::{Deserialize, Serialize};

/// The gap of detections made before grouping existed (no `grouping` on them): they link
/// through their provisional incident id alone, with no gap, as they were counted then.
pub const LEGACY_GAP_SECS: u64 = 100 * 366 * 86_400;

/// The link keys of a detection, sorted and distinct, and its gap in seconds. A detection
/// without links (made before grouping existed) links through its provisional incident id.
pub fn link_keys(d: &Detection) -> (Vec<Id>, u64) {
    let agency = d.agency.as_str();
    let category = d.category.as_str();
    if d.grouping.links.is_empty() {
        let key = link_key(
            agency,
            category,
            "legacy",
            "incident",
            &d.incident_id.to_hex(),
        );
        return (vec![key], LEGACY_GAP_SECS);
    }
    let mut keys: Vec<Id> = d
        .grouping
        .links
        .iter()
        .map(|l| link_key(agency, category, l.role.as_str(), &l.kind, &l.value))
        .collect();
    keys.sort();
    keys.dedup();
    let gap = if d.grouping.gap_secs == 0 {
        LEGACY_GAP_SECS
    } else {
        d.grouping.gap_secs
    };
    (keys, gap)
}

/// The id of an incident whose first detection is `d`: [`attack_id`] of it, or, for a detection
/// made before grouping existed (no links), its provisional incident id — such detections group
/// as they were counted then, under the ids they had.
pub fn incident_id_of(d: &Detection) -> Id {
    if d.grouping.links.is_empty() {
        d.incident_id
    } else {
        attack_id(&d.agency, d.category.as_str(), &d.id)
    }
}

/// The campaign keys of a detection: its attack links without the agency.
pub fn campaign_keys(d: &Detection) -> Vec<Id> {
    d.grouping
        .links
        .iter()
        .filter(|l| l.role == LinkRole::Attack)
        .map(|l| campaign_key(d.category.as_str(), &l.kind, &l.value))
        .collect()
}

/// The spans of one link key in one incident (unix seconds, inclusive), sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpans {
    pub key: Id,
    pub spans: Vec<[i64; 2]>,
}

fn near(span: [i64; 2], t: i64, gap: i64) -> bool {
    span[0].saturating_sub(gap) <= t && t <= span[1].saturating_add(gap)
}

impl KeySpans {
    /// Whether a detection at `t` links to a detection of these spans.
    pub fn links(&self, t: i64, gap: u64) -> bool {
        let gap = gap.min(i64::MAX as u64) as i64;
        self.spans.iter().any(|s| near(*s, t, gap))
    }

    /// Adds a detection time, coalescing the spans it bridges.
    pub fn add(&mut self, t: i64, gap: u64) {
        self.insert([t, t], gap);
    }

    /// Adds a span, coalescing the spans within the gap of it.
    fn insert(&mut self, mut span: [i64; 2], gap: u64) {
        let gap = gap.min(i64::MAX as u64) as i64;
        self.spans.retain(|s| {
            let touches =
                s[0].saturating_sub(gap) <= span[1] && span[0] <= s[1].saturating_add(gap);
            if touches {
                span = [span[0].min(s[0]), span[1].max(s[1])];
            }
            !touches
        });
        let pos = self.spans.partition_point(|s| s[0] < span[0]);
        self.spans.insert(pos, span);
    }

    /// Merges another incident's spans of the same key.
    pub fn merge(&mut self, other: &KeySpans, gap: u64) {
        for s in &other.spans {
            self.insert(*s, gap);
        }
    }
}

/// Adds `t` under `key` to a sorted list of key spans.
pub fn add_time(links: &mut Vec<KeySpans>, key: Id, t: i64, gap: u64) {
    match links.binary_search_by(|k| k.key.cmp(&key)) {
        Ok(i) => links[i].add(t, gap),
        Err(i) => links.insert(
            i,
            KeySpans {
                key,
                spans: vec![[t, t]],
            },
        ),
    }
}

/// Merges `from` into `into` (both sorted by key).
pub fn merge_links(into: &mut Vec<KeySpans>, from: &[KeySpans], gap: u64) {
    for k in from {
        match into.binary_search_by(|x| x.key.cmp(&k.key)) {
            Ok(i) => into[i].merge(k, gap),
            Err(i) => into.insert(i, k.clone()),
        }
    }
}

/// Whether a detection at `t` with key `key` links to these spans.
pub fn links_to(links: &[KeySpans], key: &Id, t: i64, gap: u64) -> bool {
    links
        .binary_search_by(|k| k.key.cmp(key))
        .is_ok_and(|i| links[i].links(t, gap))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn spans_link_within_the_gap_and_coalesce() {
        let gap = 3 * DAY as u64;
        let mut k = KeySpans {
            key: Id::default(),
            spans: vec![],
        };
        k.add(0, gap);
        k.add(10 * DAY, gap);
        assert_eq!(k.spans.len(), 2);
        assert!(k.links(3 * DAY, gap));
        assert!(!k.links(5 * DAY, gap), "5 days from both ends");
        assert!(k.links(7 * DAY, gap));
        k.add(3 * DAY, gap);
        k.add(7 * DAY, gap);
        assert_eq!(k.spans, vec![[0, 3 * DAY], [7 * DAY, 10 * DAY]]);
        k.add(5 * DAY, gap);
        assert_eq!(
            k.spans,
            vec![[0, 10 * DAY]],
            "a detection bridging both joins them"
        );
        assert!(k.links(13 * DAY, gap));
        assert!(!k.links(14 * DAY, gap));
    }

    #[test]
    fn adding_in_any_order_gives_the_same_spans() {
        let gap = 2 * DAY as u64;
        let times = [0, DAY, 9 * DAY, 4 * DAY, 3 * DAY, 20 * DAY, 11 * DAY];
        let build = |order: &[usize]| {
            let mut k = KeySpans {
                key: Id::default(),
                spans: vec![],
            };
            for &i in order {
                k.add(times[i], gap);
            }
            k
        };
        let a = build(&[0, 1, 2, 3, 4, 5, 6]);
        let b = build(&[6, 5, 4, 3, 2, 1, 0]);
        let c = build(&[2, 0, 5, 1, 6, 3, 4]);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(
            a.spans,
            vec![[0, 4 * DAY], [9 * DAY, 11 * DAY], [20 * DAY, 20 * DAY]]
        );
    }
}
