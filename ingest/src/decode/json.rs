//! Generic JSON (one object per record), kept as-is in `original`. Dataset `json`.
//!
//! Event time from `@timestamp`, `timestamp` or `time` (ISO 8601, epoch seconds or epoch
//! milliseconds). ECS fields are copied from keys that name them, dotted (`"source.ip"`),
//! nested (`{"source":{"ip":…}}`) or both (`{"source":{"geo.name":…}}`).

use serde_json::{Map, Value};

use canhgac_core::{Attachment, Dataset, Ecs};

use super::util::{json_ip, json_port, json_str, json_string, json_time, json_u64};
use super::{parse_object, DecodeError, Decoded, Decoder};
use crate::format::Format;

/// Decoder for generic JSON / ECS documents.
#[derive(Debug, Default)]
pub struct JsonDecoder {
    path: String,
}

impl JsonDecoder {
    pub fn new() -> Self {
        JsonDecoder {
            path: String::with_capacity(64),
        }
    }
}

impl Decoder for JsonDecoder {
    fn format(&self) -> Format {
        Format::Json
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let Some(original) = parse_object(record)? else {
            return Ok(None);
        };
        let obj = original
            .as_object()
            .ok_or_else(|| DecodeError::malformed("expected an object"))?;
        let timestamp = ["@timestamp", "timestamp", "time"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(json_time));
        let mut ecs = Ecs::default();
        self.path.clear();
        walk(&mut self.path, obj, &mut ecs, 0);
        ecs.fill_related();
        Ok(Some(Decoded {
            dataset: Dataset::new(Dataset::JSON),
            timestamp,
            ecs,
            original,
        }))
    }
}

/// First segments of the ECS fields [`Ecs`] holds.
const ROOTS: [&str; 17] = [
    "event",
    "message",
    "log",
    "host",
    "source",
    "destination",
    "network",
    "user",
    "process",
    "file",
    "url",
    "http",
    "user_agent",
    "dns",
    "tls",
    "email",
    "rule",
];

fn is_root(key: &str) -> bool {
    let first = key.split('.').next().unwrap_or(key);
    ROOTS.contains(&first)
}

fn walk(path: &mut String, obj: &Map<String, Value>, ecs: &mut Ecs, depth: usize) {
    for (k, v) in obj {
        if depth == 0 && !is_root(k) {
            continue;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        match v {
            Value::Object(inner) if depth < 5 => walk(path, inner, ecs, depth + 1),
            _ => set(path, v, ecs),
        }
        path.truncate(len);
    }
}

fn s(v: &Value) -> Option<String> {
    json_str(v).map(str::to_string)
}

fn set(path: &str, v: &Value, ecs: &mut Ecs) {
    match path {
        "event.code" => ecs.event_code = json_string(v),
        "event.action" => ecs.event_action = s(v),
        "event.outcome" => ecs.event_outcome = s(v),
        "event.severity" => ecs.event_severity = v.as_i64().or_else(|| v.as_str()?.parse().ok()),
        "event.provider" => ecs.event_provider = s(v),
        "message" => ecs.message = s(v),
        "log.level" => ecs.log_level = s(v),
        "host.name" | "host.hostname" if ecs.host_name.is_none() => ecs.host_name = s(v),
        "host.ip" => ecs.host_ip = first(v).and_then(json_ip),
        "source.ip" | "source.address" => ecs.source_ip = ecs.source_ip.or(json_ip(v)),
        "source.port" => ecs.source_port = json_port(v),
        "destination.ip" | "destination.address" => {
            ecs.destination_ip = ecs.destination_ip.or(json_ip(v))
        }
        "destination.port" => ecs.destination_port = json_port(v),
        "network.transport" => ecs.network_transport = s(v),
        "network.protocol" => ecs.network_protocol = s(v),
        "user.name" => ecs.user_name = s(v),
        "user.domain" => ecs.user_domain = s(v),
        "process.pid" => ecs.process_pid = json_u64(v),
        "process.executable" => ecs.process_executable = s(v),
        "process.command_line" => ecs.process_command_line = s(v),
        "process.parent.executable" => ecs.process_parent_executable = s(v),
        "file.path" => ecs.file_path = s(v),
        "file.name" => ecs.file_name = s(v),
        "file.hash.md5" => ecs.file_hash_md5 = s(v),
        "file.hash.sha1" => ecs.file_hash_sha1 = s(v),
        "file.hash.sha256" => ecs.file_hash_sha256 = s(v),
        "url.full" | "url.original" if ecs.url_full.is_none() => ecs.url_full = s(v),
        "url.domain" => ecs.url_domain = s(v),
        "url.path" => ecs.url_path = s(v),
        "url.query" => ecs.url_query = s(v),
        "http.request.method" => ecs.http_request_method = s(v),
        "http.response.status_code" => ecs.http_response_status_code = json_port(v),
        "http.response.body.bytes" => ecs.http_response_bytes = json_u64(v),
        "http.request.referrer" => ecs.http_referrer = s(v),
        "user_agent.original" => ecs.user_agent = s(v),
        "dns.question.name" => ecs.dns_question_name = s(v),
        "tls.server.sni" | "tls.client.server_name" => ecs.tls_sni = s(v),
        "email.from.address" => ecs.email_from = first(v).and_then(s),
        "email.to.address" => ecs.email_to = all(v),
        "email.subject" => ecs.email_subject = s(v),
        "email.message_id" => ecs.email_message_id = s(v),
        "email.attachments" => {
            if let Ok(list) = serde_json::from_value::<Vec<Attachment>>(v.clone()) {
                ecs.email_attachments = list;
            }
        }
        "rule.name" => ecs.rule_name = s(v),
        "rule.id" => ecs.rule_id = json_string(v),
        "rule.category" => ecs.rule_category = s(v),
        _ => {}
    }
}

fn first(v: &Value) -> Option<&Value> {
    match v {
        Value::Array(a) => a.first(),
        other => Some(other),
    }
}

fn all(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(s).collect(),
        other => s(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_nested_and_mixed_keys() {
        let mut d = JsonDecoder::new();
        let out = d
            .decode(br#"{"@timestamp":"2024-01-01T00:00:00Z","source.ip":"10.0.0.1","destination":{"ip":"10.0.0.2","port":443},"url":{"full":"https://x.example/a"},"event":{"code":4625,"severity":"3"},"email":{"to":{"address":["a@x","b@y"]}},"other":{"source":{"ip":"9.9.9.9"}}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            out.timestamp.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(out.ecs.source_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(out.ecs.destination_port, Some(443));
        assert_eq!(out.ecs.url_full.as_deref(), Some("https://x.example/a"));
        assert_eq!(out.ecs.event_code.as_deref(), Some("4625"));
        assert_eq!(out.ecs.event_severity, Some(3));
        assert_eq!(out.ecs.email_to.len(), 2);
        assert_eq!(out.ecs.related.ip.len(), 2);
        assert_eq!(out.dataset.as_str(), "json");
        let out = d
            .decode(br#"{"time": 1700000000, "msg": "x"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(out.timestamp.unwrap().timestamp(), 1700000000);
        assert!(out.ecs.is_empty());
    }
}
