//! RFC 5322 mail (`.eml`, one message per file) via `mail-parser`. Dataset `email`.
//!
//! `original`: `from`, `to`, `cc`, `reply_to` (address lists), `subject`, `date` (RFC 3339),
//! `message_id`, `return_path`, `received` (the chain, top first, unfolded),
//! `authentication_results`, `headers` (every header, raw and unfolded, by name; repeated
//! headers as arrays), `parts` (content type, size, file name of every leaf MIME part), `urls`
//! (every URL in the text and HTML bodies, deduplicated, in order), `url_hosts` (their hosts),
//! `attachment_names` (flat, for rules), `attachments` (name, MIME
//! type, size, md5, sha1, sha256) and `size`.
//!
//! ECS: `email.from.address`, `email.to.address`, `email.subject`, `email.message_id`,
//! `email.attachments`, `source.ip` (the sending host: the earliest `Received: from` that
//! names an IP), `related.url` (every URL), `related.hosts` (their hosts), `related.hash`
//! (attachment hashes).

use std::collections::HashSet;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::Sha256;

use canhgac_core::{Attachment, Dataset, Ecs};

use super::util::url_host;
use super::{DecodeError, Decoded, Decoder, DecoderOptions};
use crate::format::Format;

/// Decoder for whole `.eml` messages.
#[derive(Debug)]
pub struct EmlDecoder {
    /// For a `Date` written without its zone (RFC 5322 requires one).
    local_offset: chrono::FixedOffset,
}

impl EmlDecoder {
    pub fn new(opts: &DecoderOptions) -> Self {
        EmlDecoder {
            local_offset: opts.local_offset,
        }
    }
}

impl Decoder for EmlDecoder {
    fn format(&self) -> Format {
        Format::Eml
    }

    fn decode(&mut self, record: &[u8]) -> Result<Option<Decoded>, DecodeError> {
        if record.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let msg = MessageParser::default()
            .parse(record)
            .ok_or_else(|| DecodeError::malformed("not an RFC 5322 message"))?;
        const KNOWN: [&str; 8] = [
            "from",
            "to",
            "subject",
            "date",
            "received",
            "message-id",
            "return-path",
            "content-type",
        ];
        let known = msg
            .headers_raw()
            .any(|(name, _)| KNOWN.iter().any(|k| name.eq_ignore_ascii_case(k)));
        if !known {
            return Err(DecodeError::malformed(
                "no mail headers (From, To, Subject, Received …)",
            ));
        }
        Ok(Some(decode_message(&msg, record.len(), self.local_offset)))
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn unfold(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strings(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// Whether a `Date` header ends with its time (`… 22:14:00`), stating no zone.
fn date_states_no_zone(raw: &str) -> bool {
    let last = raw.split_whitespace().last().unwrap_or("");
    let mut parts = last.split(':');
    let all_digits = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    matches!((parts.next(), parts.next()), (Some(h), Some(m)) if all_digits(h) && all_digits(m))
        && parts.all(all_digits)
}

fn decode_message(msg: &Message<'_>, size: usize, local_offset: chrono::FixedOffset) -> Decoded {
    let mut original = Map::new();
    let mut ecs = Ecs::default();

    let from = addresses(msg.from());
    let to = addresses(msg.to());
    ecs.email_from = from.first().cloned();
    ecs.email_to = to.clone();
    original.insert("from".into(), strings(from));
    original.insert("to".into(), strings(to));
    original.insert("cc".into(), strings(addresses(msg.cc())));
    original.insert("reply_to".into(), strings(addresses(msg.reply_to())));
    if let Some(subject) = msg.subject() {
        original.insert("subject".into(), Value::String(subject.to_string()));
        ecs.email_subject = Some(subject.to_string());
    }
    // mail-parser reads no Date without a zone: read it as UTC, then move it into the local
    // offset.
    let zone_less = msg
        .header_raw("Date")
        .filter(|raw| date_states_no_zone(raw))
        .and_then(|raw| mail_parser::DateTime::parse_rfc822(&format!("{} +0000", raw.trim())));
    let timestamp = match &zone_less {
        Some(d) => chrono::DateTime::from_timestamp(
            d.to_timestamp() - i64::from(local_offset.local_minus_utc()),
            0,
        ),
        None => msg
            .date()
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0)),
    };
    if let Some(d) = msg.date() {
        original.insert("date".into(), Value::String(d.to_rfc3339()));
    }
    if let Some(id) = msg.message_id() {
        original.insert("message_id".into(), Value::String(id.to_string()));
        ecs.email_message_id = Some(id.to_string());
    }
    if let Some(rp) = msg.return_address() {
        original.insert("return_path".into(), Value::String(rp.to_string()));
    }

    // Raw headers, unfolded; the Received chain and Authentication-Results separately.
    let mut headers = Map::new();
    let mut received = Vec::new();
    let mut auth_results = Vec::new();
    for (name, raw) in msg.headers_raw() {
        let value = unfold(raw);
        if name.eq_ignore_ascii_case("Received") {
            received.push(value.clone());
        } else if name.eq_ignore_ascii_case("Authentication-Results") {
            auth_results.push(value.clone());
        }
        match headers.get_mut(name) {
            Some(Value::Array(list)) => list.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                headers.insert(name.to_string(), Value::String(value));
            }
        }
    }
    original.insert("received".into(), strings(received));
    if !auth_results.is_empty() {
        original.insert("authentication_results".into(), strings(auth_results));
    }
    // The sending host: the bottom-most Received header that names an IP.
    ecs.source_ip = msg
        .headers()
        .iter()
        .rev()
        .filter_map(|h| match h.value() {
            HeaderValue::Received(r) => r.from_ip(),
            _ => None,
        })
        .next();

    let mut urls = Urls::default();
    let mut parts = Vec::new();
    collect_parts(msg, &mut urls, &mut parts, 0);
    let mut attachments = Vec::new();
    collect_attachments(msg, &mut attachments, 0);

    original.insert("parts".into(), Value::Array(parts));
    // Flat lists as well, for rules that cannot reach into arrays of objects.
    let mut hosts: Vec<String> = Vec::new();
    for u in &urls.list {
        if let Some(h) = url_host(u) {
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    original.insert("url_hosts".into(), strings(hosts));
    original.insert(
        "attachment_names".into(),
        strings(attachments.iter().filter_map(|a| a.name.clone()).collect()),
    );
    original.insert("urls".into(), strings(urls.list.clone()));
    original.insert(
        "attachments".into(),
        serde_json::to_value(&attachments).unwrap_or(Value::Array(Vec::new())),
    );
    original.insert("headers".into(), Value::Object(headers));
    original.insert("size".into(), size.into());

    for url in &urls.list {
        ecs.related.add_url(url);
        if let Some(h) = url_host(url) {
            ecs.related.add_host(h);
        }
    }
    ecs.email_attachments = attachments;
    ecs.fill_related();
    Decoded {
        dataset: Dataset::new(Dataset::EMAIL),
        timestamp,
        ecs,
        original: Value::Object(original),
    }
}

#[derive(Default)]
struct Urls {
    seen: HashSet<String>,
    list: Vec<String>,
}

impl Urls {
    fn scan(&mut self, text: &str, html: bool) {
        let mut finder = linkify::LinkFinder::new();
        finder.kinds(&[linkify::LinkKind::Url]);
        for link in finder.links(text) {
            let mut url = link.as_str().to_string();
            if html {
                url = url.replace("&amp;", "&");
            }
            if !url.contains("://") {
                continue;
            }
            if self.seen.insert(url.clone()) {
                self.list.push(url);
            }
        }
    }
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> Option<String> {
    part.content_type().map(|ct| match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
        None => ct.ctype().to_ascii_lowercase(),
    })
}

/// Leaf parts (with the URLs of text and HTML bodies), recursing into attached messages.
fn collect_parts(msg: &Message<'_>, urls: &mut Urls, parts: &mut Vec<Value>, depth: usize) {
    for part in &msg.parts {
        let mut info = Map::new();
        match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Text(t) => urls.scan(t, false),
            PartType::Html(t) => urls.scan(t, true),
            PartType::Message(inner) if depth < 3 => collect_parts(inner, urls, parts, depth + 1),
            _ => {}
        }
        let ct = content_type(part).unwrap_or_else(|| "text/plain".to_string());
        info.insert("content_type".into(), Value::String(ct));
        info.insert("size".into(), part.contents().len().into());
        if let Some(name) = part.attachment_name() {
            info.insert("name".into(), Value::String(name.to_string()));
        }
        parts.push(Value::Object(info));
    }
}

fn collect_attachments(msg: &Message<'_>, out: &mut Vec<Attachment>, depth: usize) {
    for part in msg.attachments() {
        let bytes = part.contents();
        out.push(Attachment {
            name: part.attachment_name().map(str::to_string),
            mime_type: content_type(part),
            size: bytes.len() as u64,
            md5: hex::encode(Md5::digest(bytes)),
            sha1: hex::encode(Sha1::digest(bytes)),
            sha256: hex::encode(Sha256::digest(bytes)),
        });
        if let PartType::Message(inner) = &part.body {
            if depth < 3 {
                collect_attachments(inner, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "Received: from mx.example.net (mx.example.net [203.0.113.5]) by mail.gov.vn with ESMTP; Tue, 19 Sep 2023 18:36:44 +0000\r\n\
From: \"Bank\" <alert@bank-secure.example>\r\nTo: victim@gov.vn, other@gov.vn\r\nSubject: =?UTF-8?B?VGjDtG5nIGLDoW8=?=\r\n\
Date: Tue, 19 Sep 2023 18:35:49 +0000\r\nMessage-ID: <abc@bank-secure.example>\r\nReturn-Path: <bounce@bank-secure.example>\r\n\
Authentication-Results: spf=fail smtp.mailfrom=bank-secure.example\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nLogin at https://bank-secure.example/login?id=1 now. Also http://evil.example/x.\r\n\
--b1\r\nContent-Type: text/html\r\n\r\n<a href=\"https://bank-secure.example/login?id=1&amp;t=2\">here</a> <a href=\"https://bank-secure.example/login?id=1\">dup</a>\r\n\
--b1\r\nContent-Type: application/octet-stream; name=\"invoice.exe\"\r\nContent-Disposition: attachment; filename=\"invoice.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b1--\r\n";

    #[test]
    fn headers_urls_and_attachments() {
        let d = EmlDecoder::new(&DecoderOptions::default())
            .decode(MAIL.as_bytes())
            .unwrap()
            .unwrap();
        let o = &d.original;
        assert_eq!(o["subject"], "Thông báo");
        assert_eq!(o["from"][0], "alert@bank-secure.example");
        assert_eq!(o["to"].as_array().unwrap().len(), 2);
        assert_eq!(o["return_path"], "bounce@bank-secure.example");
        assert_eq!(o["received"].as_array().unwrap().len(), 1);
        assert!(o["authentication_results"][0]
            .as_str()
            .unwrap()
            .contains("spf=fail"));
        assert_eq!(
            o["urls"],
            serde_json::json!([
                "https://bank-secure.example/login?id=1",
                "http://evil.example/x",
                "https://bank-secure.example/login?id=1&t=2"
            ])
        );
        assert_eq!(
            o["url_hosts"],
            serde_json::json!(["bank-secure.example", "evil.example"])
        );
        assert_eq!(o["attachment_names"], serde_json::json!(["invoice.exe"]));
        let a = &d.ecs.email_attachments[0];
        assert_eq!(a.name.as_deref(), Some("invoice.exe"));
        assert_eq!(a.size, 5);
        assert_eq!(a.md5, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.ecs.source_ip, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(
            d.ecs.email_message_id.as_deref(),
            Some("abc@bank-secure.example")
        );
        assert_eq!(
            d.timestamp.unwrap().to_rfc3339(),
            "2023-09-19T18:35:49+00:00"
        );
        assert!(d.ecs.related.hosts.contains(&"evil.example".to_string()));
        assert_eq!(d.ecs.related.hash.len(), 3);
        assert_eq!(d.dataset.as_str(), "email");
    }

    #[test]
    fn a_date_without_its_zone_is_local() {
        let mail = |date: &str| {
            format!(
                "From: a@x.example\r\nTo: b@gov.vn\r\nSubject: s\r\nDate: {date}\r\n\r\nbody\r\n"
            )
        };
        let at = |date: &str, opts: &DecoderOptions| {
            EmlDecoder::new(opts)
                .decode(mail(date).as_bytes())
                .unwrap()
                .unwrap()
                .timestamp
                .unwrap()
                .to_rfc3339()
        };
        let local = DecoderOptions::default();
        let utc = DecoderOptions::default().local_offset(super::super::util::utc());
        assert_eq!(
            at("Sun, 31 Dec 2023 22:14:00", &local),
            "2023-12-31T15:14:00+00:00"
        );
        assert_eq!(
            at("Sun, 31 Dec 2023 22:14", &local),
            "2023-12-31T15:14:00+00:00"
        );
        assert_eq!(
            at("Sun, 31 Dec 2023 22:14:00", &utc),
            "2023-12-31T22:14:00+00:00"
        );
        assert_eq!(
            at("Sun, 31 Dec 2023 22:14:00 +0000", &local),
            "2023-12-31T22:14:00+00:00"
        );
        assert_eq!(
            at("Sun, 31 Dec 2023 22:14:00 GMT", &local),
            "2023-12-31T22:14:00+00:00"
        );
    }

    #[test]
    fn not_mail() {
        assert!(EmlDecoder::new(&DecoderOptions::default())
            .decode(b"\x00\x01\x02 binary")
            .is_err());
        assert_eq!(
            EmlDecoder::new(&DecoderOptions::default())
                .decode(b"\n\n")
                .unwrap(),
            None
        );
    }
}
