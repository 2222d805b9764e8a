//! Suppressions (issue 16 part 3): a person closing an incident as false positive or benign
//! may suppress what fired — one rule, one agency, one entity — until an expiry. A suppression
//! is a lifecycle record (`suppress`, revoked by `unsuppress`, both
//! [`IncidentEvent`]s on `<prefix>.incident-events`); [`follow_suppressions`] reads that topic
//! from the beginning into a [`SuppressionsHandle`], which the stage
//! ([`super::DetectStage::with_suppressions`]) and [`super::detector::Detector`] consult.
//!
//! A detection of the suppression's rule and agency that names its entity — in its
//! [`Entities`](canhgac_core::detection::Entities) list of that kind, or in its grouping links
//! of that kind — gets `suppressed = Some(<suppression id>)`. It is still published: the index
//! keeps and counts it but makes no incident of it, and notify sends no alert for it.
//!
//! Expiry runs on the tokio clock: a suppression is in force from when the worker learns it
//! until its `expires`, converted to a tokio deadline when it is added, so a test with a paused
//! clock sees it end exactly then. Lookups check the deadline; the follower also drops expired
//! ones when their deadline passes (and sets `detect_suppressions_active`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use prometheus::IntGauge;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use canhgac_core::detection::Detection;
use canhgac_core::lifecycle::{Action, IncidentEvent, Suppression};
use canhgac_core::transport::Subscription;
use canhgac_core::Id;

/// A suppression in force, with its deadline on the tokio clock.
#[derive(Debug, Clone)]
struct Active {
    suppression: Suppression,
    until: Instant,
}

/// The suppressions a worker knows, by (rule, agency).
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    by_target: HashMap<(String, String), Vec<Active>>,
    /// Revoked ids: a `suppress` read after its `unsuppress` (records of one topic arrive in
    /// any order across partitions) stays revoked.
    revoked: HashSet<Id>,
}

/// What applying a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A suppression now in force.
    Added,
    /// A suppression revoked.
    Revoked,
    /// Nothing: another action, a repeat, a revoked or already expired suppression.
    Unchanged,
}

impl Suppressions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a lifecycle record; `now` is the tokio clock, `wall` the wall clock at the
    /// same moment (the record's expiry is a wall-clock time).
    pub fn apply(&mut self, record: &IncidentEvent, now: Instant, wall: DateTime<Utc>) -> Applied {
        match &record.action {
            Action::Suppress { suppression } => self.add(suppression.clone(), now, wall),
            Action::Unsuppress { suppression } => self.revoke(*suppression),
            _ => Applied::Unchanged,
        }
    }

    /// Adds `s`, in force until its `expires` (on the tokio clock from `now`).
    pub fn add(&mut self, s: Suppression, now: Instant, wall: DateTime<Utc>) -> Applied {
        if self.revoked.contains(&s.id) {
            return Applied::Unchanged;
        }
        let left = match (s.expires - wall).to_std() {
            Ok(d) if !d.is_zero() => d,
            _ => return Applied::Unchanged,
        };
        let list = self
            .by_target
            .entry((s.rule.clone(), s.agency.clone()))
            .or_default();
        if list.iter().any(|a| a.suppression.id == s.id) {
            return Applied::Unchanged;
        }
        list.push(Active {
            suppression: s,
            until: now + left,
        });
        Applied::Added
    }

    /// Revokes suppression `id` (also one not seen yet).
    pub fn revoke(&mut self, id: Id) -> Applied {
        let fresh = self.revoked.insert(id);
        let mut removed = false;
        self.by_target.retain(|_, list| {
            let before = list.len();
            list.retain(|a| a.suppression.id != id);
            removed |= list.len() != before;
            !list.is_empty()
        });
        if removed || fresh {
            Applied::Revoked
        } else {
            Applied::Unchanged
        }
    }

    /// The suppression in force at `now` that `d` falls under, if any. A suppression never
    /// reaches back: an event older than the suppression (what the analyst had seen when making
    /// it, or a source read again from its start) is not suppressed, so re-reading the same
    /// records after a rebuild decides as the first reading did.
    pub fn matching(&self, d: &Detection, now: Instant) -> Option<Id> {
        let list = self.by_target.get(&(d.rule.id.clone(), d.agency.clone()))?;
        list.iter()
            .filter(|a| now < a.until && d.timestamp >= a.suppression.created)
            .find(|a| names(d, &a.suppression.entity.kind, &a.suppression.entity.value))
            .map(|a| a.suppression.id)
    }

    /// Marks `d` when a suppression covers it; returns the suppression.
    pub fn mark(&self, d: &mut Detection, now: Instant) -> Option<Id> {
        let id = self.matching(d, now)?;
        d.suppressed = Some(id);
        Some(id)
    }

    /// Drops the suppressions whose deadline passed; returns how many.
    pub fn prune(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        self.by_target.retain(|_, list| {
            let before = list.len();
            list.retain(|a| now < a.until);
            dropped += before - list.len();
            !list.is_empty()
        });
        dropped
    }

    /// Suppressions in force at `now`.
    pub fn active(&self, now: Instant) -> usize {
        self.by_target
            .values()
            .flatten()
            .filter(|a| now < a.until)
            .count()
    }

    /// The earliest deadline still ahead of the ones held.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_target.values().flatten().map(|a| a.until).min()
    }

    /// The suppressions in force at `now`, by id.
    pub fn list(&self, now: Instant) -> Vec<&Suppression> {
        let mut out: Vec<&Suppression> = self
            .by_target
            .values()
            .flatten()
            .filter(|a| now < a.until)
            .map(|a| &a.suppression)
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}

/// Whether `d` names the entity `kind`:`value`, in its entities or its grouping links.
fn names(d: &Detection, kind: &str, value: &str) -> bool {
    let listed = d
        .entities
        .of_kind(kind)
        .is_some_and(|list| list.iter().any(|v| same(kind, v, value)));
    listed
        || d.grouping
            .links
            .iter()
            .any(|l| l.kind == kind && same(kind, &l.value, value))
}

/// One entity value: addresses compared as addresses (`2001:db8::1` = `2001:DB8:0::1`), names
/// without case or a trailing dot.
fn same(kind: &str, a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if kind == "ip" {
        if let (Ok(x), Ok(y)) = (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
            return x == y;
        }
    }
    let (a, b) = match kind {
        "host" | "domain" => (a.trim_end_matches('.'), b.trim_end_matches('.')),
        _ => (a, b),
    };
    a.eq_ignore_ascii_case(b)
}

/// The suppressions shared by the follower (which writes) and the stage and detectors (which
/// read), swapped whole like the rules.
#[derive(Clone, Default)]
pub struct SuppressionsHandle(Arc<HandleInner>);

#[derive(Default)]
struct HandleInner {
    set: ArcSwap<Suppressions>,
    /// `detect_suppressions_active`, once a stage reports to it.
    gauge: Mutex<Option<IntGauge>>,
}

impl SuppressionsHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current set.
    pub fn current(&self) -> Arc<Suppressions> {
        self.0.set.load_full()
    }

    /// Replaces the set and sets the gauge.
    pub fn store(&self, set: Suppressions) {
        let active = set.active(Instant::now());
        self.0.set.store(Arc::new(set));
        if let Some(g) = self
            .0
            .gauge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            g.set(active as i64);
        }
    }

    /// Reports the number in force to `gauge` from now on.
    pub fn report_to(&self, gauge: IntGauge) {
        gauge.set(self.current().active(Instant::now()) as i64);
        *self.0.gauge.lock().unwrap_or_else(|p| p.into_inner()) = Some(gauge);
    }

    /// Marks `d` when a suppression in force covers it.
    pub fn mark(&self, d: &mut Detection) -> Option<Id> {
        self.0.set.load().mark(d, Instant::now())
    }
}

impl std::fmt::Debug for SuppressionsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuppressionsHandle")
            .field("active", &self.current().active(Instant::now()))
            .finish()
    }
}

/// What [`follow_suppressions`] read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FollowStats {
    /// Lifecycle records read.
    pub records: u64,
    /// Suppressions added or revoked.
    pub changes: u64,
    /// Payloads that were not lifecycle records (skipped, logged).
    pub rejected: u64,
}

/// Reads the incident-events topic (every record, from the beginning: a new worker learns
/// every suppression) into `handle`, acking each record, until the subscription ends or
/// `cancel` fires. Suppressions leave the set when they expire.
pub async fn follow_suppressions<S: Subscription>(
    mut sub: S,
    handle: SuppressionsHandle,
    cancel: CancellationToken,
) -> FollowStats {
    let mut stats = FollowStats::default();
    let mut working = (*handle.current()).clone();
    loop {
        let expiry = working.next_expiry();
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = sleep_until(expiry) => {
                let dropped = working.prune(Instant::now());
                if dropped > 0 {
                    tracing::info!(dropped, "suppressions expired");
                    handle.store(working.clone());
                }
                continue;
            }
            m = sub.recv() => m,
        };
        let mut batch = match first {
            None => break,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "transport error reading incident events");
                continue;
            }
            Some(Ok(m)) => vec![m],
        };
        sub.take_ready(
            &mut batch,
            512,
            |e| tracing::warn!(error = %e, "transport error reading incident events"),
        );
        let (now, wall) = (Instant::now(), Utc::now());
        let mut changed = false;
        let mut acks = Vec::with_capacity(batch.len());
        for m in batch {
            match IncidentEvent::from_json(&m.payload) {
                Ok(record) => {
                    stats.records += 1;
                    let applied = working.apply(&record, now, wall);
                    if applied != Applied::Unchanged {
                        stats.changes += 1;
                        changed = true;
                        log_change(&record, applied);
                    }
                }
                Err(why) => {
                    stats.rejected += 1;
                    tracing::warn!(
                        topic = m.topic,
                        partition = m.partition,
                        offset = m.offset,
                        reason = why,
                        "skipping a message that is not an incident event"
                    );
                }
            }
            acks.push(m.ack);
        }
        if changed {
            handle.store(working.clone());
        }
        for a in acks {
            a.ack();
        }
    }
    stats
}

fn log_change(record: &IncidentEvent, applied: Applied) {
    match (&record.action, applied) {
        (Action::Suppress { suppression: s }, Applied::Added) => tracing::info!(
            suppression = %s.id,
            rule = s.rule,
            agency = s.agency,
            entity = format!("{}:{}", s.entity.kind, s.entity.value),
            owner = s.owner,
            expires = %s.expires,
            "suppression in force"
        ),
        (Action::Unsuppress { suppression }, Applied::Revoked) => {
            tracing::info!(suppression = %suppression, by = record.by.name, "suppression revoked")
        }
        _ => {}
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::detection::{Entities, Link, LinkRole};
    use canhgac_core::lifecycle::{suppression_id, Actor, EntityRef};
    use std::time::Duration;

    fn suppression(rule: &str, agency: &str, kind: &str, value: &str, hours: i64) -> Suppression {
        let created: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
        let entity = EntityRef {
            kind: kind.into(),
            value: value.into(),
        };
        Suppression {
            id: suppression_id(rule, agency, &entity, created),
            rule: rule.into(),
            agency: agency.into(),
            entity,
            owner: "Lan".into(),
            reason: "the agency's own scanner".into(),
            created,
            expires: created + chrono::Duration::hours(hours),
        }
    }

    fn detection(rule: &str, agency: &str, entities: Entities, links: Vec<Link>) -> Detection {
        let mut d: Detection = serde_json::from_value(serde_json::json!({
            "v": 1, "id": "01010101010101010101010101010101",
            "incident_id": "02020202020202020202020202020202", "agency": agency,
            "rule": {"id": rule, "title": "t", "kind": "sigma", "level": "high"},
            "category": "malware", "priority": "p3", "@timestamp": "2026-10-01T00:00:00Z",
            "month": 202610, "group_key": "k",
            "event": {"v": 1, "id": "03030303030303030303030303030303", "agency": agency,
                "sensor": "s", "dataset": "json", "@timestamp": "2026-10-01T00:00:00Z",
                "received": "2026-10-01T00:00:00Z", "source": {"kind": "file", "name": "t"},
                "ecs": {}, "original": {}}
        }))
        .unwrap();
        d.entities = entities;
        d.grouping.links = links;
        d
    }

    #[test]
    fn a_suppression_matches_its_rule_agency_and_entity_only_until_it_expires() {
        let wall: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
        let now = Instant::now();
        let mut set = Suppressions::new();
        let s = suppression("r1", "byt", "ip", "2001:db8::1", 24);
        assert_eq!(set.add(s.clone(), now, wall), Applied::Added);
        assert_eq!(
            set.add(s.clone(), now, wall),
            Applied::Unchanged,
            "a repeat"
        );
        let ips = |v: &str| Entities {
            ips: vec![v.into()],
            ..Default::default()
        };
        // (name, detection, suppressed)
        let cases = [
            (
                "same address written otherwise",
                detection("r1", "byt", ips("2001:DB8:0::1"), vec![]),
                true,
            ),
            (
                "other address",
                detection("r1", "byt", ips("2001:db8::2"), vec![]),
                false,
            ),
            (
                "other rule",
                detection("r2", "byt", ips("2001:db8::1"), vec![]),
                false,
            ),
            (
                "other agency",
                detection("r1", "btc", ips("2001:db8::1"), vec![]),
                false,
            ),
            (
                "in a grouping link",
                detection(
                    "r1",
                    "byt",
                    Entities::default(),
                    vec![Link {
                        role: LinkRole::Attack,
                        kind: "ip".into(),
                        value: "2001:db8::1".into(),
                    }],
                ),
                true,
            ),
            (
                "a link of another kind",
                detection(
                    "r1",
                    "byt",
                    Entities::default(),
                    vec![Link {
                        role: LinkRole::Attack,
                        kind: "host".into(),
                        value: "2001:db8::1".into(),
                    }],
                ),
                false,
            ),
        ];
        for (name, d, want) in &cases {
            let got = set.matching(d, now + Duration::from_secs(3600));
            assert_eq!(got, want.then_some(s.id), "{name}");
        }
        let d = &cases[0].1;
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(
            set.matching(d, now + day - Duration::from_millis(1)),
            Some(s.id)
        );
        assert_eq!(set.matching(d, now + day), None, "expired at its expiry");
        assert_eq!(set.active(now), 1);
        assert_eq!(set.prune(now + day), 1);
        assert_eq!(set.active(now), 0);
    }

    #[test]
    fn a_revoked_or_expired_suppression_is_never_in_force_whatever_the_order() {
        let wall: DateTime<Utc> = "2026-10-01T12:00:00Z".parse().unwrap();
        let now = Instant::now();
        let s = suppression("r1", "byt", "domain", "evil.example", 24);
        let record = |action| {
            IncidentEvent::new(
                Id([1; 16]),
                Id([2; 16]),
                "byt",
                wall,
                Actor {
                    name: "Lan".into(),
                    role: "agency:byt".into(),
                },
                action,
                None,
            )
        };
        let suppress = record(Action::Suppress {
            suppression: s.clone(),
        });
        let unsuppress = record(Action::Unsuppress { suppression: s.id });
        let d = detection(
            "r1",
            "byt",
            Entities {
                domains: vec!["Evil.Example.".into()],
                ..Default::default()
            },
            vec![],
        );
        let mut set = Suppressions::new();
        assert_eq!(set.apply(&suppress, now, wall), Applied::Added);
        assert_eq!(set.matching(&d, now), Some(s.id), "case and trailing dot");
        assert_eq!(set.apply(&unsuppress, now, wall), Applied::Revoked);
        assert_eq!(set.matching(&d, now), None);
        let mut late = Suppressions::new();
        late.apply(&unsuppress, now, wall);
        assert_eq!(late.apply(&suppress, now, wall), Applied::Unchanged);
        assert_eq!(late.matching(&d, now), None, "revoked before it was read");
        let mut old = Suppressions::new();
        let after = wall + chrono::Duration::days(2);
        assert_eq!(old.apply(&suppress, now, after), Applied::Unchanged);
        assert_eq!(old.active(now), 0, "expired before it was learnt");
    }
}
