//! The ECS fields the IOC lists read ([`super::IocSet::matches_fields`]), borrowed: from an
//! [`Ecs`], or decoded from a payload's `ecs` text without allocating a string.
//!
//! Decoding the whole `Ecs` into owned strings cost the detect worker 8.6k instructions per
//! event (callgrind, `measure`'s `event` pass), as much as a fifth of the Sigma engine; this view
//! skips every field the lists do not read and borrows the others. A string holding an escape
//! cannot be borrowed: [`IocFields::decode`] then falls back to the owned `Ecs`.

use std::borrow::Cow;
use std::net::IpAddr;

use canhgac_core::event::{Attachment, Ecs};
use serde::{Deserialize, Deserializer};

/// What the IOC lists read of an event; the names are `Ecs`'s.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IocFields<'a> {
    #[serde(rename = "source.ip", default)]
    pub source_ip: Option<IpAddr>,
    #[serde(rename = "source.port", default)]
    pub source_port: Option<u16>,
    #[serde(rename = "destination.ip", default)]
    pub destination_ip: Option<IpAddr>,
    #[serde(rename = "destination.port", default)]
    pub destination_port: Option<u16>,
    #[serde(rename = "host.ip", default)]
    pub host_ip: Option<IpAddr>,
    #[serde(rename = "dns.question.name", default, borrow)]
    pub dns_question_name: Option<&'a str>,
    #[serde(rename = "url.domain", default, borrow)]
    pub url_domain: Option<&'a str>,
    #[serde(rename = "tls.server.sni", default, borrow)]
    pub tls_sni: Option<&'a str>,
    #[serde(rename = "url.full", default, borrow)]
    pub url_full: Option<&'a str>,
    #[serde(rename = "url.path", default, borrow)]
    pub url_path: Option<&'a str>,
    #[serde(rename = "file.hash.md5", default, borrow)]
    pub file_hash_md5: Option<&'a str>,
    #[serde(rename = "file.hash.sha1", default, borrow)]
    pub file_hash_sha1: Option<&'a str>,
    #[serde(rename = "file.hash.sha256", default, borrow)]
    pub file_hash_sha256: Option<&'a str>,
    #[serde(rename = "email.from.address", default, borrow)]
    pub email_from: Option<&'a str>,
    #[serde(rename = "email.attachments", default, borrow)]
    pub email_attachments: Attachments<'a>,
    #[serde(default, borrow)]
    pub related: RelatedFields<'a>,
}

/// The hashes of a mail attachment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct AttachmentHashes<'a> {
    pub md5: &'a str,
    pub sha1: &'a str,
    pub sha256: &'a str,
}

/// `related.*` without `related.user`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RelatedFields<'a> {
    #[serde(default, borrow)]
    pub ip: Cow<'a, [IpAddr]>,
    #[serde(default, borrow)]
    pub hosts: Strs<'a>,
    #[serde(default, borrow)]
    pub hash: Strs<'a>,
    #[serde(default, borrow)]
    pub url: Strs<'a>,
}

/// A list the IOC lists read: an `Ecs`'s own items, viewed one by one (viewing an `Ecs`
/// allocates nothing: the IOC lists' no-match path allocates nothing), or the views decoded
/// from JSON text, borrowed from it.
#[derive(Debug, Clone)]
pub enum Listed<'a, O, V> {
    Ecs(&'a [O]),
    Text(Vec<V>),
}

/// `related.hosts`, `related.hash`, `related.url`.
pub type Strs<'a> = Listed<'a, String, &'a str>;

/// The attachments of a mail, as their hashes.
pub type Attachments<'a> = Listed<'a, Attachment, AttachmentHashes<'a>>;

/// How the IOC lists view an item of an `Ecs` list.
pub trait ViewOf<'a, O>: Copy {
    fn view(item: &'a O) -> Self;
}

impl<'a> ViewOf<'a, String> for &'a str {
    fn view(item: &'a String) -> Self {
        item
    }
}

impl<'a> ViewOf<'a, Attachment> for AttachmentHashes<'a> {
    fn view(a: &'a Attachment) -> Self {
        AttachmentHashes {
            md5: &a.md5,
            sha1: &a.sha1,
            sha256: &a.sha256,
        }
    }
}

impl<'a, O, V: ViewOf<'a, O>> Listed<'a, O, V> {
    pub fn iter(&self) -> impl Iterator<Item = V> + use<'_, 'a, O, V> {
        let (ecs, text): (&'a [O], &[V]) = match self {
            Listed::Ecs(v) => (v, &[]),
            Listed::Text(v) => (&[], v),
        };
        ecs.iter().map(V::view).chain(text.iter().copied())
    }
}

impl<O, V> Default for Listed<'_, O, V> {
    fn default() -> Self {
        Listed::Text(Vec::new())
    }
}

impl<'a, O, V: ViewOf<'a, O> + PartialEq> PartialEq for Listed<'a, O, V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'de: 'a, 'a, O, V: Deserialize<'de>> Deserialize<'de> for Listed<'a, O, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<V>::deserialize(d).map(Listed::Text)
    }
}

impl<'a> IocFields<'a> {
    /// Decodes the fields from an `ecs` object's JSON text; `owned` holds the decoded `Ecs`
    /// when a string cannot be borrowed (it holds an escape). Errs as decoding an `Ecs` does.
    pub fn decode(text: &'a str, owned: &'a mut Option<Ecs>) -> Result<Self, serde_json::Error> {
        match serde_json::from_str(text) {
            Ok(fields) => Ok(fields),
            Err(_) => Ok(Self::from(&*owned.insert(serde_json::from_str(text)?))),
        }
    }
}

impl<'a> From<&'a Ecs> for IocFields<'a> {
    fn from(e: &'a Ecs) -> Self {
        IocFields {
            source_ip: e.source_ip,
            source_port: e.source_port,
            destination_ip: e.destination_ip,
            destination_port: e.destination_port,
            host_ip: e.host_ip,
            dns_question_name: e.dns_question_name.as_deref(),
            url_domain: e.url_domain.as_deref(),
            tls_sni: e.tls_sni.as_deref(),
            url_full: e.url_full.as_deref(),
            url_path: e.url_path.as_deref(),
            file_hash_md5: e.file_hash_md5.as_deref(),
            file_hash_sha1: e.file_hash_sha1.as_deref(),
            file_hash_sha256: e.file_hash_sha256.as_deref(),
            email_from: e.email_from.as_deref(),
            email_attachments: Attachments::Ecs(&e.email_attachments),
            related: RelatedFields {
                ip: Cow::Borrowed(&e.related.ip),
                hosts: Strs::Ecs(&e.related.hosts),
                hash: Strs::Ecs(&e.related.hash),
                url: Strs::Ecs(&e.related.url),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::event::Related;

    fn full() -> Ecs {
        let mut e = Ecs {
            source_ip: Some("10.1.2.3".parse().unwrap()),
            source_port: Some(4444),
            destination_ip: Some("2001:db8::1".parse().unwrap()),
            destination_port: Some(443),
            host_ip: Some("192.0.2.7".parse().unwrap()),
            dns_question_name: Some("evil.example".into()),
            url_domain: Some("phish.example".into()),
            tls_sni: Some("c2.example".into()),
            url_full: Some("http://phish.example/login?u=1".into()),
            url_path: Some("/login".into()),
            file_hash_md5: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            file_hash_sha1: Some("da39a3ee5e6b4b0d3255bfef95601890afd80709".into()),
            file_hash_sha256: Some(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            ),
            email_from: Some("a@phish.example".into()),
            email_attachments: vec![Attachment {
                name: Some("invoice.js".into()),
                mime_type: None,
                size: 10,
                md5: "m".into(),
                sha1: "s".into(),
                sha256: "t".into(),
            }],
            host_name: Some("ws01".into()),
            user_name: Some("alice".into()),
            process_command_line: Some("cmd /c \"whoami\"".into()),
            ..Default::default()
        };
        e.related = Related {
            ip: vec!["198.51.100.9".parse().unwrap()],
            hosts: vec!["other.example".into()],
            hash: vec!["abc".into()],
            user: vec!["bob".into()],
            url: vec!["http://other.example/x".into()],
        };
        e
    }

    /// The view restates `Ecs`'s serde names: decoded from a serialized `Ecs` it equals the
    /// view of that `Ecs`.
    #[test]
    fn decoded_from_text_equals_the_view_of_the_decoded_ecs() {
        let ecs = full();
        let text = serde_json::to_string(&ecs).unwrap();
        let mut owned = None;
        let fields = IocFields::decode(&text, &mut owned).expect("decodes");
        let name = fields.dns_question_name.expect("set");
        assert!(
            text.as_bytes().as_ptr_range().contains(&name.as_ptr()),
            "nothing to unescape: borrowed from the text"
        );
        assert_eq!(fields, IocFields::from(&ecs));
        // Every field of the view is set in `full`, so a name `Ecs` does not write fails here.
        assert!(fields.source_ip.is_some() && fields.email_from.is_some());
    }

    #[test]
    fn escaped_strings_fall_back_to_the_owned_ecs_and_bad_ones_err() {
        let mut ecs = full();
        ecs.dns_question_name = Some("evil\\example\u{e9}".into());
        let text = serde_json::to_string(&ecs).unwrap();
        assert!(text.contains("\\\\"), "{text}");
        let mut owned = None;
        let fields = IocFields::decode(&text, &mut owned).expect("decodes");
        assert_eq!(fields.dns_question_name, Some("evil\\example\u{e9}"));
        let mut owned2 = None;
        assert!(IocFields::decode(r#"{"source.ip": "not an ip"}"#, &mut owned2).is_err());
        let mut owned3 = None;
        assert!(IocFields::decode(r#"{"source.ip": 1"#, &mut owned3).is_err());
    }

    /// The envelope reader takes the same view on its way through a payload, or leaves the
    /// object to `IocFields::decode` when it is unsure.
    #[test]
    fn the_envelope_reader_takes_the_same_view_or_leaves_it_to_serde() {
        let mut event = canhgac_sigma::testsuite::record_to_event(
            serde_json::json!({"a": 1}),
            "f",
            0,
            b"r",
            "2024-01-01T00:00:00Z".parse().unwrap(),
        );
        event.ecs = full();
        let payload = serde_json::to_string(&event).unwrap();
        let ecs_text = serde_json::to_string(&event.ecs).unwrap();
        let check = |payload: &str, taken: bool| {
            let head = crate::envelope::read(payload).expect("a payload");
            let text = head.ecs.expect("an ecs member");
            let mut owned = None;
            let want = IocFields::decode(text, &mut owned);
            match (&head.ioc, want) {
                (Some(got), Ok(want)) => assert_eq!(got, &want, "{payload}"),
                (None, _) => assert!(!taken, "the reader left it: {payload}"),
                (Some(_), Err(e)) => panic!("taken, but serde_json rejects it ({e}): {payload}"),
            }
            if taken {
                assert!(head.ioc.is_some(), "{payload}");
            }
        };
        check(&payload, true);
        assert_eq!(
            crate::envelope::read(&payload).unwrap().ioc.unwrap(),
            IocFields::from(&event.ecs)
        );
        let edit = |from: &str, to: &str| {
            assert!(payload.contains(from), "{from}");
            payload.replacen(from, to, 1)
        };
        for (p, taken) in [
            (
                edit(r#""source.ip":"10.1.2.3""#, r#""source.ip":null"#),
                true,
            ),
            (
                edit(
                    r#""source.port":4444"#,
                    r#""source.port":null,"x":[1,{"y":"\n"}]"#,
                ),
                true,
            ),
            (
                edit(
                    r#""dns.question.name":"evil.example""#,
                    r#""dns.question.name":"evil\u002eexample""#,
                ),
                false,
            ),
            (
                edit(r#""source.ip":"10.1.2.3""#, r#""source.ip":"10.1.2.300""#),
                false,
            ),
            (
                edit(r#""source.port":4444"#, r#""source.port":70000"#),
                false,
            ),
            (
                edit(r#""source.port":4444"#, r#""source.port":"4444""#),
                false,
            ),
            (
                edit(
                    r#""url.domain":"phish.example""#,
                    r#""url.domain":"phish.example","url.domain":"x""#,
                ),
                false,
            ),
            (edit(r#""md5":"m","#, ""), false),
            (
                edit(r#""hosts":["other.example"]"#, r#""hosts":null"#),
                false,
            ),
            (
                edit(
                    r#""hosts":["other.example"]"#,
                    r#""hosts":[],"user":["a\"b"]"#,
                ),
                true,
            ),
        ] {
            check(&p, taken);
        }
        assert!(ecs_text.contains("related"), "{ecs_text}");
    }
}
