//! Acknowledge links (`/ack/{token}`), as alerts carry them ([`canhgac_core::acklink`]).
//!
//! The token is the authorisation (a signed agency, detection and expiry), so both routes are
//! public, rate-limited per agency, and 404 when no secret is configured. A GET changes nothing
//! (mail scanners and link previews follow links): it names the incident and shows a form; its
//! POST publishes `acknowledge` by "alert link (<agency>)" with the role `agency:<id>`, written
//! to the audit log.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use canhgac_core::acklink::{self, AckClaim, AckLinkError};
use canhgac_core::detection::Status;
use canhgac_core::lifecycle::{Action, Actor, IncidentEvent};
use canhgac_index::{IncidentRecord, Scope};
use chrono::Utc;

use crate::api::blocking;
use crate::audit::AuditRecord;
use crate::ServerState;

const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} — canhgac</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}\
         button{{font-size:1.1em;padding:.4em 1.2em}}dt{{font-weight:bold}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

fn status_vi(s: Status) -> &'static str {
    match s {
        Status::New => "mới (new)",
        Status::Acknowledged => "đã tiếp nhận (acknowledged)",
        Status::Resolved => "đã xử lý xong (resolved)",
    }
}

fn describe(s: &ServerState, r: &IncidentRecord) -> String {
    let i = &r.incident;
    format!(
        "<dl><dt>Sự cố / Incident</dt><dd><code>{id}</code></dd>\
         <dt>Đơn vị / Agency</dt><dd>{agency}</dd>\
         <dt>Loại / Category</dt><dd>{cat}</dd>\
         <dt>Quy tắc / Rules</dt><dd>{rules}</dd>\
         <dt>Lần đầu / First seen</dt><dd>{first}</dd>\
         <dt>Số phát hiện / Detections</dt><dd>{count}</dd>\
         <dt>Trạng thái / Status</dt><dd>{status}</dd></dl>",
        id = i.id,
        agency = escape(&s.names.agency(&i.agency)),
        cat = i.category.as_str(),
        rules = escape(&i.rule_titles.join("; ")),
        first = i.first_seen.format("%Y-%m-%d %H:%M UTC"),
        count = i.count,
        status = status_vi(i.status),
    )
}

/// Checks the token and the rate limit, and finds the incident of the claimed detection.
async fn resolve(s: &ServerState, token: &str) -> Result<(AckClaim, IncidentRecord), Response> {
    let Some(secret) = s.ack_secret.clone() else {
        return Err(crate::error::ApiError::not_found(
            "acknowledge links are not enabled on this server",
        )
        .into_response());
    };
    let agency = token.split('.').next().unwrap_or("").chars().take(64);
    let key = format!("\u{0}ack link {}", agency.collect::<String>());
    if s.rate.check(&key, &s.limits).is_err() {
        return Err(html(
            StatusCode::TOO_MANY_REQUESTS,
            "Quá nhiều yêu cầu / Too many requests",
            "<p>Vui lòng thử lại sau ít phút. Please try again in a minute.</p>",
        ));
    }
    let claim = acklink::verify(&secret, token, Utc::now()).map_err(|e| match e {
        AckLinkError::Expired(at) => html(
            StatusCode::GONE,
            "Liên kết đã hết hạn / Link expired",
            &format!(
                "<p>Liên kết xác nhận này hết hạn lúc {} (UTC). This acknowledge link expired; \
                 acknowledge the incident in the web UI.</p>",
                at.format("%Y-%m-%d %H:%M")
            ),
        ),
        _ => html(
            StatusCode::NOT_FOUND,
            "Liên kết không hợp lệ / Invalid link",
            "<p>Liên kết xác nhận này không hợp lệ. This acknowledge link is not valid.</p>",
        ),
    })?;
    let index = s.index.clone();
    let scope = Scope::Agency(claim.agency.clone());
    let det = claim.detection;
    let found = blocking(move || index.incident_of_detection(&scope, &det))
        .await
        .map_err(|e| e.into_response())?;
    match found {
        Some(r) => Ok((claim, r)),
        None => Err(html(
            StatusCode::NOT_FOUND,
            "Chưa tìm thấy sự cố / Incident not found",
            "<p>Sự cố của cảnh báo này chưa có trong chỉ mục; thử lại sau ít phút. The \
             incident of this alert is not in the index yet; try again in a minute.</p>",
        )),
    }
}

fn already(s: &ServerState, r: &IncidentRecord) -> Response {
    let (title, what) = match r.incident.status {
        Status::Resolved => ("Đã xử lý xong / Already resolved", "resolved"),
        _ => ("Đã tiếp nhận / Already acknowledged", "acknowledged"),
    };
    html(
        StatusCode::OK,
        title,
        &format!(
            "<p>Sự cố này đã được tiếp nhận. This incident is already {what}.</p>{}",
            describe(s, r)
        ),
    )
}

/// `GET /ack/{token}`: the incident and a confirming form; changes nothing.
pub(crate) async fn page(State(s): State<ServerState>, Path(token): Path<String>) -> Response {
    let (_, r) = match resolve(&s, &token).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if r.incident.status != Status::New {
        return already(&s, &r);
    }
    html(
        StatusCode::OK,
        "Xác nhận tiếp nhận sự cố / Acknowledge the incident",
        &format!(
            "{}<form method=\"post\"><p>Bấm nút để xác nhận đơn vị đã tiếp nhận sự cố. \
             Press the button to confirm your agency has received this incident.</p>\
             <button type=\"submit\">Xác nhận / Acknowledge</button></form>",
            describe(&s, &r)
        ),
    )
}

/// `POST /ack/{token}`: publishes `acknowledge`, audited.
pub(crate) async fn acknowledge(
    State(s): State<ServerState>,
    Path(token): Path<String>,
) -> Response {
    let (claim, r) = match resolve(&s, &token).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if r.incident.status != Status::New {
        return already(&s, &r);
    }
    let by = Actor {
        name: format!("alert link ({})", claim.agency),
        role: format!("agency:{}", claim.agency),
    };
    let action = Action::Acknowledge {
        note: "acknowledged from the alert's link".into(),
    };
    let scope = Scope::Agency(claim.agency.clone());
    let response = match s.policy.check(&by.role, r.incident.status, &action) {
        Err(e) => html(
            StatusCode::FORBIDDEN,
            "Không được phép / Not permitted",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
        Ok(()) => {
            // The token is the idempotency key: a second press writes the same record.
            let record = IncidentEvent::new(
                r.incident.id,
                r.first_detection,
                &r.incident.agency,
                Utc::now(),
                by.clone(),
                action,
                Some(&token),
            );
            let mut record = record;
            let index = s.index.clone();
            let (sc, iid) = (scope.clone(), r.incident.id);
            record.alert_keys = blocking(move || index.alert_keys(&sc, &iid))
                .await
                .unwrap_or_default();
            match crate::handling::publish(&s, std::slice::from_ref(&record)).await {
                Err(e) => html(
                    e.status,
                    "Chưa ghi nhận được / Not recorded",
                    &format!("<p>{}</p>", escape(&e.message)),
                ),
                Ok(()) => {
                    crate::handling::wait_applied(&s, &scope, r.incident.id, record.id).await;
                    let mut done = r.clone();
                    done.incident.status = Status::Acknowledged;
                    let resp = html(
                        StatusCode::OK,
                        "Đã tiếp nhận / Acknowledged",
                        &format!(
                            "<p>Cảm ơn: sự cố đã được ghi nhận là đã tiếp nhận. Thank you: the \
                             incident is acknowledged.</p>{}",
                            describe(&s, &done)
                        ),
                    );
                    audit(&s, &by, &token, resp.status().as_u16(), &record);
                    return resp;
                }
            }
        }
    };
    response
}

fn audit(s: &ServerState, by: &Actor, token: &str, status: u16, record: &IncidentEvent) {
    // The link's signature is left out: the audit log must not hand out working links.
    let shown = token.rsplit_once('.').map_or(token, |(body, _)| body);
    s.audit.record(&AuditRecord {
        at: Utc::now(),
        who: by.name.clone(),
        role: by.role.clone(),
        method: "POST".into(),
        route: "/ack/{token}".into(),
        uri: format!("/ack/{shown}.…"),
        status,
        incident: Some(record.incident.to_hex()),
        change: Some(serde_json::json!({
            "action": "acknowledge",
            "record": record.id.to_hex(),
            "status": "acknowledged",
        })),
    });
}
