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
    /// For an ISO `ts` written without a zone (Zeek writes epoch seconds or UTC).
    local_offset: chrono::FixedOffset,
}

impl ZeekDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        ZeekDecoder {
            file_log: opts.file_name.as_deref().and_then(log_from_file_name),
            local_offset: opts.local_offset,
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
        let z = collect(obj);
        let log = z
            .log
            .and_then(json_str)
            .or(self.file_log.as_deref())
            .unwrap_or("unknown");
        let dataset = Dataset::zeek(log);
        let (timestamp, ecs) = map(&z, log, self.local_offset);
        Ok(Some(Decoded {
            dataset,
            timestamp,
            ecs,
            original,
        }))
    }
}

/// The fields the ECS mapping reads, gathered in one pass over the record (no hashed lookup
/// per candidate key). `id.orig_h`, `id_orig_h` and `{"id":{"orig_h"}}` all land in `orig_h`.
#[derive(Default)]
struct Z<'a> {
    log: Option<&'a Value>,
    ts: Option<&'a Value>,
    orig_h: Option<&'a Value>,
    orig_p: Option<&'a Value>,
    resp_h: Option<&'a Value>,
    resp_p: Option<&'a Value>,
    proto: Option<&'a Value>,
    service: Option<&'a Value>,
    msg: Option<&'a Value>,
    query: Option<&'a Value>,
    host: Option<&'a Value>,
    uri: Option<&'a Value>,
    method: Option<&'a Value>,
    status_code: Option<&'a Value>,
    response_body_len: Option<&'a Value>,
    referrer: Option<&'a Value>,
    user_agent: Option<&'a Value>,
    username: Option<&'a Value>,
    user: Option<&'a Value>,
    client: Option<&'a Value>,
    cookie: Option<&'a Value>,
    server_name: Option<&'a Value>,
    filename: Option<&'a Value>,
    name: Option<&'a Value>,
    path: Option<&'a Value>,
    note: Option<&'a Value>,
    mailfrom: Option<&'a Value>,
    from: Option<&'a Value>,
    rcptto: Option<&'a Value>,
    subject: Option<&'a Value>,
    msg_id: Option<&'a Value>,
    md5: Option<&'a Value>,
    sha1: Option<&'a Value>,
    sha256: Option<&'a Value>,
    domainname: Option<&'a Value>,
    host_name: Option<&'a Value>,
    hostname: Option<&'a Value>,
}

fn conn_id<'a>(z: &mut Z<'a>, key: &str, v: &'a Value) {
    match key {
        "orig_h" => z.orig_h = Some(v),
        "orig_p" => z.orig_p = Some(v),
        "resp_h" => z.resp_h = Some(v),
        "resp_p" => z.resp_p = Some(v),
        _ => {}
    }
}

fn collect(obj: &Map<String, Value>) -> Z<'_> {
    let mut z = Z::default();
    for (k, v) in obj {
        match k.as_str() {
            "_path" | "@stream" => {
                z.log.get_or_insert(v);
            }
            "id" => {
                if let Value::Object(id) = v {
                    for (k2, v2) in id {
                        conn_id(&mut z, k2, v2);
                    }
                }
            }
            "ts" => z.ts = Some(v),
            "proto" => z.proto = Some(v),
            "service" => z.service = Some(v),
            "msg" => z.msg = Some(v),
            "query" => z.query = Some(v),
            "host" => z.host = Some(v),
            "uri" => z.uri = Some(v),
            "method" => z.method = Some(v),
            "status_code" => z.status_code = Some(v),
            "response_body_len" => z.response_body_len = Some(v),
            "referrer" => z.referrer = Some(v),
            "user_agent" => z.user_agent = Some(v),
            "username" => z.username = Some(v),
            "user" => z.user = Some(v),
            "client" => z.client = Some(v),
            "cookie" => z.cookie = Some(v),
            "server_name" => z.server_name = Some(v),
            "filename" => z.filename = Some(v),
            "name" => z.name = Some(v),
            "path" => z.path = Some(v),
            "note" => z.note = Some(v),
            "mailfrom" => z.mailfrom = Some(v),
            "from" => z.from = Some(v),
            "rcptto" => z.rcptto = Some(v),
            "subject" => z.subject = Some(v),
            "msg_id" => z.msg_id = Some(v),
            "md5" => z.md5 = Some(v),
            "sha1" => z.sha1 = Some(v),
            "sha256" => z.sha256 = Some(v),
            "domainname" => z.domainname = Some(v),
            "host_name" => z.host_name = Some(v),
            "hostname" => z.hostname = Some(v),
            other => {
                if let Some(rest) = other
                    .strip_prefix("id.")
                    .or_else(|| other.strip_prefix("id_"))
                {
                    conn_id(&mut z, rest, v);
                }
            }
        }
    }
    z
}

fn s(v: Option<&Value>) -> Option<String> {
    v.and_then(json_str).map(str::to_string)
}

fn hash(v: Option<&Value>) -> Option<String> {
    v.and_then(json_str).map(str::to_ascii_lowercase)
}

fn map(
    z: &Z<'_>,
    log: &str,
    local_offset: chrono::FixedOffset,
) -> (Option<chrono::DateTime<chrono::Utc>>, Ecs) {
    let mut ecs = Ecs::default();
    let timestamp = z.ts.and_then(|t| json_time(t, local_offset));
    ecs.source_ip = z.orig_h.and_then(json_ip);
    ecs.source_port = z.orig_p.and_then(json_port);
    ecs.destination_ip = z.resp_h.and_then(json_ip);
    ecs.destination_port = z.resp_p.and_then(json_port);
    ecs.network_transport = z.proto.and_then(json_str).map(str::to_ascii_lowercase);
    // `service` is the application protocol in conn (`gssapi,smb,krb`) and known_services,
    // but a principal in kerberos.
    if matches!(log, "conn" | "known_services") {
        ecs.network_protocol = match z.service {
            Some(Value::Array(a)) => a.first().and_then(json_str).map(str::to_ascii_lowercase),
            other => s(other).map(|p| p.split(',').next().unwrap_or(&p).to_ascii_lowercase()),
        };
    }
    ecs.message = s(z.msg);
    match log {
        "dns" => ecs.dns_question_name = s(z.query),
        "http" => {
            let host = z.host.and_then(json_str);
            if let Some(uri) = z.uri.and_then(json_str) {
                let (path, query) = split_query(uri);
                ecs.url_path = Some(path.to_string());
                ecs.url_query = query.map(str::to_string);
                ecs.url_full = Some(match host {
                    Some(h) if uri.starts_with('/') => format!("http://{h}{uri}"),
                    _ => uri.to_string(),
                });
            }
            ecs.url_domain = host.map(str::to_string);
            ecs.http_request_method = s(z.method);
            ecs.http_response_status_code = z.status_code.and_then(json_port);
            ecs.http_response_bytes = z.response_body_len.and_then(json_u64);
            ecs.http_referrer = s(z.referrer);
            ecs.user_agent = s(z.user_agent);
            ecs.user_name = s(z.username);
        }
        "ssl" => ecs.tls_sni = s(z.server_name),
        "files" | "pe" | "smb_files" => {
            if let Some(name) = z.filename.or(z.name).and_then(json_str) {
                ecs.file_name = Some(super::util::basename(name).to_string());
            }
            ecs.file_path = s(z.path);
        }
        "notice" => ecs.rule_name = s(z.note),
        "weird" => ecs.rule_name = s(z.name),
        "smtp" => {
            ecs.email_from = s(z.mailfrom).or_else(|| s(z.from));
            if let Some(to) = z.rcptto.and_then(Value::as_array) {
                ecs.email_to = to.iter().filter_map(json_str).map(str::to_string).collect();
            }
            ecs.email_subject = s(z.subject);
            ecs.email_message_id = s(z.msg_id);
            ecs.user_agent = s(z.user_agent);
        }
        "known_hosts" | "software" | "known_services" | "known_certs" => {
            ecs.host_ip = z.host.and_then(json_ip);
        }
        _ => {}
    }
    ecs.file_hash_md5 = hash(z.md5);
    ecs.file_hash_sha1 = hash(z.sha1);
    ecs.file_hash_sha256 = hash(z.sha256);
    if ecs.user_name.is_none() {
        // ntlm/ftp/socks: username; kerberos: client (user/REALM); rdp: cookie.
        ecs.user_name = [z.username, z.user, z.client, z.cookie]
            .into_iter()
            .find_map(|v| v.and_then(json_str))
            .map(|u| u.split('/').next().unwrap_or(u).to_string())
            .filter(|u| !u.is_empty());
    }
    ecs.user_domain = s(z.domainname);
    for h in [z.server_name, z.host_name, z.hostname]
        .into_iter()
        .flatten()
        .filter_map(json_str)
    {
        ecs.related.add_host(h);
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
