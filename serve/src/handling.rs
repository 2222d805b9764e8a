//! Changes to incidents, as lifecycle records: `PATCH /api/v1/incidents/{id}` (status),
//! `POST /api/v1/incidents/{id}/events` (any action), the inbox, and suppressions.
//!
//! A change is checked in this order: the body (400 naming the field), the incident within
//! the caller's scope (404, also for another agency's), an outbox (503 `read_only`), then the
//! lifecycle policy (403 `not_permitted`, 409 `conflict`, 400). It is published as an
//! [`IncidentEvent`] whose `anchor` is the incident's first detection and whose `alert_keys` are
//! its detections' provisional ids; the answer waits up to [`APPLY_WAIT`] for the index to show
//! it (200 with the incident) and otherwise says it is on its way (202).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use canhgac_core::detection::{Entities, Status};
use canhgac_core::lifecycle::{
    suppression_id, Action, Actor, CloseReason, EntityRef, IncidentEvent, LifecycleError,
    Suppression,
};
use canhgac_core::Id;
use canhgac_index::{IncidentRecord, Scope, SearchRequest, SuppressionState};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::api::{blocking, check_page, parse_id, ApiResult};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::guard::AuditNote;
use crate::{view, ServerState};

/// How long an answer waits for the index to show a published record.
pub(crate) const APPLY_WAIT: Duration = Duration::from_secs(5);

/// `POST /api/v1/incidents/{id}/events`: one action.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum ActionBody {
    Acknowledge {
        #[serde(default)]
        note: String,
    },
    /// `to`: a person's name, `me`, or null/empty to unassign.
    Assign {
        #[serde(default)]
        to: Option<String>,
    },
    Comment {
        text: String,
    },
    Note {
        text: String,
    },
    Resolve {
        reason: CloseReason,
        #[serde(default)]
        note: String,
        #[serde(default)]
        duplicate_of: Option<String>,
        #[serde(default)]
        suppress: Option<SuppressBody>,
    },
    Reopen {
        #[serde(default)]
        note: String,
    },
    Merge {
        into: String,
    },
    Split {
        detections: Vec<String>,
    },
}

/// A suppression asked for with a resolve.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressBody {
    rule: String,
    entity: EntityRef,
    /// 1 to 365.
    days: u32,
    #[serde(default)]
    reason: String,
}

const EVENT_EXAMPLE: &str = r#"{"action": "assign", "to": "me"}, {"action": "comment", "text": "…"}, {"action": "resolve", "reason": "false_positive", "note": "…"}"#;

fn lifecycle_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::NotPermitted { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "not_permitted", e.to_string())
        }
        LifecycleError::NotFrom { .. } => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        LifecycleError::Invalid { .. } => ApiError::bad_request("bad_request", e.to_string()),
        LifecycleError::Policy { .. } => ApiError::internal(e.to_string()),
    }
}

fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "read_only",
        "this server has no outbox for incident changes: run `canhgac serve --brokers \
         HOST:PORT` (it publishes to <prefix>.incident-events), or use `canhgac run`",
    )
}

fn bad(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad_request", format!("{field}: {message}"))
}

/// The `Idempotency-Key` header: a retry with the same key writes the same record.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| bad("Idempotency-Key", "1-200 visible ASCII characters"))?;
            Ok(Some(k.to_string()))
        }
    }
}

async fn load(s: &ServerState, scope: &Scope, id: Id) -> ApiResult<IncidentRecord> {
    let index = s.index.clone();
    let scope = scope.clone();
    Ok(blocking(move || index.incident(&scope, &id, 1))
        .await?
        .incident)
}

/// Turns a request body into the action to publish (and a suppression to create with it),
/// checking what only the index can tell: the incidents and detections it names.
async fn action_of(
    s: &ServerState,
    who: &Principal,
    scope: &Scope,
    incident: &IncidentRecord,
    body: ActionBody,
) -> ApiResult<(Action, Option<SuppressBody>)> {
    let id = incident.incident.id;
    Ok(match body {
        ActionBody::Acknowledge { note } => (Action::Acknowledge { note }, None),
        ActionBody::Assign { to } => {
            let to = to
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .map(|t| if t == "me" { who.name.clone() } else { t });
            (Action::Assign { to }, None)
        }
        ActionBody::Comment { text } => (Action::Comment { text }, None),
        ActionBody::Note { text } => (Action::Note { text }, None),
        ActionBody::Reopen { note } => (Action::Reopen { note }, None),
        ActionBody::Resolve {
            reason,
            note,
            duplicate_of,
            suppress,
        } => {
            let duplicate_of = match duplicate_of.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(d) => {
                    let d = Id::from_str(d).map_err(|e| bad("duplicate_of", e))?;
                    let other = load(s, scope, d)
                        .await
                        .map_err(|_| bad("duplicate_of", format!("incident {d} not found")))?;
                    if other.incident.id == id {
                        return Err(bad("duplicate_of", "an incident duplicates another one"));
                    }
                    Some(other.incident.id)
                }
            };
            if suppress.is_some() && !s.policy.may_suppress(reason) {
                return Err(bad(
                    "suppress",
                    format!("closing as {reason} creates no suppression"),
                ));
            }
            (
                Action::Resolve {
                    reason,
                    note,
                    duplicate_of,
                },
                suppress,
            )
        }
        ActionBody::Merge { into } => {
            let into = Id::from_str(into.trim()).map_err(|e| bad("into", e))?;
            let target = load(s, scope, into)
                .await
                .map_err(|_| bad("into", format!("incident {into} not found")))?;
            if target.incident.id == id {
                return Err(bad("into", "an incident is not merged into itself"));
            }
            if target.incident.agency != incident.incident.agency && *scope != Scope::All {
                return Err(bad("into", "incidents of one agency only"));
            }
            (
                Action::Merge {
                    into: target.incident.id,
                    into_anchor: target.first_detection,
                },
                None,
            )
        }
        ActionBody::Split { detections } => {
            let ids = detections
                .iter()
                .map(|d| Id::from_str(d.trim()).map_err(|e| bad("detections", e)))
                .collect::<ApiResult<Vec<Id>>>()?;
            let index = s.index.clone();
            let sc = scope.clone();
            let detail = blocking(move || index.incident(&sc, &id, 10_000)).await?;
            let own: HashSet<Id> = detail.detections.iter().map(|d| d.id).collect();
            if let Some(d) = ids.iter().find(|d| !own.contains(d)) {
                return Err(bad("detections", format!("{d} is not in incident {id}")));
            }
            if ids.iter().collect::<HashSet<_>>().len() as u64 >= detail.detections_total {
                return Err(bad(
                    "detections",
                    "a split leaves at least one detection in the incident",
                ));
            }
            (Action::Split { detections: ids }, None)
        }
    })
}

/// The suppression a resolve asked for, as its record's action.
fn suppression(
    who: &Principal,
    incident: &IncidentRecord,
    body: SuppressBody,
    now: chrono::DateTime<Utc>,
) -> ApiResult<Action> {
    if !(1..=365).contains(&body.days) {
        return Err(bad("suppress.days", "1 to 365"));
    }
    let kind = body.entity.kind.trim().to_ascii_lowercase();
    if !Entities::KINDS.contains(&kind.as_str()) {
        return Err(bad(
            "suppress.entity.kind",
            format!("{kind:?}: one of {}", Entities::KINDS.join(", ")),
        ));
    }
    let value = body.entity.value.trim().to_string();
    if value.is_empty() || value.len() > 2000 {
        return Err(bad("suppress.entity.value", "1-2000 characters"));
    }
    if !incident.incident.rule_ids.contains(&body.rule) {
        return Err(bad(
            "suppress.rule",
            format!("{:?} is not a rule of this incident", body.rule),
        ));
    }
    let entity = EntityRef { kind, value };
    let agency = incident.incident.agency.clone();
    Ok(Action::Suppress {
        suppression: Suppression {
            id: suppression_id(&body.rule, &agency, &entity, now),
            rule: body.rule,
            agency,
            entity,
            owner: who.name.clone(),
            reason: body.reason,
            created: now,
            expires: now + chrono::Duration::days(i64::from(body.days)),
        },
    })
}

fn actor(who: &Principal) -> Actor {
    Actor {
        name: who.name.clone(),
        role: who.role.to_string(),
    }
}

/// Publishes `records` in order; each resolves when durable.
pub(crate) async fn publish(s: &ServerState, records: &[IncidentEvent]) -> ApiResult<()> {
    let outbox = s.outbox.as_ref().ok_or_else(read_only)?;
    for r in records {
        outbox.publish(r.clone()).await.map_err(|e| {
            tracing::error!(record = %r.id, error = %e, "incident change not published");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "publish_failed",
                format!("the change could not be published: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Reloads the index until incident `id` shows `record`, for at most the server's wait
/// ([`APPLY_WAIT`] unless set).
pub(crate) async fn wait_applied(s: &ServerState, scope: &Scope, id: Id, record: Id) -> bool {
    let deadline = tokio::time::Instant::now() + s.apply_wait;
    loop {
        let index = s.index.clone();
        let sc = scope.clone();
        let seen = blocking(move || {
            index.reload()?;
            index.incident(&sc, &id, 1)
        })
        .await
        .is_ok_and(|d| view::applied(&d.incident, &record));
        if seen {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a change answers: 200 with the incident once the index shows it, else 202.
enum Outcome {
    Applied(Box<canhgac_index::IncidentDetail>),
    Pending(Vec<IncidentEvent>),
}

/// Checks, publishes and waits for one change to incident `id`.
async fn change(
    s: &ServerState,
    who: &Principal,
    id: Id,
    body: ActionBody,
    key: Option<String>,
) -> ApiResult<(Outcome, IncidentEvent)> {
    let scope = who.role.scope();
    let incident = load(s, &scope, id).await?;
    if s.outbox.is_none() {
        return Err(read_only());
    }
    let (action, suppress) = action_of(s, who, &scope, &incident, body).await?;
    let now = Utc::now();
    let record = |action: Action, key: Option<String>| {
        IncidentEvent::new(
            incident.incident.id,
            incident.first_detection,
            &incident.incident.agency,
            now,
            actor(who),
            action,
            key.as_deref(),
        )
    };
    let main = record(action, key.clone());
    // A retry of an applied change (same Idempotency-Key) answers as the first time.
    if view::applied(&incident, &main.id) {
        let detail = blocking({
            let index = s.index.clone();
            let sc = scope.clone();
            move || index.incident(&sc, &id, 50)
        })
        .await?;
        return Ok((Outcome::Applied(Box::new(detail)), main));
    }
    let role = who.role.to_string();
    s.policy
        .check(&role, incident.incident.status, &main.action)
        .map_err(lifecycle_error)?;
    let mut records = vec![main];
    if let Some(body) = suppress {
        let action = suppression(who, &incident, body, now)?;
        s.policy
            .check(&role, Status::Resolved, &action)
            .map_err(lifecycle_error)?;
        records.push(record(action, key.map(|k| format!("{k}:suppress"))));
    }
    let keys = {
        let index = s.index.clone();
        let sc = scope.clone();
        let iid = incident.incident.id;
        blocking(move || index.alert_keys(&sc, &iid)).await?
    };
    for r in &mut records {
        r.alert_keys = keys.clone();
    }
    publish(s, &records).await?;
    let main = records[0].clone();
    if wait_applied(s, &scope, incident.incident.id, main.id).await {
        let index = s.index.clone();
        let iid = incident.incident.id;
        let detail = blocking(move || index.incident(&scope, &iid, 50)).await?;
        Ok((Outcome::Applied(Box::new(detail)), main))
    } else {
        Ok((Outcome::Pending(records), main))
    }
}

fn audited(mut resp: Response, record: &IncidentEvent) -> Response {
    let mut change = json!(record.action);
    change["record"] = json!(record.id.to_hex());
    if let Action::Resolve { .. } | Action::Acknowledge { .. } | Action::Reopen { .. } =
        record.action
    {
        let status = match record.action {
            Action::Resolve { .. } => "resolved",
            _ => "acknowledged",
        };
        change["status"] = json!(status);
    }
    resp.extensions_mut().insert(AuditNote {
        incident: record.incident.to_hex(),
        change: Some(change),
    });
    resp
}

fn pending(records: &[IncidentEvent]) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({"record": records[0], "records": records, "applied": false})),
    )
        .into_response()
}

pub(crate) async fn event(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let body: ActionBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("body: {e}; expected an action such as {EVENT_EXAMPLE}"),
        )
    })?;
    let key = idempotency_key(&headers)?;
    let id = parse_id(&id)?;
    let (outcome, record) = change(&s, &p, id, body, key).await?;
    let resp = match outcome {
        Outcome::Applied(d) => Json(s.names.detail(&d)).into_response(),
        Outcome::Pending(records) => pending(&records),
    };
    Ok(audited(resp, &record))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: Option<CloseReason>,
}

/// `PATCH /api/v1/incidents/{id}` `{"status", "note", "reason"?}`: acknowledged publishes an
/// `acknowledge`, resolved a `resolve` (reason `handled` unless given). Answers the incident.
pub(crate) async fn set_status(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let body: StatusBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("body: {e}; expected {{\"status\": \"acknowledged\", \"note\": \"…\"}}"),
        )
    })?;
    let status = Status::from_str(&body.status).map_err(|e| bad("status", e))?;
    let action = match status {
        Status::Acknowledged => ActionBody::Acknowledge { note: body.note },
        Status::Resolved => ActionBody::Resolve {
            reason: body.reason.unwrap_or(CloseReason::Handled),
            note: body.note,
            duplicate_of: None,
            suppress: None,
        },
        Status::New => {
            return Err(bad(
                "status",
                "an incident does not go back to new; reopen it: POST \
                 /api/v1/incidents/{id}/events {\"action\": \"reopen\"}",
            ))
        }
    };
    let key = idempotency_key(&headers)?;
    let id = parse_id(&id)?;
    let (outcome, record) = change(&s, &p, id, action, key).await?;
    let resp = match outcome {
        Outcome::Applied(d) => {
            let mut v = s.names.detail(&d);
            Json(v["incident"].take()).into_response()
        }
        Outcome::Pending(records) => pending(&records),
    };
    Ok(audited(resp, &record))
}

/// `GET /api/v1/inbox`: new incidents in scope, and those assigned to the caller and not
/// resolved, newest first.
pub(crate) async fn inbox(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    uri: Uri,
) -> ApiResult<Response> {
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InboxParams {
        limit: Option<usize>,
    }
    let ip: InboxParams = crate::api::params(&uri)?;
    let limit = check_page(&s, ip.limit, 50)?;
    let scope = p.role.scope();
    let mut new = SearchRequest::new(scope.clone(), "");
    new.statuses = vec![Status::New];
    new.limit = limit;
    let mut mine = SearchRequest::new(scope, "");
    mine.statuses = vec![Status::New, Status::Acknowledged];
    mine.limit = limit;
    mine.assignees = vec![p.name.clone()];
    let index = s.index.clone();
    let names = s.names.clone();
    let v = blocking(move || {
        let new = names.search(&index, &index.search(&new)?);
        let mine = names.search(&index, &index.search(&mine)?);
        Ok(json!({
            "new": new["hits"],
            "new_total": new["total"],
            "assigned": mine["hits"],
            "assigned_total": mine["total"],
        }))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/suppressions?agency=&active=true`.
pub(crate) async fn suppressions(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    uri: Uri,
) -> ApiResult<Response> {
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        agency: Option<String>,
        active: Option<bool>,
    }
    let sp: Params = crate::api::params(&uri)?;
    let scope = crate::api::stats_scope(&p.role, sp.agency.as_deref())?;
    let index = s.index.clone();
    let now = Utc::now();
    let mut list = blocking(move || index.suppressions(&scope, now)).await?;
    if sp.active.unwrap_or(false) {
        list.retain(|v| v.state == SuppressionState::Active);
    }
    Ok(Json(list).into_response())
}

/// `DELETE /api/v1/suppressions/{id}`: publishes `unsuppress`.
pub(crate) async fn unsuppress(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let sid = Id::from_str(id.trim())
        .map_err(|_| ApiError::not_found(format!("suppression {id} not found")))?;
    let scope = p.role.scope();
    let index = s.index.clone();
    let sc = scope.clone();
    let list = blocking(move || index.suppressions(&sc, Utc::now())).await?;
    let found = list
        .into_iter()
        .find(|v| v.suppression.id == sid)
        .ok_or_else(|| ApiError::not_found(format!("suppression {sid} not found")))?;
    if s.outbox.is_none() {
        return Err(read_only());
    }
    if found.state == SuppressionState::Revoked {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("suppression {sid} is already revoked"),
        ));
    }
    let agency = found.suppression.agency.clone();
    // The record goes to the incident the suppression came from (its anchor), when known.
    let incident = match found.incident {
        Some(i) => load(&s, &scope, i).await.ok(),
        None => None,
    };
    let (iid, anchor, status) = incident.as_ref().map_or((sid, sid, Status::Resolved), |r| {
        (r.incident.id, r.first_detection, r.incident.status)
    });
    let action = Action::Unsuppress { suppression: sid };
    s.policy
        .check(&p.role.to_string(), status, &action)
        .map_err(lifecycle_error)?;
    let record = IncidentEvent::new(iid, anchor, &agency, Utc::now(), actor(&p), action, None);
    publish(&s, std::slice::from_ref(&record)).await?;
    let resp = Json(json!({"record": record, "suppression": found})).into_response();
    Ok(audited(resp, &record))
}
