//! ArcSight Common Event Format, bare or carried in syslog:
//! `[<PRI>… ]CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|key=value …`.
//! Dataset `cef`.
//!
//! Escaping follows the CEF specification: in the header `\|` and `\\`; in extension values
//! `\=`, `\\`, `\n` and `\r`. An extension value runs until the next ` key=`.
//!
//! `original`: `cefVersion`, `deviceVendor`, `deviceProduct`, `deviceVersion`,
//! `deviceEventClassId`, `name`, `severity`, every extension key as written (`src`, `cs1`,
//! `cs1Label`, …), and the syslog header fields under `syslog` when there is one.
//!
//! ECS: `rule.id` (signature id), `rule.name` (name), `event.severity` (0–10; Low=3,
//! Medium=5, High=8, Very-High=10), `event.provider` (product), `source.*` (src, spt, suser,
//! shost), `destination.*` (dst, dpt, duser, dhost), `network.transport` (proto),
//! `network.protocol` (app), `url.*` (request), `http.request.method` (requestMethod),
//! `user_agent.original` (requestClientApplication), `file.*` (fname, filePath, fileHash),
//! `event.action` (act), `event.outcome` (outcome), `rule.category` (cat), `message` (msg),
//! `host.name` (dvchost, else the syslog host), event time from `rt`/`end`/`start`.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{Map, Value};

use canhgac_core::{Dataset, Ecs};

use super::syslog::{bsd_timestamp, parse_header};
use super::util::{self, fill_hashes, ip, parse_iso, split_query, text, url_host};
use super::{DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for CEF lines.
pub struct CefDecoder {
    now: Option<DateTime<Utc>>,
    offset: FixedOffset,
}

impl CefDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        CefDecoder {
            now: opts.now,
            offset: opts.local_offset,
        }
    }
}

impl Decoder for CefDecoder {
    fn format(&self) -> Format {
        Format::Cef
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let line = text(record);
        let line = line.trim_end_matches(['\r', '\n', '\0']);
        if line.trim().is_empty() {
            return Ok(None);
        }
        let start = line
            .find("CEF:")
            .ok_or_else(|| DecodeError::malformed("no CEF: header in the line"))?;
        let mut original = Map::new();
        let mut ecs = Ecs::default();
        let prefix = line[..start].trim();
        let mut syslog_ts = None;
        if !prefix.is_empty() {
            let now = self.now.unwrap_or_else(Utc::now);
            let mut h = parse_header(prefix, now, self.offset)?;
            if h.hostname.is_none()
                && h.appname.is_none()
                && !h.message.is_empty()
                && !h.message.contains(' ')
            {
                h.hostname = Some(h.message);
            }
            h.fill_ecs(&mut ecs);
            ecs.event_provider = None;
            syslog_ts = h.timestamp;
            original.insert("syslog".into(), Value::Object(h.to_original()));
        }
        let cef = &line[start + 4..];
        let (header, ext) = split_header(cef)?;
        const NAMES: [&str; 7] = [
            "cefVersion",
            "deviceVendor",
            "deviceProduct",
            "deviceVersion",
            "deviceEventClassId",
            "name",
            "severity",
        ];
        for (k, v) in NAMES.iter().zip(&header) {
            original.insert((*k).into(), Value::String(v.clone()));
        }
        ecs.event_provider = Some(header[2].clone()).filter(|p| !p.is_empty());
        ecs.rule_id = Some(header[4].clone()).filter(|p| !p.is_empty());
        ecs.rule_name = Some(header[5].clone()).filter(|p| !p.is_empty());
        ecs.event_severity = severity(&header[6]);
        let ext = extension(ext);
        let mut event_ts = None;
        for (k, v) in &ext {
            map_key(k, v, &mut ecs, &mut event_ts, self.offset);
        }
        for (k, v) in ext {
            original.entry(k).or_insert(Value::String(v));
        }
        ecs.fill_related();
        Ok(Some(Decoded {
            dataset: Dataset::new(Dataset::CEF),
            timestamp: event_ts.or(syslog_ts),
            ecs,
            original: Value::Object(original),
        }))
    }
}

/// The 7 header fields (unescaped) and the extension.
fn split_header(cef: &str) -> Result<(Vec<String>, &str), DecodeError> {
    let mut fields = Vec::with_capacity(7);
    let mut cur = String::new();
    let mut chars = cef.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => cur.push(e),
                Some((_, e)) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => cur.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 7 {
                    return Ok((fields, &cef[i + 1..]));
                }
            }
            _ => cur.push(c),
        }
    }
    if fields.len() == 6 {
        // No extension and no trailing pipe.
        fields.push(cur);
        return Ok((fields, ""));
    }
    Err(DecodeError::new(
        super::ErrorKind::Truncated,
        format!(
            "CEF header has {} of 7 fields",
            fields.len() + usize::from(!cur.is_empty())
        ),
    ))
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']' | b'-'))
}

/// `key=value key2=value with spaces` → pairs, values unescaped.
fn extension(ext: &str) -> Vec<(String, String)> {
    let b = ext.as_bytes();
    // (key start, '=' position) for every unescaped '=' preceded by a key.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                let word_start = ext[..i].rfind(' ').map_or(0, |s| s + 1);
                let floor = keys.last().map_or(0, |k| k.1 + 1);
                if word_start >= floor && is_key(&ext[word_start..i]) {
                    keys.push((word_start, i));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for (n, &(ks, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(ext.len(), |next| next.0);
        let raw = ext[eq + 1..end].trim_end_matches(' ');
        out.push((ext[ks..eq].to_string(), unescape_value(raw)));
    }
    out
}

fn unescape_value(v: &str) -> String {
    if !v.contains('\\') {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(e @ ('=' | '\\' | '|')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn severity(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>()
        .ok()
        .or(match s.to_ascii_lowercase().as_str() {
            "low" => Some(3),
            "medium" => Some(5),
            "high" => Some(8),
            "very-high" | "very high" => Some(10),
            _ => None,
        })
}

/// CEF time: epoch milliseconds, `MMM dd yyyy HH:mm:ss[.SSS][ zone]`, or ISO 8601.
fn cef_time(v: &str, offset: FixedOffset) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = v.parse().ok()?;
        return DateTime::from_timestamp_millis(n);
    }
    if let Some(t) = parse_iso(v, offset) {
        return Some(t);
    }
    let (mon, day, h, m, s, nanos, year, len) = bsd_timestamp(v)?;
    let zone = v[len..].trim();
    let offset = match zone {
        "" => offset,
        "UTC" | "GMT" | "Z" => util::utc(),
        _ => offset,
    };
    let naive =
        NaiveDate::from_ymd_opt(year?, mon, day)?.and_hms_nano_opt(h, m, s.min(59), nanos)?;
    util::local_to_utc(naive, offset)
}

fn map_key(k: &str, v: &str, ecs: &mut Ecs, ts: &mut Option<DateTime<Utc>>, offset: FixedOffset) {
    if v.is_empty() {
        return;
    }
    let owned = || Some(v.to_string());
    match k {
        "src" | "sourceAddress" => ecs.source_ip = ip(v),
        "dst" | "destinationAddress" => ecs.destination_ip = ip(v),
        "spt" | "sourcePort" => ecs.source_port = v.parse().ok(),
        "dpt" | "destinationPort" => ecs.destination_port = v.parse().ok(),
        "suser" | "sourceUserName" => {
            ecs.related.add_user(v);
            ecs.user_name = owned();
        }
        "duser" | "destinationUserName" => {
            ecs.related.add_user(v);
            if ecs.user_name.is_none() {
                ecs.user_name = owned();
            }
        }
        "shost" | "sourceHostName" | "dhost" | "destinationHostName" => ecs.related.add_host(v),
        "dvchost" | "deviceHostName" => ecs.host_name = owned(),
        "dvc" | "deviceAddress" => ecs.host_ip = ip(v),
        "proto" | "transportProtocol" => {
            ecs.network_transport = Some(match v {
                "6" => "tcp".to_string(),
                "17" => "udp".to_string(),
                "1" => "icmp".to_string(),
                _ => v.to_ascii_lowercase(),
            })
        }
        "app" | "applicationProtocol" => ecs.network_protocol = Some(v.to_ascii_lowercase()),
        "request" | "requestUrl" => {
            ecs.url_full = owned();
            ecs.url_domain = url_host(v).map(str::to_string);
            let path_part = v
                .split_once("://")
                .map_or(v, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
            let (path, query) = split_query(path_part);
            ecs.url_path = Some(path.to_string()).filter(|p| !p.is_empty());
            ecs.url_query = query.map(str::to_string);
        }
        "requestMethod" => ecs.http_request_method = owned(),
        "requestClientApplication" => ecs.user_agent = owned(),
        "fname" | "fileName" => ecs.file_name = owned(),
        "filePath" => ecs.file_path = owned(),
        "fileHash" | "oldFileHash" => fill_hashes(ecs, v),
        "act" | "deviceAction" => ecs.event_action = owned(),
        "outcome" | "eventOutcome" => ecs.event_outcome = Some(v.to_ascii_lowercase()),
        "cat" | "deviceEventCategory" => ecs.rule_category = owned(),
        "msg" | "message" => ecs.message = owned(),
        // rt wins; otherwise the first of end/start.
        "rt" | "deviceReceiptTime" => {
            if let Some(t) = cef_time(v, offset) {
                *ts = Some(t);
            }
        }
        "end" | "endTime" | "start" | "startTime" if ts.is_none() => *ts = cef_time(v, offset),
        _ => {}
    }
}

#[cfg(test)]
#[path = "cef_tests.rs"]
mod tests;
