//! Web server access logs. Dataset `web.access`.
//!
//! - Apache/Nginx combined and common: `IP IDENT USER [22/Dec/2016:16:30:52 +0300] "REQUEST"
//!   STATUS BYTES ["REFERER" "USER-AGENT"]`. Bytes may be `-`. Lines wrapped in an extra
//!   pair of quotes (the acunetix/w3af captures) and request lines with stray quotes or raw
//!   bytes, as scanners send them, are tolerated: the status is found as the first
//!   `" DDD BYTES` after the request.
//! - Apache `vhost_combined`: the same line after the virtual host that served it,
//!   `%v:%p` (`moh.gov.vn:443 198.51.100.23 - - [13/Oct/2026:22:41:00 +0700] "GET / …`).
//!   It is told apart per line: four fields before `[time]`, the first a `host:port`.
//! - IIS W3C extended: the `#Fields:` directive gives the columns (any order); `#` lines are
//!   not records. `cs(User-Agent)` values have `+` for spaces; they are restored.
//!
//! `original` uses field names Sigma webserver rules use: `c-ip`, `cs-username`, `cs-method`,
//! `cs-uri-stem`, `cs-uri-query`, `cs-uri` (the request target), `cs-version`, `sc-status`,
//! `sc-bytes`, `cs-referer`, `cs-user-agent`, `cs-host`, `s-port`, plus `request` (the request line),
//! `timestamp` (as written) and `raw` (the whole line). IIS records also keep every column
//! under its own `#Fields:` name (`cs(User-Agent)`, `time-taken`, …).
//!
//! ECS: `source.ip`, `user.name`, `http.request.method`, `url.path`, `url.query`, `url.full`
//! and `url.domain` (when the target is absolute or the host is logged),
//! `http.response.status_code`, `http.response.body.bytes`, `http.request.referrer`,
//! `user_agent.original`; IIS also `destination.ip`/`destination.port` (s-ip, s-port),
//! `vhost_combined` `destination.port` (`%p`).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{Map, Value};

use canhgac_core::{Dataset, Ecs};

use super::util::{self, ip, split_query, text, url_host};
use super::{DecodeError, Decoded, Decoder, DecoderOptions, ErrorKind};
use crate::format::Format;

/// Decoder for web access logs (stateful: IIS `#Fields:`).
pub struct WebDecoder {
    iis_fields: Option<Vec<String>>,
    /// For a `[time]` written without its zone.
    local_offset: FixedOffset,
}

impl WebDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        WebDecoder {
            iis_fields: None,
            local_offset: opts.local_offset,
        }
    }
}

impl Decoder for WebDecoder {
    fn format(&self) -> Format {
        Format::Web
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let line = text(record);
        let line = line.trim_end_matches(['\r', '\n', ' ', '\t', '\0']);
        if line.trim().is_empty() {
            return Ok(None);
        }
        if let Some(directive) = line.strip_prefix('#') {
            if let Some(fields) = directive.strip_prefix("Fields:") {
                self.iis_fields = Some(fields.split_whitespace().map(str::to_string).collect());
            }
            return Ok(None);
        }
        let decoded = match &self.iis_fields {
            Some(fields) => iis(fields, line)?,
            None => combined(line, self.local_offset)?,
        };
        Ok(Some(decoded))
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty() && *v != "-") {
        m.insert(k.into(), Value::String(v.to_string()));
    }
}

fn num_or_str(v: &str) -> Value {
    match v.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(v.to_string()),
    }
}

/// `22/Dec/2016:16:30:52 +0300`; without the zone, in `local_offset`.
fn clf_time(s: &str, local_offset: FixedOffset) -> Option<DateTime<Utc>> {
    let (dt, zone) = match s.split_once(' ') {
        Some((dt, zone)) => (dt, Some(zone)),
        None => (s, None),
    };
    let mut parts = dt.splitn(3, '/');
    let day: u32 = parts.next()?.parse().ok()?;
    let mon_name = parts.next()?;
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == mon_name)? as u32
        + 1;
    let rest = parts.next()?;
    let (year, time) = rest.split_once(':')?;
    let mut t = time.split(':');
    let h: u32 = t.next()?.parse().ok()?;
    let m: u32 = t.next()?.parse().ok()?;
    let sec: u32 = t.next()?.parse().ok()?;
    let offset = match zone {
        None => local_offset,
        Some(zone) => {
            let zb = zone.as_bytes();
            if zb.len() != 5 || !matches!(zb[0], b'+' | b'-') {
                return None;
            }
            let zh: i32 = zone[1..3].parse().ok()?;
            let zm: i32 = zone[3..5].parse().ok()?;
            let secs = zh * 3600 + zm * 60;
            FixedOffset::east_opt(if zb[0] == b'-' { -secs } else { secs })?
        }
    };
    let naive =
        NaiveDate::from_ymd_opt(year.parse().ok()?, mon, day)?.and_hms_opt(h, m, sec.min(59))?;
    util::local_to_utc(naive, offset)
}

/// Splits `METHOD TARGET PROTOCOL`; scanners send anything, so every part is optional.
fn request_parts(req: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let req = req.trim();
    if req.is_empty() || req == "-" {
        return (None, None, None);
    }
    let Some((method, rest)) = req.split_once(' ') else {
        return (None, Some(req).filter(|r| r.starts_with('/')), None);
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
    {
        return (None, None, None);
    }
    let rest = rest.trim();
    match rest.rsplit_once(' ') {
        Some((target, proto)) if proto.starts_with("HTTP/") => {
            (Some(method), Some(target.trim()), Some(proto))
        }
        _ if rest.starts_with("HTTP/") => (Some(method), None, Some(rest)),
        _ => (Some(method), Some(rest).filter(|r| !r.is_empty()), None),
    }
}

fn fill_target(
    ecs: &mut Ecs,
    original: &mut Map<String, Value>,
    target: &str,
    host: Option<&str>,
    tls: bool,
) {
    original.insert("cs-uri".into(), Value::String(target.to_string()));
    let (path_part, abs_host) = match url_host(target) {
        Some(h) => {
            let after_scheme = target.split_once("://").map_or("", |(_, r)| r);
            (
                after_scheme.find('/').map_or("/", |i| &after_scheme[i..]),
                Some(h),
            )
        }
        None => (target, None),
    };
    let (stem, query) = split_query(path_part);
    put(original, "cs-uri-stem", Some(stem));
    put(original, "cs-uri-query", query);
    ecs.url_path = Some(stem.to_string());
    ecs.url_query = query.map(str::to_string).filter(|q| !q.is_empty());
    if let Some(h) = abs_host {
        ecs.url_domain = Some(h.to_string());
        ecs.url_full = Some(target.to_string());
    } else if let Some(h) = host {
        ecs.url_domain = Some(h.to_string());
        let scheme = if tls { "https" } else { "http" };
        ecs.url_full = Some(format!("{scheme}://{h}{target}"));
    }
}

/// Apache/Nginx combined or common.
fn combined(raw: &str, local_offset: FixedOffset) -> Result<Decoded, DecodeError> {
    let mut line = raw;
    // The acunetix/w3af captures wrap each line in one more pair of quotes.
    if line.len() >= 2 && line.starts_with('"') && line.ends_with('"') {
        line = &line[1..line.len() - 1];
    }
    let bad =
        |what: &str| DecodeError::malformed(format!("not a combined/common log line: {what}"));
    let (vhost, line) = match split_vhost(line) {
        Some((host, port, rest)) => (Some((host, port)), rest),
        None => (None, line),
    };
    let (client, rest) = line.split_once(' ').ok_or_else(|| bad("no fields"))?;
    let (ident, rest) = rest.split_once(' ').ok_or_else(|| bad("no ident"))?;
    let open = rest
        .find(" [")
        .map(|i| i + 1)
        .or_else(|| rest.starts_with('[').then_some(0));
    let open = open.ok_or_else(|| bad("no [time]"))?;
    let user = &rest[..open].trim();
    let close = rest[open..]
        .find(']')
        .ok_or_else(|| bad("unterminated [time]"))?
        + open;
    let time_raw = &rest[open + 1..close];
    let timestamp = clf_time(time_raw, local_offset);
    let rest = rest[close + 1..].trim_start();
    let mut original = Map::new();
    let mut ecs = Ecs::default();
    put(&mut original, "c-ip", Some(client));
    put(&mut original, "ident", Some(ident));
    put(&mut original, "cs-username", Some(user));
    if let Some((host, port)) = vhost {
        put(&mut original, "cs-host", Some(host));
        original.insert("s-port".into(), port.into());
        ecs.destination_port = Some(port);
    }
    original.insert("timestamp".into(), Value::String(time_raw.to_string()));
    let (request, after) = if let Some(body) = rest.strip_prefix('"') {
        let at = find_status(body)
            .ok_or_else(|| DecodeError::new(ErrorKind::Truncated, "no status after the request"))?;
        (&body[..at], &body[at + 1..])
    } else {
        // Unquoted request (rare): up to the status.
        let at = find_status_unquoted(rest).ok_or_else(|| bad("no status"))?;
        (&rest[..at], &rest[at..])
    };
    original.insert("request".into(), Value::String(request.to_string()));
    let (method, target, proto) = request_parts(request);
    put(&mut original, "cs-method", method);
    put(&mut original, "cs-version", proto);
    ecs.http_request_method = method.map(str::to_string);
    if let Some(t) = target {
        let host = vhost.map(|(h, _)| h);
        let tls = vhost.is_some_and(|(_, p)| p == 443);
        fill_target(&mut ecs, &mut original, t, host, tls);
        if let Some((h, p)) = vhost.filter(|(_, p)| !matches!(p, 80 | 443)) {
            if !t.contains("://") {
                ecs.url_full = Some(format!("http://{h}:{p}{t}"));
            }
        }
    } else if let Some((host, _)) = vhost {
        ecs.url_domain = Some(host.to_string());
    }
    let mut tail = after.trim_start().splitn(3, ' ');
    let status = tail.next().unwrap_or("");
    let bytes = tail.next().unwrap_or("-");
    let extra = tail.next().unwrap_or("").trim();
    if let Ok(code) = status.parse::<u16>() {
        original.insert("sc-status".into(), code.into());
        ecs.http_response_status_code = Some(code);
    }
    if let Ok(n) = bytes.parse::<u64>() {
        original.insert("sc-bytes".into(), n.into());
        ecs.http_response_bytes = Some(n);
    }
    if let Some(q) = extra.strip_prefix('"') {
        // "REFERER" "USER-AGENT"[ more]
        let (referer, ua) = match q.find("\" \"") {
            Some(i) => {
                let ua = &q[i + 3..];
                let ua_end = ua.rfind('"').unwrap_or(ua.len());
                (&q[..i], Some(&ua[..ua_end]))
            }
            None => (q.trim_end_matches('"'), None),
        };
        put(&mut original, "cs-referer", Some(referer));
        put(&mut original, "cs-user-agent", ua);
        ecs.http_referrer = Some(referer)
            .filter(|r| !r.is_empty() && *r != "-")
            .map(str::to_string);
        ecs.user_agent = ua
            .filter(|r| !r.is_empty() && *r != "-")
            .map(str::to_string);
    }
    original.insert("raw".into(), Value::String(raw.to_string()));
    ecs.source_ip = ip(client);
    if ecs.source_ip.is_none() && client != "-" {
        ecs.related.add_host(client);
    }
    ecs.user_name = Some(*user)
        .filter(|u| !u.is_empty() && *u != "-")
        .map(str::to_string);
    ecs.network_protocol = Some("http".into());
    ecs.fill_related();
    Ok(Decoded {
        dataset: Dataset::new(Dataset::WEB_ACCESS),
        timestamp,
        ecs,
        original: Value::Object(original),
    })
}

/// The `%v:%p` that starts a `vhost_combined` line: `(host, port, rest of the line)`. Only
/// when four fields precede `[time]` (`VHOST:PORT CLIENT IDENT USER`), so that an IPv6
/// client of a combined line (`2001:db8::1 - - [`) is never read as a virtual host.
fn split_vhost(line: &str) -> Option<(&str, u16, &str)> {
    let (first, rest) = line.split_once(' ')?;
    let head = &rest[..rest.find('[')?];
    if head.split_whitespace().count() != 3 || !head.ends_with(' ') {
        return None;
    }
    let (host, port) = first.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let named = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    let v6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    (named || v6).then_some((host, port, rest))
}

fn is_status_at(b: &[u8], i: usize) -> bool {
    // `DDD ` followed by digits or '-', or `DDD` at the end.
    if i + 3 > b.len() || !b[i..i + 3].iter().all(u8::is_ascii_digit) {
        return false;
    }
    match b.get(i + 3) {
        None => true,
        Some(b' ') => matches!(b.get(i + 4), None | Some(b'0'..=b'9') | Some(b'-')),
        _ => false,
    }
}

/// Position of the `"` that closes the request: the first `" DDD ` followed by bytes.
fn find_status(body: &str) -> Option<usize> {
    let b = body.as_bytes();
    memchr::memchr_iter(b'"', b).find(|&i| b.get(i + 1) == Some(&b' ') && is_status_at(b, i + 2))
}

fn find_status_unquoted(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b' ', b)
        .find(|&i| is_status_at(b, i + 1))
        .map(|i| i + 1)
}

/// IIS W3C extended line with the columns of the last `#Fields:`.
fn iis(fields: &[String], line: &str) -> Result<Decoded, DecodeError> {
    let values: Vec<&str> = line.split(' ').collect();
    if values.len() != fields.len() {
        return Err(DecodeError::malformed(format!(
            "IIS line has {} fields, #Fields: declares {}",
            values.len(),
            fields.len()
        )));
    }
    let mut original = Map::new();
    let mut ecs = Ecs::default();
    let mut date = None;
    let mut time = None;
    let mut host = None;
    let mut tls = false;
    for (name, value) in fields.iter().zip(&values) {
        let value = *value;
        let is_num = matches!(
            name.as_str(),
            "sc-status"
                | "sc-substatus"
                | "sc-win32-status"
                | "sc-bytes"
                | "cs-bytes"
                | "time-taken"
                | "s-port"
                | "c-port"
        );
        let v = if is_num {
            num_or_str(value)
        } else {
            Value::String(value.to_string())
        };
        let present = value != "-" && !value.is_empty();
        match name.as_str() {
            "date" => date = Some(value),
            "time" => time = Some(value),
            "c-ip" => ecs.source_ip = ip(value),
            "c-port" => ecs.source_port = value.parse().ok(),
            "s-ip" => ecs.destination_ip = ip(value),
            "s-port" => {
                ecs.destination_port = value.parse().ok();
                tls = value == "443";
            }
            "cs-method" if present => ecs.http_request_method = Some(value.to_string()),
            "cs-username" if present => ecs.user_name = Some(value.to_string()),
            "sc-status" => ecs.http_response_status_code = value.parse().ok(),
            "sc-bytes" => ecs.http_response_bytes = value.parse().ok(),
            "cs-host" | "cs(Host)" if present => host = Some(value),
            "s-computername" if present => ecs.host_name = Some(value.to_string()),
            _ => {}
        }
        original.insert(name.clone(), v);
        let alias = match name.as_str() {
            "cs(User-Agent)" => Some("cs-user-agent"),
            "cs(Referer)" => Some("cs-referer"),
            "cs(Host)" => Some("cs-host"),
            _ => None,
        };
        if let Some(alias) = alias {
            if present {
                let restored = if alias == "cs-user-agent" {
                    value.replace('+', " ")
                } else {
                    value.to_string()
                };
                if alias == "cs-user-agent" {
                    ecs.user_agent = Some(restored.clone());
                    original.insert(name.clone(), Value::String(restored.clone()));
                } else if alias == "cs-referer" {
                    ecs.http_referrer = Some(restored.clone());
                }
                original.insert(alias.into(), Value::String(restored));
            }
        }
    }
    let stem = original
        .get("cs-uri-stem")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(stem) = stem {
        let query = original
            .get("cs-uri-query")
            .and_then(Value::as_str)
            .filter(|q| *q != "-");
        let target = match query {
            Some(q) => format!("{stem}?{q}"),
            None => stem.clone(),
        };
        let mut scratch = Map::new();
        fill_target(&mut ecs, &mut scratch, &target, host, tls);
        original.insert("cs-uri".into(), Value::String(target));
    }
    let timestamp = match (date, time) {
        // W3C extended logs write `date` and `time` in UTC.
        (Some(d), Some(t)) => util::parse_iso(&format!("{d}T{t}Z"), util::utc()),
        _ => None,
    };
    original.insert("raw".into(), Value::String(line.to_string()));
    ecs.network_protocol = Some("http".into());
    ecs.fill_related();
    Ok(Decoded {
        dataset: Dataset::new(Dataset::WEB_ACCESS),
        timestamp,
        ecs,
        original: Value::Object(original),
    })
}

/// Whether a line is an Apache/Nginx common, combined or `vhost_combined` log line (for
/// auto-detection).
pub(crate) fn looks_like_access_log(line: &str) -> bool {
    combined(line, util::utc()).is_ok_and(|d| d.timestamp.is_some())
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod tests;
