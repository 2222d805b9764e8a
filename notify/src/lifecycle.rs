//! notify follows the incidents' handling state (issue 16 part 4): the lifecycle records of
//! `<prefix>.incident-events` ([`IncidentEvent`]) carry the alert keys (the detect worker's
//! provisional incident ids, what notify groups alerts by) of their incident's detections;
//! [`follow_lifecycle`] keeps, per alert key, the fold of its records
//! ([`Handling::fold`] under the lifecycle [`Policy`]). The intake asks [`Lifecycle::closed`]
//! before deciding: a closed incident (resolved, for any reason, false positive included) gets
//! no escalation; a reopened one escalates again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use canhgac_core::lifecycle::{Handling, IncidentEvent, Policy};
use canhgac_core::transport::Subscription;
use canhgac_core::Id;

/// The handling state per alert key.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    policy: Policy,
    /// The records that can change a status, by alert key.
    records: HashMap<Id, Vec<Arc<IncidentEvent>>>,
    /// The fold of each key's records.
    state: HashMap<Id, Handling>,
    seen: HashSet<Id>,
}

impl Lifecycle {
    pub fn new(policy: Policy) -> Self {
        Lifecycle {
            policy,
            ..Default::default()
        }
    }

    /// Applies a record (any order; a repeat counts once). Returns whether a key's state may
    /// have changed.
    pub fn apply(&mut self, record: IncidentEvent) -> bool {
        // Comments, notes and suppressions never change a status: not kept.
        if self.policy.target(record.action.kind()).is_none()
            || record.alert_keys.is_empty()
            || !self.seen.insert(record.id)
        {
            return false;
        }
        let record = Arc::new(record);
        for key in &record.alert_keys {
            let list = self.records.entry(*key).or_default();
            list.push(record.clone());
            let handling = Handling::fold(list.iter().map(|r| r.as_ref()), &self.policy);
            self.state.insert(*key, handling);
        }
        true
    }

    /// The handling state of the incident an alert key belongs to, when records name it.
    pub fn handling(&self, key: &Id) -> Option<&Handling> {
        self.state.get(key)
    }

    /// Whether the incident of `key` is closed (resolved, any reason): no escalation.
    pub fn closed(&self, key: &Id) -> bool {
        self.state.get(key).is_some_and(Handling::closed)
    }

    /// Alert keys with a known state.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }
}

/// The lifecycle view shared by the follower (writes) and the intake (reads).
#[derive(Debug, Clone, Default)]
pub struct LifecycleHandle(Arc<RwLock<Lifecycle>>);

impl LifecycleHandle {
    pub fn new(policy: Policy) -> Self {
        LifecycleHandle(Arc::new(RwLock::new(Lifecycle::new(policy))))
    }

    /// Reads the view.
    pub fn read<T>(&self, f: impl FnOnce(&Lifecycle) -> T) -> T {
        f(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Lifecycle) -> T) -> T {
        f(&mut self.0.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// Of `keys`, the ones whose incident is closed.
    pub fn closed<'a>(&self, keys: impl IntoIterator<Item = &'a Id>) -> HashSet<Id> {
        self.read(|l| keys.into_iter().filter(|k| l.closed(k)).copied().collect())
    }
}

/// What [`follow_lifecycle`] read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FollowStats {
    pub records: u64,
    /// Payloads that were not lifecycle records (skipped, logged).
    pub rejected: u64,
}

/// Reads the incident-events topic (its own subscription, from the beginning) into `handle`,
/// acking each record, until the subscription ends or `cancel` fires.
pub async fn follow_lifecycle<S: Subscription>(
    mut sub: S,
    handle: LifecycleHandle,
    cancel: CancellationToken,
) -> FollowStats {
    let mut stats = FollowStats::default();
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
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
        let mut records = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        for m in batch {
            match IncidentEvent::from_json(&m.payload) {
                Ok(r) => records.push(r),
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
        stats.records += records.len() as u64;
        handle.write(|l| {
            for r in records {
                let (id, action) = (r.id, r.action.kind());
                if l.apply(r) {
                    tracing::debug!(record = %id, %action, "incident state followed");
                }
            }
        });
        for a in acks {
            a.ack();
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::lifecycle::{Action, Actor, CloseReason};

    fn record(at: &str, action: Action, keys: &[u8]) -> IncidentEvent {
        let mut r = IncidentEvent::new(
            Id([1; 16]),
            Id([2; 16]),
            "byt",
            at.parse().unwrap(),
            Actor {
                name: "Lan".into(),
                role: "agency:byt".into(),
            },
            action,
            None,
        );
        r.alert_keys = keys.iter().map(|k| Id([*k; 16])).collect();
        r
    }

    #[test]
    fn closed_follows_resolve_and_reopen_per_alert_key_in_any_order() {
        let resolve = record(
            "2026-10-01T01:00:00Z",
            Action::Resolve {
                reason: CloseReason::FalsePositive,
                note: String::new(),
                duplicate_of: None,
            },
            &[7, 8],
        );
        let reopen = record(
            "2026-10-01T02:00:00Z",
            Action::Reopen {
                note: String::new(),
            },
            &[7, 8, 9],
        );
        let comment = record(
            "2026-10-01T03:00:00Z",
            Action::Comment { text: "x".into() },
            &[7],
        );
        let mut l = Lifecycle::new(Policy::default());
        assert!(l.apply(resolve.clone()));
        assert!(!l.apply(resolve.clone()), "a repeat counts once");
        assert!(!l.apply(comment), "a comment changes no status");
        assert!(l.closed(&Id([7; 16])) && l.closed(&Id([8; 16])));
        assert!(!l.closed(&Id([6; 16])), "a key no record names");
        assert!(l.apply(reopen.clone()));
        assert!(!l.closed(&Id([7; 16])));
        // The reopen read before the resolve: the fold orders them by time.
        let mut late = Lifecycle::new(Policy::default());
        late.apply(reopen);
        late.apply(resolve);
        assert!(!late.closed(&Id([8; 16])));
        assert_eq!(late.len(), 3);
    }
}
