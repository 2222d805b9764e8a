//! Syslog: RFC 5424, RFC 3164 with or without `<PRI>` (year-less timestamps get the year that
//! puts them not after the reference time), and Apache error log lines. Dataset `syslog`, or
//! `apache.error` for Apache error log lines (`[Sun Dec 04 04:47:44 2005] [error] …`).
//!
//! `original`: `priority`, `facility`, `severity` (numbers, when a PRI is present), `timestamp`
//! (as written), `hostname`, `appname`, `procid`, `msgid`, `structured_data`
//! (`{"id":{"param":"value"}}`, RFC 5424) and `message`. Apache error lines: `timestamp`,
//! `module`, `level`, `pid`, `client`, `message`.
//!
//! ECS: `host.name`, `event.provider` (app name), `process.pid`, `log.level` (severity name),
//! `message`, and for sshd/PAM messages the fields listed in the `sshd` module.
//!
//! Text that is not UTF-8 is decoded lossily. A line with no recognisable header is kept whole
//! as `message` (no timestamp). A bad PRI (`<999>`, `<x>`) is a `bad_priority` error.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{Map, Value};

use canhgac_core::{Dataset, Ecs};

use super::util::{self, ip, local_to_utc, parse_iso, text};
use super::{sshd, DecodeError, Decoded, Decoder, DecoderOptions, ErrorKind};
use crate::format::Format;

/// Decoder for syslog lines.
pub struct SyslogDecoder {
    now: Option<DateTime<Utc>>,
    offset: FixedOffset,
}

impl SyslogDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        SyslogDecoder {
            now: opts.now,
            offset: opts.local_offset,
        }
    }
}

impl Decoder for SyslogDecoder {
    fn format(&self) -> Format {
        Format::Syslog
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let line = text(record);
        let line = line.trim_end_matches(['\r', '\n', ' ', '\t', '\0']);
        if line.trim().is_empty() {
            return Ok(None);
        }
        let now = self.now.unwrap_or_else(Utc::now);
        if line.starts_with('[') {
            if let Some(d) = apache_error(line, self.offset) {
                return Ok(Some(d));
            }
        }
        let header = parse_header(line, now, self.offset)?;
        let mut ecs = Ecs::default();
        let mut original = header.to_original();
        original.insert("message".into(), Value::String(header.message.to_string()));
        if let Some(vendor) = device_vendor(line) {
            original.insert("device_vendor".into(), Value::String(vendor.into()));
        }
        header.fill_ecs(&mut ecs);
        ecs.message = Some(header.message.to_string());
        let is_auth = header
            .appname
            .is_some_and(|a| a.starts_with("sshd") || a.contains("pam"))
            || header.message.starts_with("pam_unix");
        if is_auth {
            sshd::parse(header.message, &mut ecs);
        }
        ecs.fill_related();
        Ok(Some(Decoded {
            dataset: Dataset::new(Dataset::SYSLOG),
            timestamp: header.timestamp,
            ecs,
            original: Value::Object(original),
        }))
    }
}

/// The network-device vendor whose own message format a syslog line carries, so that device
/// rules (Sigma `product: cisco`, routed by `rules/mappings/linux.yml`) see only that device's
/// logs: SigmaHQ's Cisco AAA rules are keyword searches (`more`, `dir`, `copy`) that would fire
/// on any host's syslog. Cisco: a message mnemonic `%FACILITY[-SUB]-SEVERITY-MNEMONIC:` (IOS,
/// IOS XE, NX-OS, ASA: `%SYS-5-CONFIG_I:`, `%ASA-6-302013:`).
pub(crate) fn device_vendor(line: &str) -> Option<&'static str> {
    let is_cisco_mnemonic = |m: &str| {
        let part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        };
        m.split('-').count() >= 3
            && m.split('-').all(part)
            && m.as_bytes()[0].is_ascii_uppercase()
            && matches!(m.rsplit('-').nth(1).map(str::as_bytes), Some([b'0'..=b'7']))
    };
    line.match_indices('%')
        .any(|(at, _)| {
            let rest = &line[at + 1..];
            rest.find(':')
                .filter(|&end| end <= 64)
                .is_some_and(|end| is_cisco_mnemonic(&rest[..end]))
        })
        .then_some("cisco")
}

/// A parsed syslog header; `message` is what follows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Header<'a> {
    pub pri: Option<u8>,
    pub timestamp: Option<DateTime<Utc>>,
    pub ts_raw: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub appname: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub sd: Option<Value>,
    pub message: &'a str,
}

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl Header<'_> {
    pub fn to_original(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(pri) = self.pri {
            m.insert("priority".into(), pri.into());
            m.insert("facility".into(), (pri >> 3).into());
            m.insert("severity".into(), (pri & 7).into());
        }
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.to_string()));
            }
        };
        put("timestamp", self.ts_raw);
        put("hostname", self.hostname);
        put("appname", self.appname);
        put("procid", self.procid);
        put("msgid", self.msgid);
        if let Some(sd) = &self.sd {
            m.insert("structured_data".into(), sd.clone());
        }
        m
    }

    pub fn fill_ecs(&self, ecs: &mut Ecs) {
        ecs.host_name = self.hostname.map(str::to_string);
        if let Some(h) = self.hostname.and_then(ip) {
            ecs.host_ip = Some(h);
        }
        ecs.event_provider = self.appname.map(str::to_string);
        ecs.process_pid = self.procid.and_then(|p| p.parse().ok());
        ecs.log_level = self.pri.map(|p| SEVERITIES[usize::from(p & 7)].to_string());
    }
}

/// Parses `<PRI>` (if any) and the RFC 5424 or RFC 3164 header of a line.
pub(crate) fn parse_header(
    line: &str,
    now: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<Header<'_>, DecodeError> {
    let mut rest = line;
    let mut pri = None;
    if let Some(after) = rest.strip_prefix('<') {
        let end = after.find('>').filter(|&e| e <= 4).ok_or_else(|| {
            DecodeError::new(ErrorKind::BadPriority, "priority is not closed by '>'")
        })?;
        let digits = &after[..end];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::new(
                ErrorKind::BadPriority,
                format!("priority <{digits}> is not a number"),
            ));
        }
        let value: u16 = digits
            .parse()
            .map_err(|_| DecodeError::new(ErrorKind::BadPriority, "bad priority"))?;
        if value > 191 {
            return Err(DecodeError::new(
                ErrorKind::BadPriority,
                format!("priority <{value}> is above 191"),
            ));
        }
        pri = Some(value as u8);
        rest = &after[end + 1..];
    }
    // RFC 5424: "1 " after the PRI.
    if pri.is_some() {
        if let Some(after) = rest.strip_prefix("1 ") {
            return Ok(rfc5424(pri, after, offset));
        }
    }
    Ok(rfc3164(pri, rest, now, offset))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Splits off the next space-delimited token.
fn token(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// RFC 5424 requires a zone in TIMESTAMP; one written without is read in `offset`.
fn rfc5424(pri: Option<u8>, s: &str, offset: FixedOffset) -> Header<'_> {
    let (ts, s) = token(s);
    let (host, s) = token(s);
    let (app, s) = token(s);
    let (procid, s) = token(s);
    let (msgid, s) = token(s);
    let (sd, msg) = if let Some(rest) = s.strip_prefix('-') {
        (None, rest.strip_prefix(' ').unwrap_or(rest))
    } else if s.starts_with('[') {
        let (sd, rest) = structured_data(s);
        (Some(sd), rest.strip_prefix(' ').unwrap_or(rest))
    } else {
        (None, s)
    };
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Header {
        pri,
        timestamp: nil(ts).and_then(|t| parse_iso(t, offset)),
        ts_raw: nil(ts),
        hostname: nil(host),
        appname: nil(app),
        procid: nil(procid),
        msgid: nil(msgid),
        sd,
        message: msg,
    }
}

/// `[id k="v" k2="v\"2"][id2 …]` → `{"id":{"k":"v","k2":"v\"2"},"id2":{…}}`, and the rest.
fn structured_data(mut s: &str) -> (Value, &str) {
    let mut out = Map::new();
    while let Some(body) = s.strip_prefix('[') {
        let mut params = Map::new();
        let id_end = body.find([' ', ']']).unwrap_or(body.len());
        let id = &body[..id_end];
        let mut rest = &body[id_end..];
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(r) = rest.strip_prefix(']') {
                rest = r;
                break;
            }
            let Some(eq) = rest.find('=') else {
                rest = "";
                break;
            };
            let name = &rest[..eq];
            let Some(v) = rest[eq + 1..].strip_prefix('"') else {
                rest = "";
                break;
            };
            let mut value = String::new();
            let mut chars = v.char_indices();
            let mut end = v.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => {}
                    },
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(c),
                }
            }
            params.insert(name.to_string(), Value::String(value));
            rest = &v[end.min(v.len())..];
        }
        out.insert(id.to_string(), Value::Object(params));
        s = rest;
    }
    (Value::Object(out), s)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// A BSD timestamp's parts: month, day, hour, minute, second, nanoseconds, the year if
/// written, and the length of the text.
pub(crate) type BsdTime = (u32, u32, u32, u32, u32, u32, Option<i32>, usize);

/// `Mmm dd hh:mm:ss[.fff] [yyyy ]` at the start of `s`.
pub(crate) fn bsd_timestamp(s: &str) -> Option<BsdTime> {
    let b = s.as_bytes();
    if b.len() < 15 || b[3] != b' ' {
        return None;
    }
    let mon = month(s.get(0..3)?)?;
    let day_str = s.get(4..6)?.trim_start();
    let day: u32 = day_str.parse().ok()?;
    let mut i = 7;
    if b[6] != b' ' {
        return None;
    }
    // Optional year before the time: "Dec 10 2023 06:55:46".
    let mut year = None;
    if b.len() >= i + 5 && b[i..i + 4].iter().all(u8::is_ascii_digit) && b[i + 4] == b' ' {
        year = s.get(i..i + 4)?.parse().ok();
        i += 5;
    }
    let t = s.get(i..i + 8)?.as_bytes();
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let num = |x: &[u8]| -> Option<u32> { std::str::from_utf8(x).ok()?.parse().ok() };
    let (h, m, sec) = (num(&t[0..2])?, num(&t[3..5])?, num(&t[6..8])?);
    i += 8;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let frac = &s[start..j];
        if !frac.is_empty() {
            let digits: String = frac.chars().chain("000000000".chars()).take(9).collect();
            nanos = digits.parse().unwrap_or(0);
        }
        i = j;
    }
    // Optional year after the time: "Dec 10 06:55:46 2023".
    if year.is_none()
        && b.len() >= i + 5
        && b[i] == b' '
        && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
        && b.get(i + 5).is_none_or(|c| *c == b' ')
    {
        year = s.get(i + 1..i + 5)?.parse().ok();
        i += 5;
    }
    Some((mon, day, h, m, sec, nanos, year, i))
}

/// The year that puts `mon dd hh:mm:ss` not after `now` (one day of clock skew allowed).
fn infer_year(
    parts: (u32, u32, u32, u32, u32, u32),
    now: DateTime<Utc>,
    offset: FixedOffset,
) -> Option<DateTime<Utc>> {
    let (mon, day, h, m, s, nanos) = parts;
    let limit = now + Duration::days(1);
    for year in [
        now.year(),
        now.year() - 1,
        now.year() - 2,
        now.year() - 3,
        now.year() - 4,
    ] {
        let Some(date) = NaiveDate::from_ymd_opt(year, mon, day) else {
            continue;
        };
        let Some(t) = date
            .and_hms_nano_opt(h, m, s.min(59), nanos)
            .and_then(|n| local_to_utc(n, offset))
        else {
            continue;
        };
        if t <= limit {
            return Some(t);
        }
    }
    None
}

fn rfc3164(pri: Option<u8>, s: &str, now: DateTime<Utc>, offset: FixedOffset) -> Header<'_> {
    let mut h = Header {
        pri,
        message: s,
        ..Header::default()
    };
    let rest;
    if let Some((mon, day, hh, mm, ss, nanos, year, len)) = bsd_timestamp(s) {
        h.ts_raw = Some(&s[..len]);
        h.timestamp = match year {
            Some(y) => NaiveDate::from_ymd_opt(y, mon, day)
                .and_then(|d| d.and_hms_nano_opt(hh, mm, ss.min(59), nanos))
                .and_then(|n| local_to_utc(n, offset)),
            None => infer_year((mon, day, hh, mm, ss, nanos), now, offset),
        };
        rest = s[len..].trim_start_matches(' ');
    } else {
        // ISO timestamp (rsyslog's high-precision format).
        let (first, after) = token(s);
        match parse_iso(first, offset) {
            Some(t) => {
                h.ts_raw = Some(first);
                h.timestamp = Some(t);
                rest = after.trim_start_matches(' ');
            }
            None => return h,
        }
    }
    h.message = rest;
    // HOSTNAME, unless the next token is already the tag ("sshd[12]:" or "kernel:").
    let (first, after) = token(rest);
    let first_is_tag = first.ends_with(':') || first.contains('[');
    let tag_part = if first_is_tag || after.is_empty() {
        rest
    } else {
        h.hostname = Some(first);
        after
    };
    // "combo  -- root[2421]: ROOT LOGIN ON tty2": skip stray dashes before the tag.
    let tag_part = tag_part.trim_start_matches(' ');
    let tag_part = tag_part.strip_prefix("-- ").unwrap_or(tag_part);
    h.message = tag_part;
    // TAG: letters, digits and ._-/() up to '[' or ':'.
    let tag_end = tag_part
        .find(|c: char| !(c.is_alphanumeric() || "._-/()@".contains(c)))
        .unwrap_or(tag_part.len());
    if tag_end == 0 {
        return h;
    }
    let app = &tag_part[..tag_end];
    let mut tail = &tag_part[tag_end..];
    let mut procid = None;
    if let Some(r) = tail.strip_prefix('[') {
        if let Some(close) = r.find(']') {
            procid = Some(&r[..close]);
            tail = &r[close + 1..];
        }
    }
    if let Some(msg) = tail.strip_prefix(':') {
        h.appname = Some(app);
        h.procid = procid;
        h.message = msg.strip_prefix(' ').unwrap_or(msg);
    } else if procid.is_some()
        || (tail.starts_with(' ') && token(tail.trim_start()).0.ends_with(':'))
    {
        // "syslogd 1.4.1: restart." — a tag without a colon.
        h.appname = Some(app);
        h.procid = procid;
        h.message = tail.trim_start_matches(' ');
    }
    h
}

/// `[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] message` (Apache 2.2) and
/// `[Sun Dec 04 04:47:44.123456 2005] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] message`
/// (Apache 2.4).
fn apache_error(line: &str, offset: FixedOffset) -> Option<Decoded> {
    let close = line.find(']')?;
    let ts_raw = &line[1..close];
    // "Sun Dec 04 04:47:44 2005": weekday, then a BSD timestamp with the year after the time.
    let (_, after_weekday) = ts_raw.split_once(' ')?;
    let (mon, day, h, m, s, nanos, year, _) = bsd_timestamp(after_weekday)?;
    let timestamp = NaiveDate::from_ymd_opt(year?, mon, day)
        .and_then(|d| d.and_hms_nano_opt(h, m, s.min(59), nanos))
        .and_then(|n| local_to_utc(n, offset));
    let mut rest = line[close + 1..].trim_start();
    let mut original = Map::new();
    original.insert("timestamp".into(), Value::String(ts_raw.to_string()));
    let mut ecs = Ecs::default();
    while let Some(body) = rest.strip_prefix('[') {
        let end = body.find(']')?;
        let item = &body[..end];
        if let Some(client) = item.strip_prefix("client ") {
            original.insert("client".into(), Value::String(client.to_string()));
            let addr = ip(client).or_else(|| client.rsplit_once(':').and_then(|(a, _)| ip(a)));
            ecs.source_ip = addr;
        } else if let Some(pid) = item.strip_prefix("pid ") {
            let pid = pid.split(':').next().unwrap_or(pid);
            original.insert("pid".into(), Value::String(pid.to_string()));
            ecs.process_pid = pid.parse().ok();
        } else if !original.contains_key("level") {
            let (module, level) = match item.split_once(':') {
                Some((m, l)) => (Some(m), l),
                None => (None, item),
            };
            if let Some(m) = module {
                original.insert("module".into(), Value::String(m.to_string()));
            }
            original.insert("level".into(), Value::String(level.to_string()));
            ecs.log_level = Some(level.to_string());
        } else {
            break;
        }
        rest = body[end + 1..].trim_start();
    }
    original.insert("message".into(), Value::String(rest.to_string()));
    ecs.message = Some(rest.to_string());
    ecs.fill_related();
    Some(Decoded {
        dataset: Dataset::new("apache.error"),
        timestamp,
        ecs,
        original: Value::Object(original),
    })
}

/// Whether a line starts like RFC 3164 syslog without PRI (`Dec 10 06:55:46 …`), with an ISO
/// timestamp, or like an Apache error log line (for auto-detection).
pub(crate) fn looks_like_syslog(line: &str) -> bool {
    if line.starts_with('[') {
        return apache_error(line, util::utc()).is_some_and(|d| d.timestamp.is_some());
    }
    bsd_timestamp(line).is_some() || parse_iso(token(line).0, util::utc()).is_some()
}

#[cfg(test)]
#[path = "syslog_tests.rs"]
mod tests;
