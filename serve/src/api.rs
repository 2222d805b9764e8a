//! The JSON API handlers. Every handler gets the caller's [`Principal`] from the guard and
//! derives the index scope from its role; index work runs on the blocking pool.

use std::str::FromStr;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use canhgac_core::detection::{vietnam, Status};
use canhgac_core::lifecycle::{ActionKind, CloseReason};
use canhgac_core::{Category, Id, Priority};
use canhgac_index::monthly as render;
use canhgac_index::search::parse_cidr;
use canhgac_index::stats::parse_month;
use canhgac_index::{
    Kind, Lang, Period, Record, ReportRequest, Scope, SearchRequest, Sort, StatsRequest,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::ServerState;

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Runs index work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, canhgac_index::IndexError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("index task failed: {e}")))?
        .map_err(ApiError::from)
}

/// Query parameters as JSON errors (never axum's plain-text rejection).
pub(crate) fn params<T: DeserializeOwned>(uri: &Uri) -> ApiResult<T> {
    Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request("bad_request", e.body_text()))
}

pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn readyz(State(s): State<ServerState>) -> Response {
    let index = s.index.clone();
    match tokio::task::spawn_blocking(move || index.searcher().num_docs()).await {
        Ok(docs) => Json(json!({"status": "ready", "documents": docs, "writable": s.writable()}))
            .into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("index not readable: {e}"),
        )
        .into_response(),
    }
}

pub(crate) async fn metrics(State(s): State<ServerState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

pub const OPENAPI: &str = include_str!("../assets/openapi.json");

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(crate) async fn whoami(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
) -> Json<serde_json::Value> {
    let scope = match p.role.scope() {
        Scope::All => None,
        Scope::Agency(a) => Some(a),
    };
    let incidents = matches!(p.role, Role::National | Role::Agency(_));
    let role = p.role.to_string();
    // What the policy lets this role do (its actions on incidents; none without incidents).
    let permissions: Vec<&str> = ActionKind::ALL
        .into_iter()
        .filter(|k| incidents && s.policy.permits(&role, *k))
        .map(ActionKind::as_str)
        .collect();
    Json(json!({
        "name": p.name,
        "role": role,
        "scope": scope.clone().unwrap_or_else(|| "all".into()),
        "agency": scope,
        "permissions": permissions,
        "can_read_incidents": incidents,
        "can_change_status": incidents && s.writable(),
        "writable": s.writable(),
    }))
}

/// The query string with repeated keys joined into one comma-separated value
/// (`status=new&status=acknowledged` is `status=new,acknowledged`), so that every list
/// parameter may be given either way.
pub(crate) fn joined_query(uri: &Uri) -> ApiResult<Uri> {
    let Some(q) = uri.query() else {
        return Ok(uri.clone());
    };
    let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match keys.iter_mut().find(|(key, _)| *key == k) {
            Some((_, vs)) => vs.push(v),
            None => keys.push((k, vec![v])),
        }
    }
    let q: Vec<String> = keys
        .into_iter()
        .map(|(k, vs)| format!("{k}={}", vs.join("%2C")))
        .collect();
    format!("{}?{}", uri.path(), q.join("&"))
        .parse()
        .map_err(|e| ApiError::bad_request("bad_request", format!("query string: {e}")))
}

fn list<T: FromStr<Err = String>>(what: &'static str, v: &Option<String>) -> ApiResult<Vec<T>> {
    v.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            T::from_str(&s.to_ascii_lowercase())
                .map_err(|e| ApiError::bad_request("bad_request", format!("{what}: {e}")))
        })
        .collect()
}

fn parse_time(what: &str, s: &str, day_after: bool) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        ApiError::bad_request(
            "bad_request",
            format!("{what}={s:?}: expected RFC 3339 (2022-04-01T08:00:00+07:00) or YYYY-MM-DD"),
        )
    };
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
    let d = if day_after {
        d.succ_opt().ok_or_else(bad)?
    } else {
        d
    };
    d.and_hms_opt(0, 0, 0)
        .and_then(|n| n.and_local_timezone(vietnam()).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// `GET /api/v1/incidents` parameters. Lists are comma-separated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub agency: Option<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
    /// A person's name, or `me` (the caller).
    pub assignee: Option<String>,
    pub close_reason: Option<String>,
    pub cidr: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub facets: Option<bool>,
}

pub(crate) fn check_page(
    s: &ServerState,
    limit: Option<usize>,
    default: usize,
) -> ApiResult<usize> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > s.limits.max_page_size {
        return Err(ApiError::bad_request(
            "page_too_large",
            format!(
                "limit={limit}: a page holds 1 to {} items",
                s.limits.max_page_size
            ),
        ));
    }
    Ok(limit)
}

fn search_request(s: &ServerState, who: &Principal, p: SearchParams) -> ApiResult<SearchRequest> {
    let scope = who.role.scope();
    let q = p.q.unwrap_or_default();
    let chars = q.chars().count();
    if chars > s.limits.max_query_chars {
        return Err(ApiError::bad_request(
            "query_too_long",
            format!(
                "the query has {chars} characters; at most {} are accepted",
                s.limits.max_query_chars
            ),
        ));
    }
    let mut req = SearchRequest::new(scope, q);
    req.kind = match p.kind.as_deref() {
        None | Some("incidents") => Kind::Incidents,
        Some("detections") => Kind::Detections,
        Some(k) => {
            return Err(ApiError::bad_request(
                "bad_request",
                format!("kind={k:?}: expected incidents or detections"),
            ))
        }
    };
    req.sort = match p.sort.as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("oldest") => Sort::Oldest,
        Some("relevance") => Sort::Relevance,
        Some(k) => {
            return Err(ApiError::bad_request(
                "bad_request",
                format!("sort={k:?}: expected newest, oldest or relevance"),
            ))
        }
    };
    req.from = p
        .from
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|t| parse_time("from", t, false))
        .transpose()?;
    req.to =
        p.to.as_deref()
            .filter(|s| !s.is_empty())
            .map(|t| parse_time("to", t, true))
            .transpose()?;
    req.agencies = p
        .agency
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    req.categories = list::<Category>("category", &p.category)?;
    req.priorities = list::<Priority>("priority", &p.priority)?;
    req.statuses = list::<Status>("status", &p.status)?;
    req.cidrs = p
        .cidr
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| parse_cidr(c).map_err(ApiError::from))
        .collect::<ApiResult<_>>()?;
    req.limit = check_page(s, p.limit, 20)?;
    req.cursor = p.cursor.filter(|c| !c.is_empty());
    req.facets = p.facets.unwrap_or(false);
    let assignee = p
        .assignee
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .map(|a| if a == "me" { who.name.clone() } else { a });
    let reasons = list::<CloseReason>("close_reason", &p.close_reason)?;
    req.assignees = assignee.into_iter().collect();
    req.close_reasons = reasons;
    Ok(req)
}

pub(crate) async fn search(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    uri: Uri,
) -> ApiResult<Response> {
    let params: SearchParams = params(&joined_query(&uri)?)?;
    let req = search_request(&s, &p, params)?;
    let index = s.index.clone();
    let names = s.names.clone();
    let resp = blocking(move || {
        let resp = index.search(&req)?;
        Ok(names.search(&index, &resp))
    })
    .await?;
    Ok(Json(resp).into_response())
}

pub(crate) fn parse_id(id: &str) -> ApiResult<Id> {
    Id::from_str(id.trim()).map_err(|_| ApiError::not_found(format!("incident {id} not found")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailParams {
    limit: Option<usize>,
}

pub(crate) async fn incident(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let dp: DetailParams = params(&uri)?;
    let limit = check_page(&s, dp.limit, 50)?;
    let id = parse_id(&id)?;
    let index = s.index.clone();
    let scope = p.role.scope();
    let detail = blocking(move || index.incident(&scope, &id, limit)).await?;
    Ok(Json(s.names.detail(&detail)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    month: Option<String>,
    months: Option<u32>,
    agency: Option<String>,
    top: Option<usize>,
    format: Option<String>,
    lang: Option<String>,
}

/// The scope of a statistics request: the role's, narrowed by `agency=` for national roles.
pub(crate) fn stats_scope(role: &Role, agency: Option<&str>) -> ApiResult<Scope> {
    let agency = agency.map(str::trim).filter(|a| !a.is_empty());
    match (role.scope(), agency) {
        (scope, None) => Ok(scope),
        (Scope::All, Some(a)) => Ok(Scope::Agency(a.to_ascii_lowercase())),
        (Scope::Agency(own), Some(a)) if own.eq_ignore_ascii_case(a) => Ok(Scope::Agency(own)),
        (Scope::Agency(_), Some(_)) => Err(ApiError::forbidden(
            &role.to_string(),
            "read another agency's statistics",
        )),
    }
}

async fn stats_request(
    s: &ServerState,
    role: &Role,
    month: Option<&str>,
    sp: &StatsParams,
) -> ApiResult<StatsRequest> {
    let scope = stats_scope(role, sp.agency.as_deref())?;
    let months = sp.months.unwrap_or(12);
    if !(1..=120).contains(&months) {
        return Err(ApiError::bad_request(
            "bad_request",
            format!("months={months}: 1 to 120"),
        ));
    }
    let top = sp.top.unwrap_or(10);
    if top > 100 {
        return Err(ApiError::bad_request("bad_request", "top: at most 100"));
    }
    let month = match month.filter(|m| !m.is_empty()) {
        Some(m) => parse_month(m)?,
        None => latest_month(s, scope.clone()).await?,
    };
    Ok(StatsRequest {
        scope,
        month,
        months,
        top,
    })
}

/// The month of the newest incident in scope (the current month when there is none).
async fn latest_month(s: &ServerState, scope: Scope) -> ApiResult<u32> {
    let index = s.index.clone();
    let mut req = SearchRequest::new(scope, "");
    req.limit = 1;
    let resp = blocking(move || index.search(&req)).await?;
    Ok(match resp.hits.first().map(|h| &h.record) {
        Some(Record::Incident(r)) => r.incident.month,
        _ => canhgac_core::detection::month_of(Utc::now()),
    })
}

pub(crate) async fn monthly(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    uri: Uri,
) -> ApiResult<Response> {
    let sp: StatsParams = params(&uri)?;
    if sp.format.is_some() || sp.lang.is_some() {
        return Err(ApiError::bad_request(
            "bad_request",
            "format and lang belong to /api/v1/reports/{period}",
        ));
    }
    let req = stats_request(&s, &p.role, sp.month.as_deref(), &sp).await?;
    let index = s.index.clone();
    let report = blocking(move || index.monthly(&req)).await?;
    Ok(Json(report).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    agency: Option<String>,
    top: Option<usize>,
    format: Option<String>,
    lang: Option<String>,
}

/// The report of a period (`2022-04`, `2022-Q2`, `2022-H1`, `2022`): the same model and
/// renderers as `canhgac report` ([`canhgac_index::monthly`]). `format`: `json` (the model),
/// `csv`, `html` (the printable page) or `article` (the page's `<article>`, which the web UI's
/// report page shows); without it, from `Accept`.
pub(crate) async fn report(
    State(s): State<ServerState>,
    Extension(p): Extension<Principal>,
    Path(period): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let rp: ReportParams = params(&uri)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match rp.format.as_deref() {
        Some(f) => f.to_string(),
        None if accept.contains("text/csv") => "csv".into(),
        None if accept.contains("text/html") => "html".into(),
        None => "json".into(),
    };
    let lang = Lang::parse(rp.lang.as_deref().unwrap_or("vi"));
    let (Some(lang), true) = (
        lang,
        matches!(format.as_str(), "json" | "csv" | "html" | "article"),
    ) else {
        return Err(ApiError::bad_request(
            "bad_request",
            "format is json, csv, html or article; lang is vi or en",
        ));
    };
    let top = rp.top.unwrap_or(10);
    if top > 100 {
        return Err(ApiError::bad_request("bad_request", "top: at most 100"));
    }
    let req = ReportRequest {
        scope: stats_scope(&p.role, rp.agency.as_deref())?,
        period: Period::parse(&period)?,
        lang,
        top,
    };
    let label = req.period.label();
    let index = s.index.clone();
    let agencies = s.agencies.clone();
    let snapshots = s.snapshots.clone();
    let report = blocking(move || {
        let mut report = index.report(&req, &agencies)?;
        if let Some(snapshots) = snapshots {
            if let Some(snap) = snapshots.load(req.period, &req.scope)? {
                let counted =
                    index.counted_incidents(&req.scope, req.period.first, req.period.last())?;
                report.since_issue =
                    Some(index.since_issue(&snap, &counted, &req.scope, req.lang)?);
            }
        }
        Ok(report)
    })
    .await?;
    let disposition = |ext: &str| format!("inline; filename=\"canhgac-{label}.{ext}\"");
    let html = "text/html; charset=utf-8".to_string();
    Ok(match format.as_str() {
        "csv" => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition("csv")),
            ],
            render::to_csv(&report),
        )
            .into_response(),
        "html" => ([(header::CONTENT_TYPE, html)], render::to_html(&report)).into_response(),
        "article" => (
            [(header::CONTENT_TYPE, html)],
            render::to_html_article(&report),
        )
            .into_response(),
        _ => (
            [(header::CONTENT_TYPE, "application/json".to_string())],
            render::to_json(&report),
        )
            .into_response(),
    })
}
