//! The per-incident decision: alert on the first detection of an incident, then again only on
//! an escalation — the priority rises, or the number of distinct detections crosses one of the
//! thresholds (10, 100, 1000 by default). Every alert carries the incident's revision, which
//! grows by one with each alert; revision and incident id form the idempotency key.
//!
//! An incident that people closed (resolved for any reason, false positive included: see
//! [`crate::lifecycle`]) gets no alert: its count and priority are still kept, and once it is
//! reopened the next escalation alerts again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use canhgac_core::{Detection, Priority};

/// Count thresholds that trigger an escalation alert.
pub const DEFAULT_THRESHOLDS: [u64; 3] = [10, 100, 1000];

/// What the notifier remembers about an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentState {
    /// The revision of the last alert (1 for the first).
    pub revision: u32,
    /// The highest priority seen.
    pub priority: Priority,
    /// Distinct detections seen.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Why an alert was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The first detection of the incident.
    New,
    /// A detection of higher priority than any before.
    PriorityRaised { from: Priority, to: Priority },
    /// The count of distinct detections reached a threshold.
    CountCrossed { threshold: u64 },
}

/// The outcome of one detection: the incident's new state, and the reasons to alert (empty:
/// no alert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: IncidentState,
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub fn alerts(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// Decides what a new, distinct detection of an incident means. `prev` is the state before it
/// (`None` for the incident's first detection); `closed`: people closed the incident, so
/// nothing alerts. The caller makes sure a replayed detection (same detection id) is not passed
/// twice.
pub fn decide(
    prev: Option<&IncidentState>,
    det: &Detection,
    thresholds: &[u64],
    closed: bool,
) -> Decision {
    decide_one(prev, det.priority, det.timestamp, thresholds, closed)
}

/// [`decide`] on the parts of a detection that matter.
pub fn decide_one(
    prev: Option<&IncidentState>,
    priority: Priority,
    at: DateTime<Utc>,
    thresholds: &[u64],
    closed: bool,
) -> Decision {
    let Some(prev) = prev else {
        // Closed before notify saw it (a replay): no alert, revision 0 until one.
        let state = IncidentState {
            revision: if closed { 0 } else { 1 },
            priority,
            count: 1,
            first_seen: at,
            last_seen: at,
        };
        // A threshold of 1 is met by the first detection itself: no separate alert.
        return Decision {
            state,
            reasons: if closed { vec![] } else { vec![Reason::New] },
        };
    };
    let mut state = prev.clone();
    state.count += 1;
    state.first_seen = state.first_seen.min(at);
    state.last_seen = state.last_seen.max(at);
    let mut reasons = Vec::new();
    if priority > prev.priority {
        reasons.push(Reason::PriorityRaised {
            from: prev.priority,
            to: priority,
        });
        state.priority = priority;
    }
    if let Some(&t) = thresholds
        .iter()
        .filter(|&&t| prev.count < t && t <= state.count)
        .max()
    {
        reasons.push(Reason::CountCrossed { threshold: t });
    }
    if closed {
        reasons.clear();
    }
    if !reasons.is_empty() {
        state.revision += 1;
    }
    Decision { state, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_650_000_000 + s, 0).unwrap()
    }

    /// Feeds a sequence of detection priorities; returns (count, revision, reasons) after each.
    fn run(priorities: &[Priority], thresholds: &[u64]) -> Vec<(u64, u32, Vec<Reason>)> {
        let mut state: Option<IncidentState> = None;
        let mut out = Vec::new();
        for (i, p) in priorities.iter().enumerate() {
            let d = decide_one(state.as_ref(), *p, t(i as i64), thresholds, false);
            out.push((d.state.count, d.state.revision, d.reasons.clone()));
            state = Some(d.state);
        }
        out
    }

    /// (name, priorities in arrival order, thresholds, indexes that alert, final revision)
    type Case<'a> = (&'a str, Vec<Priority>, &'a [u64], &'a [usize], u32);

    #[test]
    fn decision_table() {
        let cases: &[Case] = &[
            ("first alerts", vec![P3], &[10], &[0], 1),
            (
                "same priority stays quiet",
                vec![P3, P3, P3],
                &[10],
                &[0],
                1,
            ),
            (
                "lower priority stays quiet",
                vec![P2, P3, P4],
                &[10],
                &[0],
                1,
            ),
            ("priority rises", vec![P4, P3, P3, P1], &[10], &[0, 1, 3], 3),
            ("tenth detection", vec![P3; 12], &[10], &[0, 9], 2),
            (
                "every threshold",
                vec![P4; 100],
                &[10, 50, 100],
                &[0, 9, 49, 99],
                4,
            ),
            ("no thresholds", vec![P4; 20], &[], &[0], 1),
        ];
        for (name, ps, th, alerts, rev) in cases {
            let got = run(ps, th);
            let alerted: Vec<usize> = got
                .iter()
                .enumerate()
                .filter(|(_, (_, _, r))| !r.is_empty())
                .map(|(i, _)| i)
                .collect();
            assert_eq!(&alerted, alerts, "{name}");
            assert_eq!(got.last().unwrap().1, *rev, "{name}: revision");
            assert_eq!(got.last().unwrap().0, ps.len() as u64, "{name}: count");
        }
    }

    #[test]
    fn reasons_say_why() {
        let a = decide_one(None, P3, t(0), &[2], false);
        assert_eq!(a.reasons, vec![Reason::New]);
        // Priority rise and threshold together: one alert, both reasons, one revision.
        let b = decide_one(Some(&a.state), P1, t(1), &[2], false);
        assert_eq!(
            b.reasons,
            vec![
                Reason::PriorityRaised { from: P3, to: P1 },
                Reason::CountCrossed { threshold: 2 }
            ]
        );
        assert_eq!(b.state.revision, 2);
        assert_eq!(b.state.priority, P1);
        // Out-of-order event times widen the window.
        let c = decide_one(Some(&b.state), P4, t(-5), &[2], false);
        assert!(c.reasons.is_empty());
        assert_eq!(c.state.first_seen, t(-5));
        assert_eq!(c.state.last_seen, t(1));
        assert_eq!(c.state.priority, P1, "priority never goes down");
    }

    #[test]
    fn a_closed_incident_never_alerts_and_a_reopened_one_escalates_again() {
        // (count after, closed, alerts): resolved after the first alert, it crosses 10 and
        // rises to P1 quietly; reopened, it alerts at 20.
        let mut state = decide_one(None, P3, t(0), &[10, 20], false).state;
        for i in 2..=12 {
            let p = if i == 5 { P1 } else { P3 };
            let d = decide_one(Some(&state), p, t(i), &[10, 20], true);
            assert!(
                d.reasons.is_empty(),
                "closed, detection {i}: {:?}",
                d.reasons
            );
            state = d.state;
        }
        assert_eq!((state.count, state.revision, state.priority), (12, 1, P1));
        let mut alerts = Vec::new();
        for i in 13..=20 {
            let d = decide_one(Some(&state), P3, t(i), &[10, 20], false);
            if d.alerts() {
                alerts.push((i, d.reasons.clone(), d.state.revision));
            }
            state = d.state;
        }
        assert_eq!(
            alerts,
            vec![(20, vec![Reason::CountCrossed { threshold: 20 }], 2)]
        );
        // First seen while already closed (a replay): no alert until it escalates open.
        let first = decide_one(None, P2, t(0), &[2], true);
        assert!(first.reasons.is_empty());
        assert_eq!(first.state.revision, 0);
        let next = decide_one(Some(&first.state), P2, t(1), &[2], false);
        assert_eq!(next.reasons, vec![Reason::CountCrossed { threshold: 2 }]);
        assert_eq!(next.state.revision, 1);
    }
}
