//! Small parsing helpers shared by the decoders: timestamps, IPs, JSON scalars.

use std::borrow::Cow;
use std::net::IpAddr;

use canhgac_core::Ecs;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Text of a record: borrowed when it is UTF-8, with U+FFFD for invalid bytes otherwise.
pub(crate) fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u32 = 0;
    for &d in b {
        n = n.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(n)
}

/// Parses ISO 8601 / RFC 3339 timestamps as logs write them: `2019-04-27T15:57:25.8688632Z`,
/// `2015-03-29T11:01:38.221126-0600`, `2023-01-01 10:00:00+07:00`, `2023-01-01T10:00:00`
/// (no zone: `default_offset`). Any number of fraction digits (nanoseconds kept).
pub(crate) fn parse_iso(s: &str, default_offset: FixedOffset) -> Option<DateTime<Utc>> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let mut i = 19;
    let mut nanos: u32 = 0;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset = match &b[i..] {
        [] => default_offset,
        [b'Z' | b'z'] => FixedOffset::east_opt(0)?,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            let secs = (h * 3600 + m * 60) as i32;
            FixedOffset::east_opt(if *sign == b'-' { -secs } else { secs })?
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let naive = date.and_hms_nano_opt(hour, min, sec.min(59), nanos)?;
    local_to_utc(naive, offset)
}

pub(crate) fn local_to_utc(naive: NaiveDateTime, offset: FixedOffset) -> Option<DateTime<Utc>> {
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds since the epoch (fractions kept to the microsecond).
pub(crate) fn from_epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let micros = ((secs - whole) * 1e6).round() as u32;
    DateTime::from_timestamp(whole as i64, micros.min(999_999) * 1000)
}

/// A JSON timestamp: an ISO string (read in `zone_less` when it states no zone), epoch
/// seconds, or epoch milliseconds (numbers above 10^11, i.e. after 1973 in milliseconds).
pub(crate) fn json_time(v: &Value, zone_less: FixedOffset) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_iso(s, zone_less).or_else(|| {
            let n: f64 = s.trim().parse().ok()?;
            epoch_or_millis(n)
        }),
        Value::Number(n) => epoch_or_millis(n.as_f64()?),
        _ => None,
    }
}

fn epoch_or_millis(n: f64) -> Option<DateTime<Utc>> {
    if n.abs() > 1e11 {
        from_epoch(n / 1000.0)
    } else {
        from_epoch(n)
    }
}

pub(crate) fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset")
}

/// An IP address, tolerating `[v6]`, an IPv6 zone (`fe80::1%eth0`) and spaces. `-`, empty and
/// names are `None`.
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split('%').next().unwrap_or(s);
    if s.is_empty() || s == "-" {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn json_ip(v: &Value) -> Option<IpAddr> {
    v.as_str().and_then(ip)
}

/// A string field; `-` and empty strings are absent.
pub(crate) fn json_str(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty() && *s != "-")
}

/// A string or number field as a string.
pub(crate) fn json_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An unsigned integer from a number, a decimal string or a `0x` hex string.
pub(crate) fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => parse_u64(s),
        _ => None,
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

pub(crate) fn json_port(v: &Value) -> Option<u16> {
    json_u64(v).and_then(|n| u16::try_from(n).ok())
}

/// The last component of a Windows or Unix path.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Fills `file.hash.*` from `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` (Sysmon) or a bare hash
/// (by length).
pub(crate) fn fill_hashes(ecs: &mut Ecs, hashes: &str) {
    for part in hashes.split([',', ';', ' ']) {
        let (algo, value) = match part.split_once('=') {
            Some((a, v)) => (a.trim(), v.trim()),
            None => ("", part.trim()),
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let is = |name: &str| algo.eq_ignore_ascii_case(name);
        let slot = if is("md5") || (algo.is_empty() && value.len() == 32) {
            &mut ecs.file_hash_md5
        } else if is("sha1") || (algo.is_empty() && value.len() == 40) {
            &mut ecs.file_hash_sha1
        } else if is("sha256") || (algo.is_empty() && value.len() == 64) {
            &mut ecs.file_hash_sha256
        } else {
            // IMPHASH and others: related only.
            if !algo.is_empty() {
                ecs.related.add_hash(value);
            }
            continue;
        };
        if slot.is_none() {
            *slot = Some(value.to_ascii_lowercase());
        }
    }
}

/// A key of a small JSON object, found by a linear scan: cheaper than the hashed lookup of
/// `Value::get` for the few keys of `#attributes`, `Provider`, `TimeCreated` and the like.
pub(crate) fn small_get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// `DOMAIN\user` → (`user`, `DOMAIN`); `user@domain` stays whole.
pub(crate) fn split_domain_user(s: &str) -> (&str, Option<&str>) {
    match s.split_once('\\') {
        Some((d, u)) if !u.is_empty() => (u, Some(d).filter(|d| !d.is_empty())),
        _ => (s, None),
    }
}

/// Splits a URL or request target into (path, query).
pub(crate) fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// The host of an absolute URL (`http://host:port/…`), lowercased by the caller if needed.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next()?.trim_start_matches('[')
    } else {
        host.split(':').next()?
    };
    Some(host).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_variants() {
        let t =
            |s| parse_iso(s, utc()).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        assert_eq!(
            t("2019-04-27T15:57:25.8688632Z").unwrap(),
            "2019-04-27T15:57:25.868863200Z"
        );
        assert_eq!(
            t("2015-03-29T11:01:38.221126-0600").unwrap(),
            "2015-03-29T17:01:38.221126000Z"
        );
        assert_eq!(
            t("2023-01-01 10:00:00+07:00").unwrap(),
            "2023-01-01T03:00:00.000000000Z"
        );
        assert_eq!(
            t("2023-01-01T10:00:00").unwrap(),
            "2023-01-01T10:00:00.000000000Z"
        );
        assert!(t("2023-13-01T10:00:00Z").is_none());
        assert!(t("not a time at all!!").is_none());
        assert!(t("2023-01-01T10:00:00.Z").is_none());
    }

    #[test]
    fn epoch_and_json() {
        assert_eq!(
            json_time(&serde_json::json!(1588205199.82437), utc())
                .unwrap()
                .to_rfc3339(),
            "2020-04-30T00:06:39.824370+00:00"
        );
        assert_eq!(
            json_time(&serde_json::json!(1588205199824_i64), utc())
                .unwrap()
                .timestamp(),
            1588205199
        );
    }

    #[test]
    fn hashes_and_ips() {
        let mut ecs = Ecs::default();
        fill_hashes(&mut ecs, "SHA1=AA11AA11AA11AA11AA11AA11AA11AA11AA11AA11,MD5=0123456789ABCDEF0123456789ABCDEF,IMPHASH=FF00FF00FF00FF00FF00FF00FF00FF00");
        assert_eq!(
            ecs.file_hash_md5.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            ecs.file_hash_sha1.as_deref(),
            Some("aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11")
        );
        assert_eq!(
            ecs.related.hash,
            vec!["ff00ff00ff00ff00ff00ff00ff00ff00".to_string()]
        );
        assert_eq!(ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(ip("-"), None);
        assert_eq!(
            url_host("http://user@Example.com:8080/a?b"),
            Some("Example.com")
        );
        assert_eq!(
            split_domain_user("NT AUTHORITY\\SYSTEM"),
            ("SYSTEM", Some("NT AUTHORITY"))
        );
    }
}
