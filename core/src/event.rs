//! The Event of brief §4: one security record from an agency's sensor.
//!
//! An event keeps the original record as the source named its fields (so Sigma rules match
//! them) and a set of normalised ECS fields (`source.ip`, `user.name`, …) for search, IOC
//! matching and attribution. Its id is deterministic: replays of the same input produce the same
//! id (see [`RawRecord::event_id`]). A decoder's [`Decoded`] becomes an `Event` in one place,
//! [`Event::from_decoded`]. The names the event serializes under are listed in
//! [`crate::wire`].

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{Id, IdHasher};

/// Version of the JSON payload written to `<prefix>.events.<agency>`. Readers accept this
/// version and reject others with a named reason.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// One security event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Payload schema version ([`EVENT_SCHEMA_VERSION`]).
    #[serde(rename = "v")]
    pub schema: u16,
    pub id: Id,
    /// Set by the sensor; downstream stages overwrite it from the topic name.
    pub agency: String,
    pub sensor: String,
    pub dataset: Dataset,
    /// Event time as the record states it (received time when it states none).
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    /// When the sensor read it.
    pub received: DateTime<Utc>,
    pub source: SourceRef,
    #[serde(default, skip_serializing_if = "Ecs::is_empty")]
    pub ecs: Ecs,
    /// The record with its fields as the source named them.
    pub original: serde_json::Value,
}

/// The dataset an event belongs to: `windows`, `suricata`, `zeek.dns`, `web.access`, `syslog`,
/// `cef`, `email`, `json`, … Sigma logsource routing and field mappings key on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Dataset(pub String);

impl Dataset {
    pub const WINDOWS: &'static str = "windows";
    pub const SURICATA: &'static str = "suricata";
    pub const WEB_ACCESS: &'static str = "web.access";
    pub const SYSLOG: &'static str = "syslog";
    pub const CEF: &'static str = "cef";
    pub const EMAIL: &'static str = "email";
    pub const JSON: &'static str = "json";

    pub fn new(name: impl Into<String>) -> Self {
        Dataset(name.into())
    }

    /// `zeek.<log>` for a Zeek log (`dns`, `conn`, `http`, …).
    pub fn zeek(log: &str) -> Self {
        Dataset(format!("zeek.{log}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub kind: SourceKind,
    /// File path, `-` for stdin, peer address for listeners.
    pub name: String,
    /// Byte offset of the record's first byte in the source, when it has offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1-based line number (or record number for `.evtx`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    File,
    Stdin,
    Syslog,
    Http,
    Simulator,
}

/// One record as its source gave it, before decoding: everything its event id depends on.
///
/// The sensor, `canhgac hunt` and the simulator all build the id from this, so the same record
/// of the same file gets the same id everywhere, and a reader can compute it without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    pub agency: &'a str,
    pub sensor: &'a str,
    /// The source's fingerprint ([`source_fingerprint`] for files and streams): it identifies
    /// the source independently of when or under which name it is read, so a replay or a copy
    /// of the same file gives the same ids.
    pub source_fingerprint: &'a [u8],
    /// The record's position in the source: the byte offset of its first byte (of the
    /// decompressed stream for gzip; the `EventRecordID` for `.evtx`).
    pub offset: u64,
    /// The record's bytes without their line terminator (empty for `.evtx`).
    pub bytes: &'a [u8],
}

impl RawRecord<'_> {
    /// Deterministic event id: hash(agency, sensor, source fingerprint, offset, bytes). Two
    /// different records can only share an id if they are byte-identical at the same position
    /// of the same source.
    pub fn event_id(&self) -> Id {
        IdHasher::new("event")
            .part(self.agency)
            .part(self.sensor)
            .part(self.source_fingerprint)
            .part_u64(self.offset)
            .part(self.bytes)
            .finish()
    }
}

/// [`RawRecord::event_id`] of `RawRecord { agency, sensor, source_fingerprint: source_key,
/// offset, bytes: content }`.
pub fn event_id(agency: &str, sensor: &str, source_key: &[u8], offset: u64, content: &[u8]) -> Id {
    RawRecord {
        agency,
        sensor,
        source_fingerprint: source_key,
        offset,
        bytes: content,
    }
    .event_id()
}

/// How much of a source's first line makes its fingerprint.
pub const FINGERPRINT_LEN: usize = 4096;

/// The part of a source's first bytes its fingerprint covers: the first line without its
/// terminator (`\n` or `\r\n`), or the first [`FINGERPRINT_LEN`] bytes when the line is longer.
pub fn first_line(head: &[u8]) -> &[u8] {
    let head = &head[..head.len().min(FINGERPRINT_LEN)];
    match head.iter().position(|b| *b == b'\n') {
        Some(nl) => head[..nl].strip_suffix(b"\r").unwrap_or(&head[..nl]),
        None => head,
    }
}

/// The fingerprint of a source: a hash of its [`first_line`] (for `.evtx`, of its first
/// record's `original` as JSON). Its bytes are [`RawRecord::source_fingerprint`]; its hex form
/// names the source in checkpoints.
pub fn source_fingerprint(first_line: &[u8]) -> Id {
    IdHasher::new("source").part(first_line).finish()
}

/// A decoded record: what a decoder makes of a record's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub dataset: Dataset,
    /// Event time as the record states it; `None` when it states none (the received time then
    /// stands in).
    pub timestamp: Option<DateTime<Utc>>,
    pub ecs: Ecs,
    /// The record with its fields as the source named them.
    pub original: serde_json::Value,
}

impl Event {
    /// The event of a decoded record: the one place a [`Decoded`] becomes an `Event` (the
    /// sensor, `canhgac hunt` and the simulator call it). The id comes from `record`;
    /// `source.offset` should be `Some(record.offset)` for a source with offsets.
    pub fn from_decoded(
        record: &RawRecord<'_>,
        decoded: Decoded,
        source: SourceRef,
        received: DateTime<Utc>,
    ) -> Event {
        Event {
            schema: EVENT_SCHEMA_VERSION,
            id: record.event_id(),
            agency: record.agency.to_string(),
            sensor: record.sensor.to_string(),
            dataset: decoded.dataset,
            timestamp: decoded.timestamp.unwrap_or(received),
            received,
            source,
            ecs: decoded.ecs,
            original: decoded.original,
        }
    }
}

/// Normalised Elastic Common Schema fields. Field names serialise in ECS dotted form.
/// Empty fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ecs {
    #[serde(
        rename = "event.code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_code: Option<String>,
    #[serde(
        rename = "event.action",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_action: Option<String>,
    #[serde(
        rename = "event.outcome",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_outcome: Option<String>,
    #[serde(
        rename = "event.severity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_severity: Option<i64>,
    #[serde(
        rename = "event.provider",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_provider: Option<String>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "log.level", default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,

    #[serde(rename = "host.name", default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(rename = "host.ip", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,

    #[serde(rename = "source.ip", default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    #[serde(
        rename = "source.port",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_port: Option<u16>,
    #[serde(
        rename = "destination.ip",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_ip: Option<IpAddr>,
    #[serde(
        rename = "destination.port",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_port: Option<u16>,
    #[serde(
        rename = "network.transport",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_transport: Option<String>,
    #[serde(
        rename = "network.protocol",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_protocol: Option<String>,

    #[serde(rename = "user.name", default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(
        rename = "user.domain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_domain: Option<String>,

    #[serde(
        rename = "process.pid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub process_pid: Option<u64>,
    #[serde(
        rename = "process.executable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub process_executable: Option<String>,
    #[serde(
        rename = "process.command_line",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub process_command_line: Option<String>,
    #[serde(
        rename = "process.parent.executable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub process_parent_executable: Option<String>,

    #[serde(rename = "file.path", default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(rename = "file.name", default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(
        rename = "file.hash.md5",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_hash_md5: Option<String>,
    #[serde(
        rename = "file.hash.sha1",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_hash_sha1: Option<String>,
    #[serde(
        rename = "file.hash.sha256",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_hash_sha256: Option<String>,

    #[serde(rename = "url.full", default, skip_serializing_if = "Option::is_none")]
    pub url_full: Option<String>,
    #[serde(
        rename = "url.domain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub url_domain: Option<String>,
    #[serde(rename = "url.path", default, skip_serializing_if = "Option::is_none")]
    pub url_path: Option<String>,
    #[serde(rename = "url.query", default, skip_serializing_if = "Option::is_none")]
    pub url_query: Option<String>,
    #[serde(
        rename = "http.request.method",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_request_method: Option<String>,
    #[serde(
        rename = "http.response.status_code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_response_status_code: Option<u16>,
    #[serde(
        rename = "http.response.body.bytes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_response_bytes: Option<u64>,
    #[serde(
        rename = "http.request.referrer",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_referrer: Option<String>,
    #[serde(
        rename = "user_agent.original",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_agent: Option<String>,

    #[serde(
        rename = "dns.question.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_question_name: Option<String>,
    #[serde(
        rename = "tls.server.sni",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_sni: Option<String>,

    #[serde(
        rename = "email.from.address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_from: Option<String>,
    #[serde(
        rename = "email.to.address",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub email_to: Vec<String>,
    #[serde(
        rename = "email.subject",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_subject: Option<String>,
    #[serde(
        rename = "email.message_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_message_id: Option<String>,
    #[serde(
        rename = "email.attachments",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub email_attachments: Vec<Attachment>,

    /// Signature or rule name reported by the source (Suricata alert, CEF name).
    #[serde(rename = "rule.name", default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(rename = "rule.id", default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(
        rename = "rule.category",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rule_category: Option<String>,

    /// Every IP, host name, hash, user and URL the event mentions (ECS `related.*`), for IOC
    /// matching and pivoting.
    #[serde(rename = "related", default, skip_serializing_if = "Related::is_empty")]
    pub related: Related,
}

/// A mail attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

/// ECS `related.*`: every entity an event mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hash: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<String>,
}

impl Related {
    pub fn is_empty(&self) -> bool {
        self.ip.is_empty()
            && self.hosts.is_empty()
            && self.hash.is_empty()
            && self.user.is_empty()
            && self.url.is_empty()
    }

    fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T) {
        if !list.contains(&value) {
            list.push(value);
        }
    }

    pub fn add_ip(&mut self, ip: IpAddr) {
        Self::push_unique(&mut self.ip, ip);
    }

    /// Adds a host or domain name, lowercased, without a trailing dot.
    pub fn add_host(&mut self, host: &str) {
        let host = host.trim().trim_end_matches('.');
        if !host.is_empty() {
            Self::push_unique(&mut self.hosts, host.to_ascii_lowercase());
        }
    }

    /// Adds a hash, lowercased.
    pub fn add_hash(&mut self, hash: &str) {
        let hash = hash.trim();
        if !hash.is_empty() {
            Self::push_unique(&mut self.hash, hash.to_ascii_lowercase());
        }
    }

    pub fn add_user(&mut self, user: &str) {
        let user = user.trim();
        if !user.is_empty() && user != "-" {
            Self::push_unique(&mut self.user, user.to_string());
        }
    }

    pub fn add_url(&mut self, url: &str) {
        let url = url.trim();
        if !url.is_empty() {
            Self::push_unique(&mut self.url, url.to_string());
        }
    }
}

impl Ecs {
    pub fn is_empty(&self) -> bool {
        self == &Ecs::default()
    }

    /// Fills `related.*` from the single-valued fields already set. Decoders call this last.
    pub fn fill_related(&mut self) {
        let mut r = std::mem::take(&mut self.related);
        for ip in [self.source_ip, self.destination_ip, self.host_ip]
            .into_iter()
            .flatten()
        {
            r.add_ip(ip);
        }
        for host in [
            &self.host_name,
            &self.url_domain,
            &self.dns_question_name,
            &self.tls_sni,
        ]
        .into_iter()
        .flatten()
        {
            r.add_host(host);
        }
        for hash in [
            &self.file_hash_md5,
            &self.file_hash_sha1,
            &self.file_hash_sha256,
        ]
        .into_iter()
        .flatten()
        {
            r.add_hash(hash);
        }
        for a in &self.email_attachments {
            r.add_hash(&a.md5);
            r.add_hash(&a.sha1);
            r.add_hash(&a.sha256);
        }
        if let Some(user) = &self.user_name {
            r.add_user(user);
        }
        if let Some(url) = &self.url_full {
            r.add_url(url);
        }
        self.related = r;
    }
}

/// Looks up a dotted path (`Event.System.EventID`) in a JSON value. A key that itself contains
/// dots (`id.orig_h` in Zeek) is found too: at each level the longest matching key wins.
pub fn lookup_path<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let obj = value.as_object()?;
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    let mut search = path;
    while let Some(dot) = search.rfind('.') {
        let (head, tail) = (&path[..dot], &path[dot + 1..]);
        if let Some(v) = obj.get(head) {
            if let Some(found) = lookup_path(v, tail) {
                return Some(found);
            }
        }
        search = &path[..dot];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Event {
        let mut ecs = Ecs {
            source_ip: Some("10.0.0.1".parse().unwrap()),
            user_name: Some("alice".into()),
            url_domain: Some("Example.GOV.vn.".into()),
            ..Default::default()
        };
        ecs.fill_related();
        Event {
            schema: EVENT_SCHEMA_VERSION,
            id: event_id("moh", "s1", b"fp", 0, b"line"),
            agency: "moh".into(),
            sensor: "s1".into(),
            dataset: Dataset::new(Dataset::WEB_ACCESS),
            timestamp: "2022-04-01T00:00:00Z".parse().unwrap(),
            received: "2022-04-01T00:00:01Z".parse().unwrap(),
            source: SourceRef {
                kind: SourceKind::File,
                name: "/var/log/a".into(),
                offset: Some(0),
                line: Some(1),
            },
            ecs,
            original: json!({"a": 1}),
        }
    }

    #[test]
    fn json_round_trip_uses_ecs_names() {
        let ev = sample();
        let text = serde_json::to_string(&ev).unwrap();
        assert!(text.contains("\"source.ip\":\"10.0.0.1\""), "{text}");
        assert!(text.contains("\"@timestamp\""), "{text}");
        assert!(
            !text.contains("destination.ip"),
            "empty fields are omitted: {text}"
        );
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn related_is_filled_and_normalised() {
        let ev = sample();
        assert_eq!(ev.ecs.related.hosts, vec!["example.gov.vn".to_string()]);
        assert_eq!(ev.ecs.related.user, vec!["alice".to_string()]);
        assert_eq!(ev.ecs.related.ip.len(), 1);
    }

    #[test]
    fn event_id_depends_on_every_part() {
        let base = event_id("a", "s", b"f", 1, b"c");
        assert_ne!(base, event_id("b", "s", b"f", 1, b"c"));
        assert_ne!(base, event_id("a", "t", b"f", 1, b"c"));
        assert_ne!(base, event_id("a", "s", b"g", 1, b"c"));
        assert_ne!(base, event_id("a", "s", b"f", 2, b"c"));
        assert_ne!(base, event_id("a", "s", b"f", 1, b"d"));
        assert_eq!(base, event_id("a", "s", b"f", 1, b"c"));
    }

    #[test]
    fn event_id_is_unchanged() {
        // The sensor's ids of PR 1 onwards: a change here changes the id of every event ever
        // indexed, so it must be deliberate.
        let id = RawRecord {
            agency: "byt",
            sensor: "s1",
            source_fingerprint: b"fp",
            offset: 7,
            bytes: b"{\"a\":1}",
        }
        .event_id();
        let by_hand = IdHasher::new("event")
            .part("byt")
            .part("s1")
            .part(b"fp")
            .part_u64(7)
            .part(b"{\"a\":1}")
            .finish();
        assert_eq!(id, by_hand);
        assert_eq!(id, event_id("byt", "s1", b"fp", 7, b"{\"a\":1}"));
    }

    #[test]
    fn first_line_stops_at_the_terminator_or_the_limit() {
        assert_eq!(first_line(b"abc\r\ndef"), b"abc");
        assert_eq!(first_line(b"abc\ndef"), b"abc");
        assert_eq!(first_line(b"abc"), b"abc");
        assert_eq!(first_line(b"\nabc"), b"");
        let long = vec![b'x'; FINGERPRINT_LEN + 10];
        assert_eq!(first_line(&long).len(), FINGERPRINT_LEN);
        assert_ne!(source_fingerprint(b"a"), source_fingerprint(b"b"));
    }

    #[test]
    fn from_decoded_takes_the_id_from_the_raw_record() {
        let raw = RawRecord {
            agency: "moh",
            sensor: "s1",
            source_fingerprint: b"fp",
            offset: 3,
            bytes: b"line",
        };
        let decoded = Decoded {
            dataset: Dataset::new(Dataset::SYSLOG),
            timestamp: None,
            ecs: Ecs::default(),
            original: json!({"m": 1}),
        };
        let received = "2022-04-01T00:00:01Z".parse().unwrap();
        let source = SourceRef {
            kind: SourceKind::File,
            name: "f".into(),
            offset: Some(3),
            line: Some(2),
        };
        let ev = Event::from_decoded(&raw, decoded, source.clone(), received);
        assert_eq!(ev.id, raw.event_id());
        assert_eq!((ev.agency.as_str(), ev.sensor.as_str()), ("moh", "s1"));
        assert_eq!(ev.timestamp, received, "no event time: the received time");
        assert_eq!(ev.source, source);
        assert_eq!(ev.schema, EVENT_SCHEMA_VERSION);
    }

    #[test]
    fn lookup_nested_and_dotted_keys() {
        let v = json!({"Event": {"System": {"EventID": 4688}}, "id.orig_h": "1.2.3.4",
                       "id": {"resp_h": "5.6.7.8"}});
        assert_eq!(lookup_path(&v, "Event.System.EventID"), Some(&json!(4688)));
        assert_eq!(lookup_path(&v, "id.orig_h"), Some(&json!("1.2.3.4")));
        assert_eq!(lookup_path(&v, "id.resp_h"), Some(&json!("5.6.7.8")));
        assert_eq!(lookup_path(&v, "Event.System.Nope"), None);
    }
}
