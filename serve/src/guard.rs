//! The access guard: runs on every matched route, before its handler. It looks the route up
//! in [`crate::ROUTES`] (a route missing there is refused), checks the bearer token and its
//! role, applies the rate limit, and afterwards writes the audit record and the metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::audit::AuditRecord;
use crate::auth::{Access, Principal};
use crate::error::ApiError;
use crate::{ServerState, ROUTES};

/// What a handler adds to the audit record (set as a response extension).
#[derive(Debug, Clone)]
pub(crate) struct AuditNote {
    pub incident: String,
    pub change: Option<serde_json::Value>,
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub(crate) async fn guard(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let uri = req.uri().to_string();
    let access = ROUTES
        .iter()
        .find(|r| r.path == route && r.method == method)
        .map(|r| r.access);
    let mut principal: Option<Principal> = None;
    let response = match access {
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "route has no access rule",
        )
        .into_response(),
        Some(Access::Public) => next.run(req).await,
        Some(access) => match check(&state, &req, access) {
            Err(e) => {
                principal = e.1;
                e.0.into_response()
            }
            Ok(p) => {
                principal = Some(p.clone());
                let mut req = req;
                req.extensions_mut().insert(p);
                next.run(req).await
            }
        },
    };
    let status = response.status().as_u16();
    let m = &state.metrics;
    m.requests
        .with_label_values(&[&route, &method, &status.to_string()])
        .inc();
    m.latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    if access != Some(Access::Public) && state.audit.is_enabled() {
        let note = response.extensions().get::<AuditNote>().cloned();
        state.audit.record(&AuditRecord {
            at: Utc::now(),
            who: principal.as_ref().map_or("-".into(), |p| p.name.clone()),
            role: principal
                .as_ref()
                .map_or("-".into(), |p| p.role.to_string()),
            method,
            route,
            uri,
            status,
            incident: note.as_ref().map(|n| n.incident.clone()),
            change: note.and_then(|n| n.change),
        });
    }
    response
}

type Denied = Box<(ApiError, Option<Principal>)>;

fn check(state: &ServerState, req: &Request, access: Access) -> Result<Principal, Denied> {
    let token = bearer(req).ok_or_else(|| Box::new((ApiError::unauthorized(), None)))?;
    let p = state.auth.verify(token).ok_or_else(|| {
        (
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked API token",
            ),
            None,
        )
    })?;
    if !p.role.allows(access) {
        let role = p.role.to_string();
        return Err(Box::new((
            ApiError::forbidden(&role, access.describe()),
            Some(p),
        )));
    }
    if let Err(wait) = state.rate.check(&p.name, &state.limits) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests for token {:?}: at most {} per second (burst {}); retry in {secs} s",
                p.name, state.limits.rate_per_sec, state.limits.burst
            ),
        );
        e.retry_after = Some(secs);
        return Err(Box::new((e, Some(p))));
    }
    Ok(p)
}
