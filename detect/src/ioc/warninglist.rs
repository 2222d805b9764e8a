//! MISP warninglists as allowlists that suppress false positives.
//!
//! A warninglist (`list.json`: `name`, `type`, `list`, `matching_attributes`) is compiled by
//! type:
//!
//! | type | matches a value when | structure |
//! |---|---|---|
//! | `cidr` | the IP lies in a listed range (single addresses allowed) | per-prefix-length hash maps |
//! | `string` | the value equals an entry, case-insensitively | hash table |
//! | `hostname` | the host (of a domain, URL or e-mail address) is an entry or a subdomain of one | label walk |
//! | `substring` | the value contains an entry, case-insensitively | Aho-Corasick |
//! | `regex` | a `/pattern/flags` entry matches (flag `i` honoured) | regex set |
//!
//! `matching_attributes` (MISP attribute types) say which indicator classes a list applies to:
//! IP types to IP, CIDR and IP:port matches, `domain`/`hostname` to domains, `url`/`uri`/`link`
//! to URLs, hash types to hashes, e-mail types to e-mail addresses; a list without them applies
//! to all. A match is suppressed when the value seen or the indicator itself is allowlisted
//! (`xyz` listed as a domain is a TLD: the `tlds` list suppresses it).

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use regex::RegexSet;
use serde_json::Value;

use super::error::IocError;
use super::indicator::{self, Class};
use super::table::{hash_fwd, hash_rev, walk_domain, CidrTable, KeyTable};

/// A warninglist's match type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarninglistType {
    Cidr,
    String,
    Hostname,
    Substring,
    Regex,
}

impl WarninglistType {
    pub fn as_str(self) -> &'static str {
        match self {
            WarninglistType::Cidr => "cidr",
            WarninglistType::String => "string",
            WarninglistType::Hostname => "hostname",
            WarninglistType::Substring => "substring",
            WarninglistType::Regex => "regex",
        }
    }
}

/// A parsed warninglist.
#[derive(Debug, Clone)]
pub(crate) struct Warninglist {
    pub name: String,
    pub ty: WarninglistType,
    pub entries: Vec<String>,
    /// Bits of [`Class`] it applies to.
    pub applies: u8,
}

fn class_bits(misp_type: &str) -> u8 {
    let t = misp_type;
    let mut bits = 0;
    if t.starts_with("ip-") || t.ends_with("|ip") || t == "ip" {
        bits |= Class::Ip.bit();
    }
    if matches!(t, "domain" | "hostname" | "domain|ip" | "hostname|port") {
        bits |= Class::Domain.bit();
    }
    if matches!(t, "url" | "uri" | "link") {
        bits |= Class::Url.bit();
    }
    if t.starts_with("filename|")
        || matches!(
            t,
            "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "ssdeep" | "imphash"
        )
    {
        bits |= Class::Hash.bit();
    }
    if t.contains("email") {
        bits |= Class::Email.bit();
    }
    bits
}

/// Reads a warninglist `list.json`. Entries that cannot be used (a bad CIDR or regex) are
/// warnings; a list with no usable entry is an error.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    warn: &mut dyn FnMut(String, String),
) -> Result<Warninglist, IocError> {
    let err = |line: Option<u64>, message: String| IocError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let v: Value =
        serde_json::from_str(text).map_err(|e| err(Some(e.line() as u64), format!("json: {e}")))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| err(None, "warninglist without `name`".into()))?
        .to_string();
    let ty = match v.get("type").and_then(Value::as_str) {
        Some("cidr") => WarninglistType::Cidr,
        Some("string") => WarninglistType::String,
        Some("hostname") => WarninglistType::Hostname,
        Some("substring") => WarninglistType::Substring,
        Some("regex") => WarninglistType::Regex,
        other => {
            return Err(err(
                None,
                format!(
                "warninglist type {other:?} (expected cidr, string, hostname, substring or regex)"
            ),
            ))
        }
    };
    let list = v
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| err(None, "warninglist without a `list` array".into()))?;
    let applies = v
        .get("matching_attributes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .fold(0, |b, t| b | class_bits(t))
        })
        .filter(|&b| b != 0)
        .unwrap_or(u8::MAX);
    let mut entries = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let Some(s) = e.as_str().map(str::trim).filter(|s| !s.is_empty()) else {
            warn(format!("entry {}", i + 1), "not a non-empty string".into());
            continue;
        };
        let problem = match ty {
            WarninglistType::Cidr if indicator::ip(s).is_none() && s.parse::<IpNet>().is_err() => {
                Some(format!("{s:?} is not an IP or CIDR"))
            }
            WarninglistType::Regex => regex_of(s).err(),
            _ => None,
        };
        match problem {
            Some(m) => warn(format!("entry {}", i + 1), m),
            None => entries.push(s.to_string()),
        }
    }
    Ok(Warninglist {
        name,
        ty,
        entries,
        applies,
    })
}

/// `/pattern/flags` (PCRE-style, as MISP writes them) to a Rust regex source.
fn regex_of(entry: &str) -> Result<String, String> {
    let (pattern, flags) = match entry.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
        Some((p, f)) => (p, f),
        None => (entry, ""),
    };
    let mut prefix = String::new();
    for f in flags.chars() {
        match f {
            'i' | 'm' | 's' | 'x' => prefix.push(f),
            'u' | 'D' => {}
            other => return Err(format!("regex flag {other:?} not supported in {entry:?}")),
        }
    }
    let source = if prefix.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{prefix}){pattern}")
    };
    regex::Regex::new(&source).map_err(|e| format!("regex {entry:?}: {e}"))?;
    Ok(source)
}

enum Matcher {
    Cidr(CidrTable),
    String(KeyTable),
    Hostname(KeyTable),
    Substring(AhoCorasick),
    Regex(RegexSet),
}

/// What an allowlist is asked about: a value of some class, and what can be derived from it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub text: &'a str,
    pub ip: Option<IpAddr>,
    /// The host name of a URL or e-mail address, or the domain itself.
    pub host: Option<&'a str>,
}

/// A compiled warninglist.
pub(crate) struct Allowlist {
    /// Index of the list (definition) it came from.
    pub list: u32,
    pub name: String,
    pub ty: WarninglistType,
    applies: u8,
    matcher: Matcher,
    pub suppressed: AtomicU64,
}

impl Allowlist {
    pub(crate) fn compile(list: u32, w: Warninglist) -> Allowlist {
        let matcher = match w.ty {
            WarninglistType::Cidr => {
                let mut t = CidrTable::default();
                for e in &w.entries {
                    let net = match indicator::ip(e) {
                        Some(a) => IpNet::from(a),
                        None => e.parse::<IpNet>().expect("checked at parse"),
                    };
                    t.insert(net, 0);
                }
                Matcher::Cidr(t)
            }
            WarninglistType::String => {
                let mut t = KeyTable::default();
                for e in &w.entries {
                    t.insert(e, hash_fwd(e.as_bytes()), 0);
                }
                Matcher::String(t)
            }
            WarninglistType::Hostname => {
                let mut t = KeyTable::default();
                for e in &w.entries {
                    let e = e.trim_end_matches('.');
                    t.insert(e, hash_rev(e.as_bytes()), 0);
                }
                Matcher::Hostname(t)
            }
            WarninglistType::Substring => Matcher::Substring(
                aho_corasick::AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .build(&w.entries)
                    .expect("literal patterns build"),
            ),
            WarninglistType::Regex => Matcher::Regex(
                RegexSet::new(w.entries.iter().filter_map(|e| regex_of(e).ok()))
                    .expect("checked at parse"),
            ),
        };
        Allowlist {
            list,
            name: w.name,
            ty: w.ty,
            applies: w.applies,
            matcher,
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether the list applies to values of `class`.
    pub(crate) fn applies_to(&self, class: Class) -> bool {
        self.applies & class.bit() != 0
    }

    /// Whether the probe is allowlisted (applicability is checked separately).
    pub(crate) fn allows(&self, p: &Probe<'_>) -> bool {
        match &self.matcher {
            Matcher::Cidr(t) => p.ip.is_some_and(|ip| t.contains(ip)),
            Matcher::String(t) => t
                .get(hash_fwd(p.text.as_bytes()), p.text.as_bytes())
                .is_some(),
            Matcher::Hostname(t) => {
                let mut found = false;
                if let Some(h) = p.host {
                    walk_domain(t, h, |_, _| found = true);
                }
                found
            }
            Matcher::Substring(ac) => ac.is_match(p.text),
            Matcher::Regex(set) => set.is_match(p.text),
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self) {
        self.suppressed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(json: &str) -> Allowlist {
        let mut warnings = Vec::new();
        let w = parse(json, Path::new("list.json"), &mut |l, m| {
            warnings.push((l, m))
        })
        .unwrap();
        Allowlist::compile(0, w)
    }

    fn probe<'a>(_class: Class, text: &'a str, host: Option<&'a str>) -> Probe<'a> {
        Probe {
            text,
            ip: indicator::ip(text),
            host,
        }
    }

    #[test]
    fn each_type() {
        let cidr = list(
            r#"{"name":"n","type":"cidr","list":["10.0.0.0/8","192.0.2.1","2001:db8::/32"],"matching_attributes":["ip-dst"]}"#,
        );
        assert!(cidr.allows(&probe(Class::Ip, "10.255.0.1", None)));
        assert!(cidr.allows(&probe(Class::Ip, "192.0.2.1", None)));
        assert!(!cidr.allows(&probe(Class::Ip, "192.0.2.2", None)));
        assert!(cidr.allows(&probe(Class::Ip, "2001:db8::5", None)));
        assert!(cidr.applies_to(Class::Ip) && !cidr.applies_to(Class::Domain));

        let s = list(
            r#"{"name":"n","type":"string","list":["COM","d41d8cd98f00b204e9800998ecf8427e"]}"#,
        );
        assert!(s.allows(&probe(Class::Domain, "com", None)));
        assert!(!s.allows(&probe(Class::Domain, "a.com", None)));
        assert!(s.allows(&probe(
            Class::Hash,
            "D41D8CD98F00B204E9800998ECF8427E",
            None
        )));
        assert!(
            s.applies_to(Class::Email),
            "no matching_attributes: applies to all"
        );

        let h = list(
            r#"{"name":"n","type":"hostname","list":["bit.ly"],"matching_attributes":["url","domain"]}"#,
        );
        assert!(h.allows(&probe(Class::Url, "https://bit.ly/x", Some("bit.ly"))));
        assert!(h.allows(&probe(Class::Domain, "x.Bit.ly.", Some("x.Bit.ly."))));
        assert!(!h.allows(&probe(Class::Domain, "notbit.ly", Some("notbit.ly"))));

        let sub = list(r#"{"name":"n","type":"substring","list":["app.any.run"]}"#);
        assert!(sub.allows(&probe(Class::Url, "https://APP.any.run/tasks/1", None)));
        assert!(!sub.allows(&probe(Class::Url, "https://any.run/", None)));

        let re = list(r#"{"name":"n","type":"regex","list":["/^(security|abuse)\\@.*\\..*$/i"]}"#);
        assert!(re.allows(&probe(Class::Email, "Abuse@example.org", None)));
        assert!(!re.allows(&probe(Class::Email, "ceo@example.org", None)));
    }

    #[test]
    fn bad_entries_warn_and_bad_lists_fail() {
        let mut warnings = Vec::new();
        let w = parse(
            r#"{"name":"n","type":"cidr","list":["10.0.0.0/8","nope",""]}"#,
            Path::new("list.json"),
            &mut |l, m| warnings.push((l, m)),
        )
        .unwrap();
        assert_eq!(w.entries.len(), 1);
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].0, "entry 2");
        let e = parse(
            r#"{"name":"n","type":"glob","list":[]}"#,
            Path::new("l.json"),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("glob"));
        assert!(regex_of("/a(/i").is_err());
        assert_eq!(regex_of("/ab/i").unwrap(), "(?i)ab");
    }
}
