//! Incident aggregation: an incident is one attack on one agency, the aggregate of its
//! *distinct* detections, which [`crate::group`] links by shared entities within a gap.
//!
//! The aggregate does not depend on the order in which detections arrive, so a replay after a
//! crash (which may interleave partitions differently) gives the same incident:
//!
//! - `id`: [`canhgac_core::id::attack_id`] of the first detection ([`crate::group::incident_id_of`]);
//! - `links`: the spans of its detections' times per link key ([`crate::group::KeySpans`]);
//! - `count`: distinct detection ids (the indexer never merges a detection id twice);
//! - `first_seen`/`last_seen`: min/max of the detections' event times;
//! - `month`: the month of `first_seen` in Asia/Ho_Chi_Minh — where the incident counts;
//! - `priority`: the highest;
//! - `category`, `system`, `group_key`, `agency`: those of the *first* detection, the one with
//!   the smallest (event time, detection id);
//! - rule ids/titles, techniques and entities: sorted sets, capped at the smallest
//!   [`MAX_RULES`]/[`MAX_ENTITIES`] values (the smallest, not the first seen, so that the cap
//!   is order-independent too);
//! - `lifecycle`: its lifecycle records ([`IncidentEvent`], those anchored at one of its
//!   detections), sorted by (time, id), distinct; `handling` is their fold
//!   ([`Handling::fold`], whose `history` says who changed what, when) and `status`,
//!   `close_reason`, `assignee` mirror it ([`IncidentRecord::refold`]). **A detection never changes the
//!   status**: a new detection for an acknowledged or resolved incident raises its count and
//!   `last_seen`, and the incident stays as the analyst left it. A resolved incident that sees
//!   new activity is found with `status:resolved` and `last_seen` after the resolution time
//!   (the time of its resolve record); reopening it is the analyst's decision.
//! - `joins`: the synthetic link keys of merge records ([`crate::lifecycle`]): an incident
//!   holding one links to any detection carrying it, whatever its time.

use canhgac_core::detection::{month_of, Detection, Entities, Incident, Status};
use canhgac_core::lifecycle::{Handling, IncidentEvent, Policy};
use canhgac_core::Id;

use crate::group::{self, KeySpans};
use serde::{Deserialize, Serialize};

/// At most this many rules (and techniques) are kept per incident.
pub const MAX_RULES: usize = 32;
/// At most this many values of each entity kind are kept per incident.
pub const MAX_ENTITIES: usize = 32;
/// What the index stores for an incident: the [`Incident`] of the core model plus what the
/// aggregation needs to stay exact and order-independent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    #[serde(flatten)]
    pub incident: Incident,
    /// The detection with the smallest (event time, id): it names category, system and key.
    pub first_detection: Id,
    /// Its lifecycle records, sorted by (time, id), distinct.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle: Vec<IncidentEvent>,
    /// The fold of `lifecycle` under the indexer's policy.
    #[serde(default = "fresh_handling")]
    pub handling: Handling,
    /// Synthetic link keys of merge records (sorted): they link regardless of time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<Id>,
    /// The spans of its detections' times per link key, sorted by key: what a new detection
    /// is tested against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<KeySpans>,
    /// The largest gap among its detections (seconds).
    #[serde(default)]
    pub gap_secs: u64,
    /// Its attack entities without the agency ([`canhgac_core::id::campaign_key`]), the smallest
    /// [`MAX_ENTITIES`]: incidents of other agencies sharing one are the same campaign.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_keys: Vec<Id>,
}

fn fresh_handling() -> Handling {
    Handling {
        counted: true,
        ..Handling::default()
    }
}

fn add_sorted(into: &mut Vec<String>, value: &str, cap: usize) {
    if let Err(pos) = into.binary_search_by(|v| v.as_str().cmp(value)) {
        if pos < cap {
            into.insert(pos, value.to_string());
            into.truncate(cap);
        }
    }
}

fn add_sorted_id(into: &mut Vec<Id>, value: Id, cap: usize) {
    if let Err(pos) = into.binary_search(&value) {
        if pos < cap {
            into.insert(pos, value);
            into.truncate(cap);
        }
    }
}

fn merge_entities(into: &mut Entities, from: &Entities) {
    let pairs: [(&mut Vec<String>, &Vec<String>); 7] = [
        (&mut into.ips, &from.ips),
        (&mut into.hosts, &from.hosts),
        (&mut into.users, &from.users),
        (&mut into.domains, &from.domains),
        (&mut into.urls, &from.urls),
        (&mut into.hashes, &from.hashes),
        (&mut into.emails, &from.emails),
    ];
    for (into, from) in pairs {
        for v in from {
            add_sorted(into, v, MAX_ENTITIES);
        }
    }
}

impl IncidentRecord {
    /// A new incident from its first detection.
    pub fn from_detection(d: &Detection) -> IncidentRecord {
        let (keys, gap) = group::link_keys(d);
        Self::from_linked(d, &keys, gap)
    }

    /// [`IncidentRecord::from_detection`] with the detection's link keys and gap already
    /// computed ([`group::link_keys`]).
    pub(crate) fn from_linked(d: &Detection, keys: &[Id], gap: u64) -> IncidentRecord {
        let mut r = IncidentRecord {
            incident: Incident {
                id: group::incident_id_of(d),
                agency: d.agency.clone(),
                system: d.system.clone(),
                category: d.category,
                priority: d.priority,
                first_seen: d.timestamp,
                last_seen: d.timestamp,
                count: 0,
                month: month_of(d.timestamp),
                group_key: d.group_key.clone(),
                rule_ids: Vec::new(),
                rule_titles: Vec::new(),
                techniques: Vec::new(),
                entities: Entities::default(),
                status: Status::New,
                close_reason: None,
                assignee: None,
            },
            first_detection: d.id,
            lifecycle: Vec::new(),
            handling: fresh_handling(),
            joins: Vec::new(),
            links: Vec::new(),
            gap_secs: 0,
            campaign_keys: Vec::new(),
        };
        r.merge_linked(d, keys, gap);
        r
    }

    /// Adds a detection not yet counted in this incident. The caller guarantees distinctness
    /// (the indexer checks the detection id against the index and the pending batch) and that
    /// it links to this incident. The id changes when the detection is earlier than the first.
    pub fn merge(&mut self, d: &Detection) {
        let (keys, gap) = group::link_keys(d);
        self.merge_linked(d, &keys, gap);
    }

    /// [`IncidentRecord::merge`] with the detection's link keys and gap already computed.
    pub(crate) fn merge_linked(&mut self, d: &Detection, keys: &[Id], gap: u64) {
        let t = d.timestamp.timestamp();
        for k in keys {
            group::add_time(&mut self.links, *k, t, gap);
        }
        self.gap_secs = self.gap_secs.max(gap);
        for k in group::campaign_keys(d) {
            add_sorted_id(&mut self.campaign_keys, k, MAX_ENTITIES);
        }
        let i = &mut self.incident;
        i.count += 1;
        if (d.timestamp, d.id) < (i.first_seen, self.first_detection) {
            i.first_seen = d.timestamp;
            i.month = month_of(d.timestamp);
            self.first_detection = d.id;
            i.category = d.category;
            i.system = d.system.clone();
            i.group_key = d.group_key.clone();
            i.agency = d.agency.clone();
            i.id = group::incident_id_of(d);
        }
        if d.timestamp > i.last_seen {
            i.last_seen = d.timestamp;
        }
        if d.priority > i.priority {
            i.priority = d.priority;
        }
        // rule_ids and rule_titles are parallel, sorted by rule id.
        match i.rule_ids.binary_search(&d.rule.id) {
            Ok(_) => {}
            Err(pos) if pos < MAX_RULES => {
                i.rule_ids.insert(pos, d.rule.id.clone());
                i.rule_titles.insert(pos, d.rule.title.clone());
                i.rule_ids.truncate(MAX_RULES);
                i.rule_titles.truncate(MAX_RULES);
            }
            Err(_) => {}
        }
        for t in &d.rule.techniques {
            add_sorted(&mut i.techniques, t, MAX_RULES);
        }
        merge_entities(&mut i.entities, &d.entities);
    }

    /// Whether a detection at `t` with these link keys links to this incident.
    pub fn links_to(&self, keys: &[Id], t: i64, gap: u64) -> bool {
        let gap = gap.max(self.gap_secs);
        keys.iter().any(|k| group::links_to(&self.links, k, t, gap))
    }

    /// Takes in another incident that a detection (or a merge record) linked to this one (both
    /// of the same agency; their detections are distinct). The result does not depend on which
    /// of the two absorbs the other: their lifecycle records are united (refold it with
    /// [`IncidentRecord::refold`]).
    pub fn absorb(&mut self, other: IncidentRecord) {
        let gap = self.gap_secs.max(other.gap_secs);
        group::merge_links(&mut self.links, &other.links, gap);
        self.gap_secs = gap;
        for k in &other.campaign_keys {
            add_sorted_id(&mut self.campaign_keys, *k, MAX_ENTITIES);
        }
        let o = other.incident;
        let earlier = (o.first_seen, other.first_detection)
            < (self.incident.first_seen, self.first_detection);
        let i = &mut self.incident;
        i.count += o.count;
        if earlier {
            i.first_seen = o.first_seen;
            i.month = o.month;
            self.first_detection = other.first_detection;
            i.category = o.category;
            i.system = o.system;
            i.group_key = o.group_key;
            i.agency = o.agency;
            i.id = o.id;
        }
        i.last_seen = i.last_seen.max(o.last_seen);
        i.priority = i.priority.max(o.priority);
        for (id, title) in o.rule_ids.iter().zip(&o.rule_titles) {
            match i.rule_ids.binary_search(id) {
                Ok(_) => {}
                Err(pos) if pos < MAX_RULES => {
                    i.rule_ids.insert(pos, id.clone());
                    i.rule_titles.insert(pos, title.clone());
                    i.rule_ids.truncate(MAX_RULES);
                    i.rule_titles.truncate(MAX_RULES);
                }
                Err(_) => {}
            }
        }
        for t in &o.techniques {
            add_sorted(&mut i.techniques, t, MAX_RULES);
        }
        merge_entities(&mut i.entities, &o.entities);
        for e in other.lifecycle {
            self.add_record(e);
        }
        for j in other.joins {
            self.add_join(j);
        }
    }

    /// Adds a lifecycle record (once: by id). Returns whether it was new.
    pub fn add_record(&mut self, e: IncidentEvent) -> bool {
        if self.lifecycle.iter().any(|x| x.id == e.id) {
            return false;
        }
        let pos = self
            .lifecycle
            .partition_point(|x| (x.at, x.id) < (e.at, e.id));
        self.lifecycle.insert(pos, e);
        true
    }

    /// Adds a merge record's synthetic link key.
    pub fn add_join(&mut self, key: Id) {
        if let Err(pos) = self.joins.binary_search(&key) {
            self.joins.insert(pos, key);
        }
    }

    /// Recomputes `handling` from `lifecycle` and the fields that mirror it.
    pub fn refold(&mut self, policy: &Policy) {
        if self.lifecycle.is_empty() && self.handling.history.is_empty() {
            self.handling = fresh_handling();
            self.incident.status = Status::New;
            self.incident.close_reason = None;
            self.incident.assignee = None;
            return;
        }
        let h = Handling::fold(&self.lifecycle, policy);
        self.incident.status = h.status;
        self.incident.close_reason = h.close_reason;
        self.incident.assignee = h.assignee.clone();
        self.handling = h;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::synth::detection;
    use canhgac_core::lifecycle::Action;
    use canhgac_core::{Category, Priority};
    use chrono::{DateTime, Utc};

    #[test]
    fn aggregate_is_order_independent() {
        let ds: Vec<Detection> = (0..6)
            .map(|i| {
                let mut d = detection("byt", "r1", "site-a", 1_650_000_000 + i * 3600, i as u64);
                d.priority = if i == 3 { Priority::P1 } else { Priority::P3 };
                d.entities.ips = vec![format!("10.0.0.{}", 9 - i)];
                if i == 4 {
                    d.category = Category::Malware;
                }
                d
            })
            .collect();
        let build = |order: &[usize]| {
            let mut r = IncidentRecord::from_detection(&ds[order[0]]);
            for &k in &order[1..] {
                r.merge(&ds[k]);
            }
            r
        };
        let a = build(&[0, 1, 2, 3, 4, 5]);
        let b = build(&[5, 3, 1, 4, 0, 2]);
        assert_eq!(a, b);
        assert_eq!(a.incident.count, 6);
        assert_eq!(a.incident.priority, Priority::P1);
        assert_eq!(a.incident.first_seen, ds[0].timestamp);
        assert_eq!(a.incident.last_seen, ds[5].timestamp);
        assert_eq!(a.incident.category, ds[0].category);
        assert_eq!(a.incident.entities.ips.len(), 6);
        assert!(a.incident.entities.ips.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn status_changes_are_recorded_and_detections_keep_them() {
        use canhgac_core::lifecycle::{Actor, CloseReason};
        let d0 = detection("byt", "r1", "k", 1_650_000_000, 0);
        let mut r = IncidentRecord::from_detection(&d0);
        let at: DateTime<Utc> = "2022-04-20T00:00:00Z".parse().unwrap();
        let by = Actor {
            name: "Lan".into(),
            role: "national".into(),
        };
        let resolve = Action::Resolve {
            reason: CloseReason::Handled,
            note: "site restored".into(),
            duplicate_of: None,
        };
        let e = IncidentEvent::new(r.incident.id, d0.id, "byt", at, by, resolve, None);
        assert!(r.add_record(e.clone()));
        assert!(!r.add_record(e), "a record counts once");
        r.refold(&Policy::default());
        r.merge(&detection("byt", "r1", "k", 1_650_100_000, 1));
        assert_eq!(r.incident.status, Status::Resolved);
        assert_eq!(r.incident.count, 2);
        let changes: Vec<_> = r
            .handling
            .history
            .iter()
            .map(|e| e.by.name.as_str())
            .collect();
        assert_eq!(changes, ["Lan"]);
        let json = serde_json::to_string(&r).unwrap();
        let back: IncidentRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
