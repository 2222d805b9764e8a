//! Generic JSON (one object per record), kept as-is in `original`. Dataset `json`.
//!
//! Event time from `@timestamp`, `timestamp` or `time` (ISO 8601, epoch seconds or epoch
//! milliseconds; an ISO time without a zone is read in the local offset). ECS fields are copied from keys that name them, dotted (`"source.ip"`),
//! nested (`{"source":{"ip":…}}`) or both (`{"source":{"geo.name":…}}`).

use serde_json::{Map, Value};

use canhgac_core::wire::ecs as field;
use canhgac_core::{Attachment, Dataset, Ecs};

use super::util::{json_ip, json_port, json_str, json_string, json_time, json_u64};
use super::{parse_object, DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for generic JSON / ECS documents.
#[derive(Debug)]
pub struct JsonDecoder {
    path: String,
    local_offset: chrono::FixedOffset,
}

impl JsonDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        JsonDecoder {
            path: String::with_capacity(64),
            local_offset: opts.local_offset,
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
            .find_map(|k| obj.get(*k).and_then(|t| json_time(t, self.local_offset)));
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

/// First segments of the ECS fields [`Ecs`] holds ([`field::ALL`]).
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
        field::EVENT_CODE => ecs.event_code = json_string(v),
        field::EVENT_ACTION => ecs.event_action = s(v),
        field::EVENT_OUTCOME => ecs.event_outcome = s(v),
        field::EVENT_SEVERITY => {
            ecs.event_severity = v.as_i64().or_else(|| v.as_str()?.parse().ok())
        }
        field::EVENT_PROVIDER => ecs.event_provider = s(v),
        field::MESSAGE => ecs.message = s(v),
        field::LOG_LEVEL => ecs.log_level = s(v),
        field::HOST_NAME | "host.hostname" if ecs.host_name.is_none() => ecs.host_name = s(v),
        field::HOST_IP => ecs.host_ip = first(v).and_then(json_ip),
        field::SOURCE_IP | "source.address" => ecs.source_ip = ecs.source_ip.or(json_ip(v)),
        field::SOURCE_PORT => ecs.source_port = json_port(v),
        field::DESTINATION_IP | "destination.address" => {
            ecs.destination_ip = ecs.destination_ip.or(json_ip(v))
        }
        field::DESTINATION_PORT => ecs.destination_port = json_port(v),
        field::NETWORK_TRANSPORT => ecs.network_transport = s(v),
        field::NETWORK_PROTOCOL => ecs.network_protocol = s(v),
        field::USER_NAME => ecs.user_name = s(v),
        field::USER_DOMAIN => ecs.user_domain = s(v),
        field::PROCESS_PID => ecs.process_pid = json_u64(v),
        field::PROCESS_EXECUTABLE => ecs.process_executable = s(v),
        field::PROCESS_COMMAND_LINE => ecs.process_command_line = s(v),
        field::PROCESS_PARENT_EXECUTABLE => ecs.process_parent_executable = s(v),
        field::FILE_PATH => ecs.file_path = s(v),
        field::FILE_NAME => ecs.file_name = s(v),
        field::FILE_HASH_MD5 => ecs.file_hash_md5 = s(v),
        field::FILE_HASH_SHA1 => ecs.file_hash_sha1 = s(v),
        field::FILE_HASH_SHA256 => ecs.file_hash_sha256 = s(v),
        field::URL_FULL | "url.original" if ecs.url_full.is_none() => ecs.url_full = s(v),
        field::URL_DOMAIN => ecs.url_domain = s(v),
        field::URL_PATH => ecs.url_path = s(v),
        field::URL_QUERY => ecs.url_query = s(v),
        field::HTTP_REQUEST_METHOD => ecs.http_request_method = s(v),
        field::HTTP_RESPONSE_STATUS_CODE => ecs.http_response_status_code = json_port(v),
        field::HTTP_RESPONSE_BODY_BYTES => ecs.http_response_bytes = json_u64(v),
        field::HTTP_REQUEST_REFERRER => ecs.http_referrer = s(v),
        field::USER_AGENT_ORIGINAL => ecs.user_agent = s(v),
        field::DNS_QUESTION_NAME => ecs.dns_question_name = s(v),
        field::TLS_SERVER_SNI | "tls.client.server_name" => ecs.tls_sni = s(v),
        field::EMAIL_FROM_ADDRESS => ecs.email_from = first(v).and_then(s),
        field::EMAIL_TO_ADDRESS => ecs.email_to = all(v),
        field::EMAIL_SUBJECT => ecs.email_subject = s(v),
        field::EMAIL_MESSAGE_ID => ecs.email_message_id = s(v),
        field::EMAIL_ATTACHMENTS => {
            if let Ok(list) = serde_json::from_value::<Vec<Attachment>>(v.clone()) {
                ecs.email_attachments = list;
            }
        }
        field::RULE_NAME => ecs.rule_name = s(v),
        field::RULE_ID => ecs.rule_id = json_string(v),
        field::RULE_CATEGORY => ecs.rule_category = s(v),
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
        let mut d = JsonDecoder::new(&DecoderOptions::default());
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

    #[test]
    fn an_iso_time_without_a_zone_is_local() {
        let t = |opts: &DecoderOptions| {
            JsonDecoder::new(opts)
                .decode(br#"{"@timestamp": "2023-12-31T22:14:00", "msg": "x"}"#)
                .unwrap()
                .unwrap()
                .timestamp
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(t(&DecoderOptions::default()), "2023-12-31T15:14:00+00:00");
        let utc = chrono::FixedOffset::east_opt(0).unwrap();
        assert_eq!(
            t(&DecoderOptions::default().local_offset(utc)),
            "2023-12-31T22:14:00+00:00"
        );
    }
}
