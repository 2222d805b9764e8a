//! Zeek JSON logs, kept as-is in `original`. Keys may be dotted (`id.orig_h`, Zeek's own JSON
//! writer), underscored (`id_orig_h`, as Corelight/OTRF and some shippers write them) or nested
//! (`{"id":{"orig_h":…}}`): all three give the same ECS fields. Dataset `zeek.<log>` from
//! `_path`, `@stream`, or the file name (`dns.json.gz`, `dns.log`) when neither is present.
//! `ts` may be an ISO string or epoch seconds.
//!
//! ECS: `source.*` (id.orig_h/p), `destination.*` (id.resp_h/p), `network.transport` (proto),
//! `network.protocol` (service), `dns.question.name` (query), `url.*`/`http.*`/`user_agent`
//! (http), `tls.server.sni` (ssl server_name), `file.*` (files/pe: filename, md5, sha1,
//! sha256), `user.name` (username, user, client, cookie), `rule.name` (notice note, weird
//! name), `message` (msg), `email.*` (smtp), `host.ip` (known_hosts/software host).

use serde_json::{Map, Value};

use canhgac_core::{Dataset, Ecs};

use super::util::{json_ip, json_port, json_str, json_time, json_u64, split_query};
use super::{parse_object, DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for Zeek JSON.
pub struct ZeekDecoder {
    /// Log name taken from the file name, for records without `_path`/`@stream`.
    file_log: Option<String>,
}

impl ZeekDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        ZeekDecoder {
            file_log: opts.file_name.as_deref().and_then(log_from_file_name),
        }
    }
}

/// `dns.json.gz` → `dns`; `conn.log` → `conn`; `http.00:00:00-01:00:00.log.gz` → `http`.
fn log_from_file_name(name: &str) -> Option<String> {
    let base = super::util::basename(name);
    let stem = base.split('.').next()?;
    let ok = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| stem.to_ascii_lowercase())
}

impl Decoder for ZeekDecoder {
    fn format(&self) -> Format {
        Format::Zeek
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        let Some(original) = parse_object(record)? else {
            return Ok(None);
        };
        let obj = original
            .as_object()
            .ok_or_else(|| DecodeError::malformed("expected an object"))?;
        let log = obj
            .get("_path")
            .or_else(|| obj.get("@stream"))
            .and_then(json_str)
            .map(str::to_string)
            .or_else(|| self.file_log.clone())
            .unwrap_or_else(|| "unknown".to_string());
        let (timestamp, ecs) = map(obj, &log);
        Ok(Some(Decoded {
            dataset: Dataset::zeek(&log),
            timestamp,
            ecs,
            original,
        }))
    }
}

/// A field under any of the three key styles: `id.orig_h`, `id_orig_h`, `{"id":{"orig_h"}}`.
fn field<'a>(obj: &'a Map<String, Value>, dotted: &str, underscored: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(dotted) {
        return Some(v);
    }
    if dotted != underscored {
        if let Some(v) = obj.get(underscored) {
            return Some(v);
        }
        let (parent, child) = dotted.split_once('.')?;
        return obj.get(parent)?.as_object()?.get(child);
    }
    None
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(json_str).map(str::to_string)
}

fn map(obj: &Map<String, Value>, log: &str) -> (Option<chrono::DateTime<chrono::Utc>>, Ecs) {
    let mut ecs = Ecs::default();
    let timestamp = obj.get("ts").and_then(json_time);
    ecs.source_ip = field(obj, "id.orig_h", "id_orig_h").and_then(json_ip);
    ecs.source_port = field(obj, "id.orig_p", "id_orig_p").and_then(json_port);
    ecs.destination_ip = field(obj, "id.resp_h", "id_resp_h").and_then(json_ip);
    ecs.destination_port = field(obj, "id.resp_p", "id_resp_p").and_then(json_port);
    ecs.network_transport = s(obj.get("proto")).map(|p| p.to_ascii_lowercase());
    // `service` is the application protocol in conn (`gssapi,smb,krb`) and known_services,
    // but a principal in kerberos.
    if matches!(log, "conn" | "known_services") {
        ecs.network_protocol = match obj.get("service") {
            Some(Value::Array(a)) => a.first().and_then(json_str).map(str::to_ascii_lowercase),
            other => s(other).map(|p| p.split(',').next().unwrap_or(&p).to_ascii_lowercase()),
        };
    }
    ecs.message = s(obj.get("msg"));
    match log {
        "dns" => ecs.dns_question_name = s(obj.get("query")),
        "http" => {
            let host = obj.get("host").and_then(json_str);
            if let Some(uri) = obj.get("uri").and_then(json_str) {
                let (path, query) = split_query(uri);
                ecs.url_path = Some(path.to_string());
                ecs.url_query = query.map(str::to_string);
                ecs.url_full = Some(match host {
                    Some(h) if uri.starts_with('/') => format!("http://{h}{uri}"),
                    _ => uri.to_string(),
                });
            }
            ecs.url_domain = host.map(str::to_string);
            ecs.http_request_method = s(obj.get("method"));
            ecs.http_response_status_code = obj.get("status_code").and_then(json_port);
            ecs.http_response_bytes = obj.get("response_body_len").and_then(json_u64);
            ecs.http_referrer = s(obj.get("referrer"));
            ecs.user_agent = s(obj.get("user_agent"));
            ecs.user_name = s(obj.get("username"));
        }
        "ssl" => ecs.tls_sni = s(obj.get("server_name")),
        "files" | "pe" | "smb_files" => {
            if let Some(name) = obj
                .get("filename")
                .or_else(|| obj.get("name"))
                .and_then(json_str)
            {
                ecs.file_name = Some(super::util::basename(name).to_string());
            }
            ecs.file_path = s(obj.get("path"));
        }
        "notice" => ecs.rule_name = s(obj.get("note")),
        "weird" => ecs.rule_name = s(obj.get("name")),
        "smtp" => {
            ecs.email_from = s(obj.get("mailfrom")).or_else(|| s(obj.get("from")));
            if let Some(to) = obj.get("rcptto").and_then(Value::as_array) {
                ecs.email_to = to.iter().filter_map(json_str).map(str::to_string).collect();
            }
            ecs.email_subject = s(obj.get("subject"));
            ecs.email_message_id = s(obj.get("msg_id"));
            ecs.user_agent = s(obj.get("user_agent"));
        }
        "known_hosts" | "software" | "known_services" | "known_certs" => {
            ecs.host_ip = obj.get("host").and_then(json_ip);
        }
        _ => {}
    }
    ecs.file_hash_md5 = s(obj.get("md5")).map(|h| h.to_ascii_lowercase());
    ecs.file_hash_sha1 = s(obj.get("sha1")).map(|h| h.to_ascii_lowercase());
    ecs.file_hash_sha256 = s(obj.get("sha256")).map(|h| h.to_ascii_lowercase());
    if ecs.user_name.is_none() {
        // ntlm/ftp/socks: username, smb: user? kerberos: client (user/REALM), rdp: cookie.
        ecs.user_name = ["username", "user", "client", "cookie"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(json_str))
            .map(|u| u.split('/').next().unwrap_or(u).to_string())
            .filter(|u| !u.is_empty());
    }
    if let Some(domain) = obj.get("domainname").and_then(json_str) {
        ecs.user_domain = Some(domain.to_string());
    }
    for key in ["server_name", "host_name", "hostname"] {
        if let Some(h) = obj.get(key).and_then(json_str) {
            ecs.related.add_host(h);
        }
    }
    ecs.fill_related();
    (timestamp, ecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(line: &str, file: Option<&str>) -> Decoded {
        let opts = DecoderOptions {
            file_name: file.map(str::to_string),
            ..Default::default()
        };
        ZeekDecoder::new(&opts)
            .decode(line.as_bytes())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn key_styles_give_the_same_ecs() {
        let dotted = decode(
            r#"{"_path":"dns","ts":"2020-04-30T00:06:39.824370Z","uid":"C1","id.orig_h":"10.0.1.6","id.orig_p":54243,"id.resp_h":"10.0.0.4","id.resp_p":53,"proto":"udp","query":"example.com"}"#,
            None,
        );
        let underscored = decode(
            r#"{"@stream":"dns","ts":1588205199.82437,"uid":"C1","id_orig_h":"10.0.1.6","id_orig_p":54243,"id_resp_h":"10.0.0.4","id_resp_p":53,"proto":"udp","query":"example.com"}"#,
            None,
        );
        let nested = decode(
            r#"{"ts":1588205199.82437,"uid":"C1","id":{"orig_h":"10.0.1.6","orig_p":54243,"resp_h":"10.0.0.4","resp_p":53},"proto":"udp","query":"example.com"}"#,
            Some("/logs/dns.json.gz"),
        );
        assert_eq!(dotted.ecs, underscored.ecs);
        assert_eq!(dotted.ecs, nested.ecs);
        assert_eq!(dotted.timestamp, underscored.timestamp);
        assert_eq!(dotted.dataset.as_str(), "zeek.dns");
        assert_eq!(nested.dataset.as_str(), "zeek.dns");
        assert_eq!(dotted.ecs.dns_question_name.as_deref(), Some("example.com"));
        assert_eq!(dotted.ecs.source_port, Some(54243));
    }

    #[test]
    fn http_and_kerberos() {
        let d = decode(
            r#"{"_path":"http","ts":1.5e9,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","method":"GET","host":"x.example","uri":"/a.php?cmd=id","status_code":200,"user_agent":"curl/7"}"#,
            None,
        );
        assert_eq!(
            d.ecs.url_full.as_deref(),
            Some("http://x.example/a.php?cmd=id")
        );
        assert_eq!(d.ecs.url_query.as_deref(), Some("cmd=id"));
        assert_eq!(d.ecs.http_response_status_code, Some(200));
        let d = decode(
            r#"{"_path":"kerberos","client":"alice/CORP.LOCAL","service":"krbtgt/CORP.LOCAL"}"#,
            None,
        );
        assert_eq!(d.ecs.user_name.as_deref(), Some("alice"));
        assert_eq!(
            log_from_file_name("http.00:00:00-01:00:00.log.gz").as_deref(),
            Some("http")
        );
    }
}
