//! The incident lifecycle: every change to an incident is an [`IncidentEvent`] on
//! `<prefix>.incident-events` (brief §6; [`crate::topics::Topics::incident_events`]).
//!
//! - **Records, not state.** Acknowledge, assign, comment, handling note, resolve with a close
//!   reason, reopen, merge, split, and suppressions are records with a deterministic id, who
//!   ([`Actor`]: the person a token names, and the role it had) and when. An incident's handling
//!   state ([`Handling`]) is a fold of its records in (time, id) order, so any consumer that has
//!   the same set of records — the index after a rebuild from the topics, notify, a second
//!   `serve` — computes the same state, whatever order they arrived in. A record delivered twice
//!   has one id and counts once.
//! - **Anchors.** A record names the incident as its author saw it (`incident`) and the
//!   incident's first detection (`anchor`). Incident ids follow the first detection and change
//!   when an earlier detection arrives late or two incidents merge; the anchor does not, so the
//!   index applies the record to whichever incident holds the anchor, in the original run and in
//!   a rebuild alike.
//! - **Policy as data.** Which action may be taken from which status, what status it leaves,
//!   which close reasons keep an incident in the statistics, and which role may do what are read
//!   from `rules/lifecycle.toml` ([`Policy`]; embedded as the default).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detection::Status;
use crate::id::{Id, IdHasher};

/// Version of the incident-event record; a consumer rejects others.
pub const SCHEMA: u16 = 1;

/// The default policy (`rules/lifecycle.toml`).
pub const DEFAULT_POLICY: &str = include_str!("../../rules/lifecycle.toml");

/// At most this many characters of a comment, note or reason are kept.
pub const MAX_TEXT: usize = 8000;

/// Errors of the lifecycle: a policy that does not load, a change that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{origin}: {message}")]
    Policy { origin: String, message: String },
    #[error("a {role} token may not {action} incidents")]
    NotPermitted { role: String, action: ActionKind },
    #[error("cannot {action} an incident that is {status}")]
    NotFrom { action: ActionKind, status: Status },
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// Why an incident was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// A real attack, handled.
    Handled,
    /// Real activity, not an attack (an authorised scan, an administrator's script).
    Benign,
    /// The detection was wrong.
    FalsePositive,
    /// The same attack as another incident.
    Duplicate,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] = [
        CloseReason::Handled,
        CloseReason::Benign,
        CloseReason::FalsePositive,
        CloseReason::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Handled => "handled",
            CloseReason::Benign => "benign",
            CloseReason::FalsePositive => "false_positive",
            CloseReason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloseReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloseReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown close reason {s:?} (expected handled, benign, false_positive or duplicate)")
            })
    }
}

/// The kinds of change, as named in the policy and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Acknowledge,
    Assign,
    Comment,
    Note,
    Resolve,
    Reopen,
    Merge,
    Split,
    Suppress,
    Unsuppress,
}

impl ActionKind {
    pub const ALL: [ActionKind; 10] = [
        ActionKind::Acknowledge,
        ActionKind::Assign,
        ActionKind::Comment,
        ActionKind::Note,
        ActionKind::Resolve,
        ActionKind::Reopen,
        ActionKind::Merge,
        ActionKind::Split,
        ActionKind::Suppress,
        ActionKind::Unsuppress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Acknowledge => "acknowledge",
            ActionKind::Assign => "assign",
            ActionKind::Comment => "comment",
            ActionKind::Note => "note",
            ActionKind::Resolve => "resolve",
            ActionKind::Reopen => "reopen",
            ActionKind::Merge => "merge",
            ActionKind::Split => "split",
            ActionKind::Suppress => "suppress",
            ActionKind::Unsuppress => "unsuppress",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionKind::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action {s:?}"))
    }
}

/// Who made a change: the person a token names and the role it carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    /// `national`, `agency:<id>`, `manager`, or `system` for the product itself.
    pub role: String,
}

impl Actor {
    /// The class of the role the policy's `[roles]` table names (`agency:byt` → `agency`).
    pub fn role_class(&self) -> &str {
        self.role.split(':').next().unwrap_or("")
    }
}

/// An entity of a detection, as a suppression names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityRef {
    /// `ip`, `host`, `user`, `domain`, `url`, `hash` or `email` (the [`crate::detection::Entities`]
    /// lists).
    pub kind: String,
    pub value: String,
}

/// A suppression: detections of `rule` for `agency` that name `entity` are marked suppressed
/// by the detect worker (kept and counted, never made into incidents) until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// hash(rule, agency, entity, created): see [`suppression_id`].
    pub id: Id,
    pub rule: String,
    pub agency: String,
    pub entity: EntityRef,
    /// Who answers for it.
    pub owner: String,
    pub reason: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl Suppression {
    /// Whether it is in force at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.created <= now && now < self.expires
    }
}

/// The id of a suppression.
pub fn suppression_id(rule: &str, agency: &str, entity: &EntityRef, created: DateTime<Utc>) -> Id {
    IdHasher::new("suppression")
        .part(rule)
        .part(agency)
        .part(&entity.kind)
        .part(&entity.value)
        .part(created.timestamp_millis().to_le_bytes())
        .finish()
}

/// What a record does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Acknowledge {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// `to: None` unassigns.
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    Comment {
        text: String,
    },
    /// A handling note: what the agency was told, what was done.
    Note {
        text: String,
    },
    Resolve {
        reason: CloseReason,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
        /// For `duplicate`: the incident this one duplicates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duplicate_of: Option<Id>,
    },
    Reopen {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// This incident joins `into` (whose first detection is `into_anchor`): from then on they
    /// are one incident, as if a detection linked them.
    Merge {
        into: Id,
        into_anchor: Id,
    },
    /// These detections leave the incident and form their own.
    Split {
        detections: Vec<Id>,
    },
    Suppress {
        suppression: Suppression,
    },
    Unsuppress {
        suppression: Id,
    },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Acknowledge { .. } => ActionKind::Acknowledge,
            Action::Assign { .. } => ActionKind::Assign,
            Action::Comment { .. } => ActionKind::Comment,
            Action::Note { .. } => ActionKind::Note,
            Action::Resolve { .. } => ActionKind::Resolve,
            Action::Reopen { .. } => ActionKind::Reopen,
            Action::Merge { .. } => ActionKind::Merge,
            Action::Split { .. } => ActionKind::Split,
            Action::Suppress { .. } => ActionKind::Suppress,
            Action::Unsuppress { .. } => ActionKind::Unsuppress,
        }
    }

    /// The text it carries (comment, note), if any.
    pub fn text(&self) -> &str {
        match self {
            Action::Acknowledge { note }
            | Action::Reopen { note }
            | Action::Resolve { note, .. } => note,
            Action::Comment { text } | Action::Note { text } => text,
            Action::Suppress { suppression } => &suppression.reason,
            _ => "",
        }
    }

    /// Checks lengths and shapes (the API answers 400 with the message).
    pub fn validate(&self) -> Result<(), LifecycleError> {
        let long = |field: &'static str, s: &str| {
            if s.chars().count() > MAX_TEXT {
                Err(LifecycleError::Invalid {
                    field,
                    message: format!("at most {MAX_TEXT} characters"),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Action::Comment { text } | Action::Note { text } if text.trim().is_empty() => {
                Err(LifecycleError::Invalid {
                    field: "text",
                    message: "must not be empty".into(),
                })
            }
            Action::Assign { to: Some(to) } if to.trim().is_empty() || to.len() > 200 => {
                Err(LifecycleError::Invalid {
                    field: "to",
                    message: "a person's name of 1-200 characters".into(),
                })
            }
            Action::Split { detections } if detections.is_empty() || detections.len() > 10_000 => {
                Err(LifecycleError::Invalid {
                    field: "detections",
                    message: "1-10000 detection ids".into(),
                })
            }
            Action::Suppress { suppression: s } => {
                if s.expires <= s.created {
                    return Err(LifecycleError::Invalid {
                        field: "expires",
                        message: "must be after the suppression's creation".into(),
                    });
                }
                if s.rule.is_empty() || s.entity.value.is_empty() || s.owner.trim().is_empty() {
                    return Err(LifecycleError::Invalid {
                        field: "suppression",
                        message: "needs a rule, an entity and an owner".into(),
                    });
                }
                long("reason", &s.reason)
            }
            other => long("text", other.text()),
        }
    }
}

/// One change to one incident, as published on `<prefix>.incident-events` (key: its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEvent {
    #[serde(rename = "v")]
    pub schema: u16,
    /// Deterministic: see [`IncidentEvent::new`].
    pub id: Id,
    /// The incident as its author saw it.
    pub incident: Id,
    /// The incident's first detection when the record was written (what the index resolves).
    pub anchor: Id,
    pub agency: String,
    pub at: DateTime<Utc>,
    pub by: Actor,
    #[serde(flatten)]
    pub action: Action,
    /// The detect worker's provisional incident ids (what alerts are grouped by) the incident
    /// covered when the record was written, so notify can follow the state without the index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_keys: Vec<Id>,
}

impl IncidentEvent {
    /// A record with its id: hash(incident, anchor, who, `request` when the client gave an
    /// idempotency key, else the time and the action). A client retrying with the same key
    /// writes the same record; the index, notify and serve count it once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        incident: Id,
        anchor: Id,
        agency: &str,
        at: DateTime<Utc>,
        by: Actor,
        action: Action,
        request: Option<&str>,
    ) -> IncidentEvent {
        let mut h = IdHasher::new("incident-event")
            .part(incident.as_bytes())
            .part(anchor.as_bytes())
            .part(&by.name)
            .part(&by.role);
        match request {
            Some(key) => h.push(key.as_bytes()),
            None => {
                h.push(&at.timestamp_micros().to_le_bytes());
                h.push(&serde_json::to_vec(&action).unwrap_or_default());
            }
        }
        IncidentEvent {
            schema: SCHEMA,
            id: h.finish(),
            incident,
            anchor,
            agency: agency.to_string(),
            at,
            by,
            action,
            alert_keys: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an incident event serializes")
    }

    /// Parses a record, checking its schema version.
    pub fn from_json(payload: &[u8]) -> Result<IncidentEvent, String> {
        let e: IncidentEvent = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if e.schema != SCHEMA {
            return Err(format!(
                "incident event schema {} (this build reads {SCHEMA})",
                e.schema
            ));
        }
        Ok(e)
    }
}

/// One line of an incident's history as people read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: Id,
    pub at: DateTime<Utc>,
    pub by: Actor,
    #[serde(flatten)]
    pub action: Action,
    /// The status after it.
    pub status: Status,
}

/// An incident's handling state: the fold of its records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Handling {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<CloseReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Whether the incident counts in statistics and reports (its close reason's `counted`).
    pub counted: bool,
    /// Every record, oldest first.
    pub history: Vec<Entry>,
}

impl Handling {
    /// Folds `records` (any order, duplicates allowed) under `policy`. Records are applied in
    /// (time, id) order; a status change the policy does not allow from the status at that
    /// point is kept in the history but changes nothing.
    pub fn fold<'a>(
        records: impl IntoIterator<Item = &'a IncidentEvent>,
        policy: &Policy,
    ) -> Handling {
        let mut sorted: Vec<&IncidentEvent> = records.into_iter().collect();
        sorted.sort_by_key(|e| (e.at, e.id));
        sorted.dedup_by_key(|e| e.id);
        let mut h = Handling {
            counted: true,
            ..Default::default()
        };
        for e in sorted {
            if policy.allowed_from(e.action.kind(), h.status) {
                if let Some(to) = policy.target(e.action.kind()) {
                    h.status = to;
                }
                match &e.action {
                    Action::Assign { to } => h.assignee = to.clone(),
                    Action::Resolve {
                        reason,
                        duplicate_of,
                        ..
                    } => {
                        h.close_reason = Some(*reason);
                        h.duplicate_of = *duplicate_of;
                        h.counted = policy.counted(*reason);
                    }
                    Action::Reopen { .. } => {
                        h.close_reason = None;
                        h.duplicate_of = None;
                        h.counted = true;
                    }
                    _ => {}
                }
            }
            h.history.push(Entry {
                id: e.id,
                at: e.at,
                by: e.by.clone(),
                action: e.action.clone(),
                status: h.status,
            });
        }
        h
    }

    /// Closed, for notify: no growth escalation.
    pub fn closed(&self) -> bool {
        self.status == Status::Resolved
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default)]
    from: Vec<Status>,
    #[serde(default)]
    to: Option<Status>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReason {
    #[serde(default = "yes")]
    counted: bool,
    #[serde(default)]
    suppression: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    actions: BTreeMap<ActionKind, RawAction>,
    close_reasons: BTreeMap<CloseReason, RawReason>,
    roles: BTreeMap<String, BTreeSet<ActionKind>>,
}

/// The lifecycle policy (`rules/lifecycle.toml`).
#[derive(Debug, Clone)]
pub struct Policy {
    actions: BTreeMap<ActionKind, RawAction>,
    reasons: BTreeMap<CloseReason, RawReason>,
    roles: BTreeMap<String, BTreeSet<ActionKind>>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_toml(DEFAULT_POLICY, "rules/lifecycle.toml (embedded)")
            .expect("the embedded lifecycle policy is valid")
    }
}

impl Policy {
    /// Parses and checks a policy; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, LifecycleError> {
        let err = |message: String| LifecycleError::Policy {
            origin: origin.to_string(),
            message,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for a in ActionKind::ALL {
            if !raw.actions.contains_key(&a) {
                return Err(err(format!("actions.{a}: missing")));
            }
        }
        for r in CloseReason::ALL {
            if !raw.close_reasons.contains_key(&r) {
                return Err(err(format!("close_reasons.{r}: missing")));
            }
        }
        for class in raw.roles.keys() {
            if !matches!(class.as_str(), "national" | "agency" | "manager") {
                return Err(err(format!(
                    "roles.{class}: unknown role class (national, agency or manager)"
                )));
            }
        }
        Ok(Policy {
            actions: raw.actions,
            reasons: raw.close_reasons,
            roles: raw.roles,
        })
    }

    pub fn load(path: &Path) -> Result<Policy, LifecycleError> {
        let text = std::fs::read_to_string(path).map_err(|e| LifecycleError::Policy {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        Policy::from_toml(&text, &path.display().to_string())
    }

    /// Whether `kind` may be taken from `status`.
    pub fn allowed_from(&self, kind: ActionKind, status: Status) -> bool {
        self.actions
            .get(&kind)
            .is_some_and(|a| a.from.is_empty() || a.from.contains(&status))
    }

    /// The status `kind` leaves, if it changes it.
    pub fn target(&self, kind: ActionKind) -> Option<Status> {
        self.actions.get(&kind).and_then(|a| a.to)
    }

    /// Whether an incident closed for `reason` stays in the statistics.
    pub fn counted(&self, reason: CloseReason) -> bool {
        self.reasons.get(&reason).is_none_or(|r| r.counted)
    }

    /// Whether closing for `reason` may create a suppression.
    pub fn may_suppress(&self, reason: CloseReason) -> bool {
        self.reasons.get(&reason).is_some_and(|r| r.suppression)
    }

    /// The close reasons that leave the statistics.
    pub fn uncounted(&self) -> Vec<CloseReason> {
        CloseReason::ALL
            .into_iter()
            .filter(|r| !self.counted(*r))
            .collect()
    }

    /// Whether a role (`national`, `agency:<id>`, `manager[:<id>]`) may take `kind` at all.
    pub fn permits(&self, role: &str, kind: ActionKind) -> bool {
        let class = role.split(':').next().unwrap_or("");
        self.roles.get(class).is_some_and(|s| s.contains(&kind))
    }

    /// Checks a change before it is published: the role may take it, and the incident's
    /// current status allows it.
    pub fn check(
        &self,
        role: &str,
        current: Status,
        action: &Action,
    ) -> Result<(), LifecycleError> {
        let kind = action.kind();
        if !self.permits(role, kind) {
            return Err(LifecycleError::NotPermitted {
                role: role.to_string(),
                action: kind,
            });
        }
        if !self.allowed_from(kind, current) {
            return Err(LifecycleError::NotFrom {
                action: kind,
                status: current,
            });
        }
        if let Action::Resolve {
            reason,
            duplicate_of,
            ..
        } = action
        {
            if *reason == CloseReason::Duplicate && duplicate_of.is_none() {
                return Err(LifecycleError::Invalid {
                    field: "duplicate_of",
                    message: "a duplicate names the incident it duplicates".into(),
                });
            }
        }
        action.validate()
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
