//! Suricata EVE JSON (`alert`, `dns`, `http`, `tls`, `flow`, `fileinfo`, `smtp`, …), kept
//! as-is in `original`. Dataset `suricata`.
//!
//! ECS: `source.*`/`destination.*` (src_ip, src_port, dest_ip, dest_port),
//! `network.transport` (proto, lowercased), `network.protocol` (app_proto), `event.action`
//! (event_type); alerts: `rule.name` (signature), `rule.id` (signature_id), `rule.category`,
//! `event.severity`; http: `url.*`, `http.request.method`, `http.response.status_code`,
//! `http.response.body.bytes`, `http.request.referrer`, `user_agent.original`; dns:
//! `dns.question.name` (rrname); tls: `tls.server.sni`; fileinfo: `file.name`, `file.hash.*`;
//! smtp/email: `email.from.address`, `email.to.address`, `email.subject`.

use serde_json::Value;

use canhgac_core::{Dataset, Ecs};

use super::util::{json_ip, json_port, json_str, json_string, json_time, json_u64, split_query};
use super::{parse_object, DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for Suricata EVE JSON.
#[derive(Debug)]
pub struct SuricataDecoder {
    /// For a `timestamp` written without a zone (Suricata itself always writes one).
    local_offset: chrono::FixedOffset,
}

impl SuricataDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        SuricataDecoder {
            local_offset: opts.local_offset,
        }
    }
}

impl Decoder for SuricataDecoder {
    fn format(&self) -> Format {
        Format::Suricata
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let Some(original) = parse_object(record)? else {
            return Ok(None);
        };
        let (timestamp, ecs) = map(&original, self.local_offset);
        Ok(Some(Decoded {
            dataset: Dataset::new(Dataset::SURICATA),
            timestamp,
            ecs,
            original,
        }))
    }
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(json_str).map(str::to_string)
}

/// The top-level fields the mapping reads, gathered in one pass (no hashed lookup per key).
#[derive(Default)]
struct Top<'a> {
    timestamp: Option<&'a Value>,
    event_type: Option<&'a Value>,
    src_ip: Option<&'a Value>,
    src_port: Option<&'a Value>,
    dest_ip: Option<&'a Value>,
    dest_port: Option<&'a Value>,
    proto: Option<&'a Value>,
    app_proto: Option<&'a Value>,
    host: Option<&'a Value>,
    alert: Option<&'a Value>,
    http: Option<&'a Value>,
    dns: Option<&'a Value>,
    tls: Option<&'a Value>,
    fileinfo: Option<&'a Value>,
    email: Option<&'a Value>,
    smtp: Option<&'a Value>,
}

fn map(
    v: &Value,
    local_offset: chrono::FixedOffset,
) -> (Option<chrono::DateTime<chrono::Utc>>, Ecs) {
    let mut t = Top::default();
    for (k, v) in v.as_object().into_iter().flatten() {
        match k.as_str() {
            "timestamp" => t.timestamp = Some(v),
            "event_type" => t.event_type = Some(v),
            "src_ip" => t.src_ip = Some(v),
            "src_port" => t.src_port = Some(v),
            "dest_ip" => t.dest_ip = Some(v),
            "dest_port" => t.dest_port = Some(v),
            "proto" => t.proto = Some(v),
            "app_proto" => t.app_proto = Some(v),
            "host" => t.host = Some(v),
            "alert" => t.alert = Some(v),
            "http" => t.http = Some(v),
            "dns" => t.dns = Some(v),
            "tls" => t.tls = Some(v),
            "fileinfo" => t.fileinfo = Some(v),
            "email" => t.email = Some(v),
            "smtp" => t.smtp = Some(v),
            _ => {}
        }
    }
    let mut ecs = Ecs::default();
    let timestamp = t.timestamp.and_then(|t| json_time(t, local_offset));
    ecs.event_action = s(t.event_type);
    ecs.source_ip = t.src_ip.and_then(json_ip);
    ecs.source_port = t.src_port.and_then(json_port);
    ecs.destination_ip = t.dest_ip.and_then(json_ip);
    ecs.destination_port = t.dest_port.and_then(json_port);
    ecs.network_transport = t.proto.and_then(json_str).map(str::to_ascii_lowercase);
    ecs.network_protocol = t.app_proto.and_then(json_str).map(str::to_ascii_lowercase);
    ecs.host_name = s(t.host);
    if let Some(alert) = t.alert {
        ecs.rule_name = s(alert.get("signature"));
        ecs.rule_id = alert.get("signature_id").and_then(json_string);
        ecs.rule_category = s(alert.get("category"));
        ecs.event_severity = alert.get("severity").and_then(Value::as_i64);
    }
    if let Some(http) = t.http {
        let host = http.get("hostname").and_then(json_str);
        let url = http.get("url").and_then(json_str);
        if let Some(url) = url {
            let (path, query) = split_query(url);
            ecs.url_path = Some(path.to_string());
            ecs.url_query = query.map(str::to_string);
            ecs.url_full = Some(match host {
                Some(h) if url.starts_with('/') => format!("http://{h}{url}"),
                _ => url.to_string(),
            });
        }
        ecs.url_domain = host.map(str::to_string);
        ecs.http_request_method = s(http.get("http_method"));
        ecs.http_response_status_code = http.get("status").and_then(json_port);
        ecs.http_response_bytes = http.get("length").and_then(json_u64);
        ecs.http_referrer = s(http.get("http_refer"));
        ecs.user_agent = s(http.get("http_user_agent"));
    }
    if let Some(dns) = t.dns {
        ecs.dns_question_name = s(dns.get("rrname")).or_else(|| {
            dns.get("query")
                .or_else(|| dns.get("queries"))
                .and_then(Value::as_array)
                .and_then(|q| q.first())
                .and_then(|q| s(q.get("rrname")))
        });
    }
    if let Some(tls) = t.tls {
        ecs.tls_sni = s(tls.get("sni"));
    }
    if let Some(file) = t.fileinfo {
        if let Some(name) = file.get("filename").and_then(json_str) {
            ecs.file_name = Some(super::util::basename(name).to_string());
            ecs.file_path = Some(name.to_string());
        }
        ecs.file_hash_md5 = s(file.get("md5")).map(|h| h.to_ascii_lowercase());
        ecs.file_hash_sha1 = s(file.get("sha1")).map(|h| h.to_ascii_lowercase());
        ecs.file_hash_sha256 = s(file.get("sha256")).map(|h| h.to_ascii_lowercase());
    }
    if let Some(mail) = t.email.or(t.smtp) {
        ecs.email_from = s(mail.get("from")).or_else(|| s(mail.get("mail_from")));
        if let Some(to) = mail
            .get("to")
            .or_else(|| mail.get("rcpt_to"))
            .and_then(Value::as_array)
        {
            ecs.email_to = to.iter().filter_map(json_str).map(str::to_string).collect();
        }
        ecs.email_subject = s(mail.get("subject"));
    }
    ecs.fill_related();
    (timestamp, ecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(line: &str) -> Decoded {
        SuricataDecoder::new(&DecoderOptions::default())
            .decode(line.as_bytes())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn alert_with_http() {
        let d = decode(
            r#"{"timestamp":"2015-03-26T18:49:46.900254-0600","flow_id":1,"event_type":"alert","src_ip":"192.168.0.54","src_port":63259,"dest_ip":"157.56.114.104","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001595,"rev":10,"signature":"ET CHAT Skype VOIP Checking Version (Startup)","category":"Potential Corporate Privacy Violation","severity":1},"http":{"hostname":"ui.skype.com","url":"/ui/0/getlatestversion?ver=7.2","http_user_agent":"Skype","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":9},"app_proto":"http"}"#,
        );
        let e = &d.ecs;
        assert_eq!(e.rule_id.as_deref(), Some("2001595"));
        assert_eq!(
            e.rule_category.as_deref(),
            Some("Potential Corporate Privacy Violation")
        );
        assert_eq!(e.event_severity, Some(1));
        assert_eq!(e.network_transport.as_deref(), Some("tcp"));
        assert_eq!(
            e.url_full.as_deref(),
            Some("http://ui.skype.com/ui/0/getlatestversion?ver=7.2")
        );
        assert_eq!(e.url_query.as_deref(), Some("ver=7.2"));
        assert_eq!(e.http_response_status_code, Some(200));
        assert_eq!(e.user_agent.as_deref(), Some("Skype"));
        assert_eq!(
            d.timestamp.unwrap().to_rfc3339(),
            "2015-03-27T00:49:46.900254+00:00"
        );
        assert_eq!(e.related.ip.len(), 2);
        assert_eq!(d.original["alert"]["signature_id"], 2001595);
    }

    #[test]
    fn dns_tls_fileinfo() {
        let d = decode(
            r#"{"timestamp":"2020-01-01T00:00:00Z","event_type":"dns","src_ip":"10.0.0.1","dest_ip":"10.0.0.53","proto":"UDP","dns":{"type":"query","rrname":"Evil.Example.com","rrtype":"A"}}"#,
        );
        assert_eq!(d.ecs.dns_question_name.as_deref(), Some("Evil.Example.com"));
        assert_eq!(d.ecs.related.hosts, vec!["evil.example.com".to_string()]);
        let d =
            decode(r#"{"event_type":"tls","tls":{"sni":"c2.example.net","version":"TLS 1.2"}}"#);
        assert_eq!(d.ecs.tls_sni.as_deref(), Some("c2.example.net"));
        let d = decode(
            r#"{"event_type":"fileinfo","fileinfo":{"filename":"/dl/a.exe","md5":"0123456789ABCDEF0123456789ABCDEF","sha256":"4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b","size":10}}"#,
        );
        assert_eq!(d.ecs.file_name.as_deref(), Some("a.exe"));
        assert_eq!(
            d.ecs.file_hash_md5.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(d.ecs.related.hash.len(), 2);
    }

    #[test]
    fn bad_input() {
        let mut dec = SuricataDecoder::new(&DecoderOptions::default());
        assert_eq!(
            dec.decode(b"{\"event_type\":\"al").unwrap_err().kind,
            super::super::ErrorKind::Truncated
        );
        assert_eq!(
            dec.decode(b"[1,2]").unwrap_err().kind,
            super::super::ErrorKind::InvalidJson
        );
        assert_eq!(dec.decode(b"  ").unwrap(), None);
    }
}
