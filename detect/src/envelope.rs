//! The head of a serialized Event (the detect worker's Kafka payload), read with the pull
//! parser of [`canhgac_sigma::flat::scan`] and without decoding the record it carries.
//!
//! serde_json spent more on a payload's envelope than the engine on its record: it scans the
//! whole `original` to keep it as a `RawValue`, decodes every ECS field into owned strings
//! and parses both timestamps. This reader walks the envelope once, keeps `original` and
//! `ecs` as the spans of text they are, parses `received` only, and checks the other members
//! for JSON validity and type (strings are strings, `source` an object). A payload it is
//! unsure of (duplicate or missing members, a `v` that is not a small integer, anything the
//! parser declines) it declines, and the caller lets serde_json decide. An event that produces
//! a detection is decoded whole, so every member of those is checked to the letter.

use std::borrow::Cow;

use canhgac_core::wire::{self, ecs};
use chrono::{DateTime, NaiveDate, Utc};

use crate::ioc::fields::{AttachmentHashes, Attachments, IocFields, RelatedFields, Strs};
use canhgac_sigma::flat::scan::Parser;
use canhgac_sigma::flat::{decline, Declined};

/// What the worker reads of a payload before it evaluates the record.
///
/// `original` comes last in a serialized `Event`, and the reader takes it without walking it
/// when every other required member came before it: its text then runs to the payload's
/// closing brace. Whether that text is one JSON value (whether `original` really was last) is
/// left to its reader, [`canhgac_sigma::Engine::eval_json`], which errs if not; [`Head::unchecked`]
/// says so, and the caller then reads the payload again the slow way.
#[derive(Debug, Clone, PartialEq)]
pub struct Head<'a> {
    /// `v`, the payload schema version.
    pub schema: u16,
    pub dataset: Cow<'a, str>,
    /// When the sensor read the event.
    pub received: DateTime<Utc>,
    /// The text of the `ecs` object, when the payload has one.
    pub ecs: Option<&'a str>,
    /// The ECS fields the IOC lists read, taken on the way; `None` when the reader left them
    /// to serde_json (a string with an escape, a value it is unsure of).
    pub ioc: Option<IocFields<'a>>,
    /// The text of the `original` record.
    pub original: &'a str,
    /// `original` was taken as the rest of the payload, not walked (see above).
    pub unchecked: bool,
}

/// The members of `core::Event` (its wire format's one owner, `canhgac_core::wire`); every one
/// but `ecs` is required. The member indexes matched below follow this order.
const MEMBERS: [&str; 10] = wire::EVENT_MEMBERS;
const ECS: u16 = 1 << 8;
const ALL: u16 = (1 << MEMBERS.len()) - 1;

/// Reads a payload's head; declines what serde_json should judge.
pub fn read(s: &str) -> Result<Head<'_>, Declined> {
    let mut p = Parser::new(s);
    let mut scratch = Vec::new();
    if p.peek()? != b'{' {
        return decline("not an object");
    }
    let (mut schema, mut dataset, mut received, mut ecs, mut original) =
        (None, None, None, None, None);
    let mut ioc = Some(IocFields::default());
    let mut seen = 0u16;
    let mut key = p.object_first()?;
    while let Some(k) = key {
        let member = MEMBERS.iter().position(|m| *m == k);
        if let Some(i) = member {
            if seen & (1 << i) != 0 {
                return decline("duplicate member");
            }
            seen |= 1 << i;
        }
        let first = p.peek()?;
        let start = p.pos();
        match (member, first) {
            (Some(0), _) => schema = Some(int(&mut p, &mut scratch, "`v` is not a u16")?),
            (Some(4 | 6), b'"') => {
                let text = match p.plain_str() {
                    Ok(plain) => Cow::Borrowed(plain),
                    Err(_) => {
                        p.rewind(start);
                        Cow::Owned(p.string_ref(&mut scratch)?.to_string())
                    }
                };
                if member == Some(4) {
                    dataset = Some(text);
                } else {
                    received = Some(utc(&text).ok_or_else(|| Declined("`received`".into()))?);
                }
            }
            (Some(9), _) if seen | ECS == ALL => {
                // Every other member came first: `original` is the rest of the object.
                let end = s.trim_end();
                let Some(rest) = end.strip_suffix('}') else {
                    return decline("not an object");
                };
                let (Some(schema), Some(dataset), Some(received)) = (schema, dataset, received)
                else {
                    return decline("a member is missing");
                };
                return Ok(Head {
                    schema,
                    dataset,
                    received,
                    ecs,
                    ioc,
                    original: rest[start..].trim_end(),
                    unchecked: true,
                });
            }
            (Some(8), b'{') => {
                ioc = ioc_fields(&mut p, &mut scratch).ok();
                if ioc.is_none() {
                    p.rewind(start);
                    p.skip_value(&mut scratch, 1)?;
                }
                ecs = Some(&s[start..p.pos()]);
            }
            (Some(1 | 2 | 3 | 5), b'"') | (Some(7), b'{') | (Some(8 | 9), _) | (None, _) => {
                p.skip_value(&mut scratch, 1)?;
                match member {
                    Some(8) => {
                        // Not an object: serde_json judges it when the IOC lists read it.
                        ioc = None;
                        ecs = Some(&s[start..p.pos()]);
                    }
                    Some(9) => original = Some(&s[start..p.pos()]),
                    _ => {}
                }
            }
            _ => return decline("a member of the wrong type"),
        }
        key = p.object_next()?;
    }
    p.end()?;
    if seen | ECS != ALL {
        return decline("a member is missing");
    }
    match (schema, dataset, received, original) {
        (Some(schema), Some(dataset), Some(received), Some(original)) => Ok(Head {
            schema,
            dataset,
            received,
            ecs,
            ioc,
            original,
            unchecked: false,
        }),
        _ => decline("a member is missing"),
    }
}

/// The IOC view of an `ecs` object (at its peeked `{`), strings borrowed from the text. What
/// serde_json would read differently or reject (escapes, duplicate or mistyped fields) is
/// declined, and [`IocFields::decode`] reads that object instead.
fn ioc_fields<'a>(p: &mut Parser<'a>, scratch: &mut Vec<u8>) -> Result<IocFields<'a>, Declined> {
    let mut f = IocFields::default();
    let mut seen = 0u32;
    let mut key = p.object_first()?;
    while let Some(k) = key {
        let Some(i) = IOC_FIELDS.iter().position(|n| *n == k) else {
            p.skip_value(scratch, 2)?;
            key = p.object_next()?;
            continue;
        };
        if seen & (1 << i) != 0 {
            return decline("duplicate field");
        }
        seen |= 1 << i;
        match i {
            0 => f.source_ip = opt(p, ip)?,
            1 => f.source_port = opt(p, |p| int(p, scratch, "not a port"))?,
            2 => f.destination_ip = opt(p, ip)?,
            3 => f.destination_port = opt(p, |p| int(p, scratch, "not a port"))?,
            4 => f.host_ip = opt(p, ip)?,
            5 => f.dns_question_name = opt(p, text)?,
            6 => f.url_domain = opt(p, text)?,
            7 => f.tls_sni = opt(p, text)?,
            8 => f.url_full = opt(p, text)?,
            9 => f.url_path = opt(p, text)?,
            10 => f.file_hash_md5 = opt(p, text)?,
            11 => f.file_hash_sha1 = opt(p, text)?,
            12 => f.file_hash_sha256 = opt(p, text)?,
            13 => f.email_from = opt(p, text)?,
            14 => f.email_attachments = Attachments::Text(attachments(p, scratch)?),
            _ => f.related = related(p, scratch)?,
        }
        key = p.object_next()?;
    }
    Ok(f)
}

/// The names `IocFields` reads, in the order `ioc_fields` matches them (from
/// `canhgac_core::wire::ecs`, the owner of the ECS names).
const IOC_FIELDS: [&str; 16] = [
    ecs::SOURCE_IP,
    ecs::SOURCE_PORT,
    ecs::DESTINATION_IP,
    ecs::DESTINATION_PORT,
    ecs::HOST_IP,
    ecs::DNS_QUESTION_NAME,
    ecs::URL_DOMAIN,
    ecs::TLS_SERVER_SNI,
    ecs::URL_FULL,
    ecs::URL_PATH,
    ecs::FILE_HASH_MD5,
    ecs::FILE_HASH_SHA1,
    ecs::FILE_HASH_SHA256,
    ecs::EMAIL_FROM_ADDRESS,
    ecs::EMAIL_ATTACHMENTS,
    ecs::RELATED,
];

/// `null` as `None`, anything else through `read`.
fn opt<'a, T>(
    p: &mut Parser<'a>,
    read: impl FnOnce(&mut Parser<'a>) -> Result<T, Declined>,
) -> Result<Option<T>, Declined> {
    if p.peek()? == b'n' {
        p.literal(b"null")?;
        return Ok(None);
    }
    read(p).map(Some)
}

/// A string without escapes, borrowed.
fn text<'a>(p: &mut Parser<'a>) -> Result<&'a str, Declined> {
    if p.peek()? != b'"' {
        return decline("not a string");
    }
    p.plain_str()
}

fn ip(p: &mut Parser<'_>) -> Result<std::net::IpAddr, Declined> {
    text(p)?.parse().or_else(|_| decline("not an IP address"))
}

/// An integer that fits `T`, else declined as `what`.
fn int<T: std::str::FromStr>(
    p: &mut Parser<'_>,
    scratch: &mut Vec<u8>,
    what: &str,
) -> Result<T, Declined> {
    scratch.clear();
    p.number_into(scratch)?;
    std::str::from_utf8(scratch)
        .ok()
        .and_then(|t| t.parse().ok())
        .map_or_else(|| decline(what), Ok)
}

/// An array (at its peeked `[`) of what `read` reads.
fn list<'a, T>(
    p: &mut Parser<'a>,
    mut read: impl FnMut(&mut Parser<'a>) -> Result<T, Declined>,
) -> Result<Vec<T>, Declined> {
    if p.peek()? != b'[' {
        return decline("not an array");
    }
    let mut out = Vec::new();
    let mut more = p.array_first()?;
    while more {
        out.push(read(p)?);
        more = p.array_next()?;
    }
    Ok(out)
}

fn related<'a>(p: &mut Parser<'a>, scratch: &mut Vec<u8>) -> Result<RelatedFields<'a>, Declined> {
    if p.peek()? != b'{' {
        return decline("not an object");
    }
    let mut r = RelatedFields::default();
    let mut seen = 0u8;
    let mut key = p.object_first()?;
    while let Some(k) = key {
        let i = ["ip", "hosts", "hash", "url"].iter().position(|n| *n == k);
        if let Some(i) = i {
            if seen & (1 << i) != 0 {
                return decline("duplicate field");
            }
            seen |= 1 << i;
        }
        match i {
            Some(0) => r.ip = Cow::Owned(list(p, ip)?),
            Some(1) => r.hosts = Strs::Text(list(p, text)?),
            Some(2) => r.hash = Strs::Text(list(p, text)?),
            Some(3) => r.url = Strs::Text(list(p, text)?),
            _ => p.skip_value(scratch, 3)?,
        }
        key = p.object_next()?;
    }
    Ok(r)
}

fn attachments<'a>(
    p: &mut Parser<'a>,
    scratch: &mut Vec<u8>,
) -> Result<Vec<AttachmentHashes<'a>>, Declined> {
    list(p, |p| {
        if p.peek()? != b'{' {
            return decline("not an object");
        }
        let mut h: [Option<&'a str>; 3] = [None; 3];
        let mut key = p.object_first()?;
        while let Some(k) = key {
            match ["md5", "sha1", "sha256"].iter().position(|n| *n == k) {
                Some(i) if h[i].is_some() => return decline("duplicate field"),
                Some(i) => h[i] = Some(text(p)?),
                None => p.skip_value(scratch, 4)?,
            }
            key = p.object_next()?;
        }
        match h {
            [Some(md5), Some(sha1), Some(sha256)] => Ok(AttachmentHashes { md5, sha1, sha256 }),
            _ => decline("a hash is missing"),
        }
    })
}

/// A timestamp as chrono writes one (`2022-04-01T12:34:56.123Z`, 0 to 9 fraction digits),
/// parsed without chrono's general parser; any other form goes through chrono's, which is
/// what serde uses for a `DateTime<Utc>`.
pub fn utc(t: &str) -> Option<DateTime<Utc>> {
    fast_utc(t).or_else(|| t.parse().ok())
}

fn fast_utc(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
    let n = b.len();
    if n < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[n - 1] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + (c - b'0') as u32)
        })
    };
    let nanos = match n - 20 {
        0 => 0,
        // `.` and one to nine digits.
        f @ 2..=10 if b[19] == b'.' => num(20..n - 1)? * 10u32.pow(10 - f as u32),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?
        .and_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)
        .map(|d| d.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_chrono_parses_them() {
        for t in [
            "2022-04-01T12:34:56Z",
            "2022-04-01T12:34:56.1Z",
            "2022-04-01T12:34:56.123Z",
            "2022-04-01T12:34:56.123456Z",
            "2022-04-01T12:34:56.123456789Z",
            "1999-12-31T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
        ] {
            let want: DateTime<Utc> = t.parse().expect("chrono parses it");
            assert_eq!(fast_utc(t), Some(want), "{t}");
            let written = serde_json::to_value(want).unwrap();
            let written = written.as_str().expect("a string");
            assert_eq!(fast_utc(written), Some(want), "chrono writes {written}");
        }
        // Other forms are chrono's to judge.
        for (t, ok) in [
            ("2022-04-01T12:34:56+07:00", true),
            ("2022-04-01 12:34:56Z", true),
            ("2022-04-01T12:34:56.1234567890Z", true),
            ("2023-02-29T00:00:00Z", false),
            ("2022-04-01T24:00:00Z", false),
            ("2022-04-01T12:34:5xZ", false),
            ("2022-04-01T12:34:56.Z", false),
            ("yesterday", false),
        ] {
            assert_eq!(fast_utc(t), None, "{t}");
            assert_eq!(utc(t), t.parse().ok(), "{t}");
            assert_eq!(utc(t).is_some(), ok, "{t}");
        }
    }
}
