//! Typed modifiers: `re` (with `i`/`m`/`s`), `cidr`, `lt`/`lte`/`gt`/`gte`, and the time
//! parts `minute`/`hour`/`day`/`week`/`month`/`year`.

use chrono::{Datelike, NaiveDateTime, Timelike};
use ipnet::IpNet;

use crate::error::Reject;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TimePart {
    /// Extracts the part from a timestamp text (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]`).
    pub fn extract(self, text: &[u8]) -> Option<f64> {
        let s = std::str::from_utf8(text).ok()?.trim();
        let dt: NaiveDateTime = match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(d) => d.naive_utc(),
            Err(_) => [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })?,
        };
        Some(match self {
            TimePart::Minute => dt.minute() as f64,
            TimePart::Hour => dt.hour() as f64,
            TimePart::Day => dt.day() as f64,
            TimePart::Week => dt.iso_week().week() as f64,
            TimePart::Month => dt.month() as f64,
            TimePart::Year => dt.year() as f64,
        })
    }
}

/// Parses a number as event values and rule values are compared (`4688`, `-1.5`, `0x10`).
pub fn parse_number(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Compiles a `re` value with its flags. Matching runs on the original (not case-folded)
/// bytes, so the pattern is case-sensitive unless `i` is given.
///
/// Classes and word boundaries are ASCII, as in PCRE without UTF mode (what Sigma's regular
/// expressions are written for): `\w`, `\d`, `\s` and `\b` then compile to plain byte
/// automata, which the lazy DFA runs in one pass instead of falling back to backtracking on
/// every value that holds a non-ASCII character. A pattern that needs Unicode (a `\p{…}`
/// class, a non-ASCII literal in a class) compiles with Unicode semantics.
pub fn compile_regex(
    pattern: &str,
    i: bool,
    m: bool,
    s: bool,
) -> Result<regex::bytes::Regex, Reject> {
    let build = |unicode: bool| {
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(unicode)
            .case_insensitive(i)
            .multi_line(m)
            .dot_matches_new_line(s)
            .size_limit(8 << 20)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| Reject::Regex {
            pattern: pattern.to_string(),
            message: e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string(),
        })
}

/// Parses a `cidr` value; a bare address is a host network.
pub fn parse_cidr(text: &str) -> Result<IpNet, Reject> {
    let t = text.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| Reject::Modifier {
            modifier: "cidr".into(),
            message: format!("`{t}` is not a network"),
        })
}

/// Parses an event value as an IP address (brackets and an IPv6 zone are tolerated).
pub fn parse_ip(text: &[u8]) -> Option<std::net::IpAddr> {
    let s = std::str::from_utf8(text)
        .ok()?
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let s = s.split('%').next().unwrap_or(s);
    s.parse().ok()
}

/// Literals one of which every match of the regex contains (its possible prefixes, or
/// suffixes when those are longer), case-folded; `None` when the regex has no such finite set
/// (for example `.*`), or one of them is shorter than two bytes.
pub fn regex_literals(pattern: &str, i: bool, m: bool, s: bool) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .build()
        .parse(pattern)
        .ok()?;
    let mut best: Option<Vec<Vec<u8>>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut ex = Extractor::new();
        ex.kind(kind).limit_total(256);
        let seq = ex.extract(&hir);
        let Some(lits) = seq.literals() else { continue };
        if lits.is_empty() || lits.iter().any(|l| l.as_bytes().len() < 2) {
            continue;
        }
        let mut folded: Vec<Vec<u8>> = lits
            .iter()
            .map(|l| {
                let mut f = Vec::with_capacity(l.as_bytes().len());
                super::string::fold_into(l.as_bytes(), &mut f);
                f
            })
            .collect();
        folded.sort();
        folded.dedup();
        let min = |v: &Vec<Vec<u8>>| v.iter().map(Vec::len).min().unwrap_or(0);
        if best.as_ref().is_none_or(|b| min(&folded) > min(b)) {
            best = Some(folded);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_parts() {
        let t = b"2026-07-17T14:18:34.072213Z";
        assert_eq!(TimePart::Hour.extract(t), Some(14.0));
        assert_eq!(TimePart::Minute.extract(t), Some(18.0));
        assert_eq!(TimePart::Day.extract(t), Some(17.0));
        assert_eq!(TimePart::Month.extract(t), Some(7.0));
        assert_eq!(TimePart::Year.extract(t), Some(2026.0));
        assert_eq!(TimePart::Week.extract(t), Some(29.0));
        assert_eq!(TimePart::Hour.extract(b"2022-01-02 03:04:05"), Some(3.0));
        assert_eq!(TimePart::Hour.extract(b"nope"), None);
    }

    #[test]
    fn regex_literal_prefilter() {
        let l = regex_literals("abc[0-9]+", false, false, false).unwrap();
        assert!(l.iter().all(|x| x.starts_with(b"abc")), "{l:?}");
        let l = regex_literals("(?:Foo|bar)x", true, false, false).unwrap();
        assert!(
            l.iter().all(|x| x.iter().all(|b| !b.is_ascii_uppercase())),
            "{l:?}"
        );
        assert_eq!(regex_literals(".*", false, false, false), None);
        assert_eq!(regex_literals("[a-z]+", false, false, false), None);
    }

    #[test]
    fn numbers_and_ips() {
        assert_eq!(parse_number(b"4688"), Some(4688.0));
        assert_eq!(parse_number(b"0x10"), Some(16.0));
        assert_eq!(parse_number(b"abc"), None);
        assert!(parse_cidr("10.0.0.0/8")
            .unwrap()
            .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_cidr("::1").is_ok());
        assert!(parse_cidr("x").is_err());
        assert_eq!(parse_ip(b"[fe80::1%eth0]"), "fe80::1".parse().ok());
    }
}
