//! Indicators: their kinds, their normalised keys, and type detection for one written value.
//!
//! Detection order for a value (plain lists, maltrail trails, MISP `url` values):
//!
//! 1. starts with `/` → URL path (`/gate.php`: any host, as maltrail matches them);
//! 2. contains `://` → URL; a URL with no path and no query is reduced to its host, as
//!    maltrail does: `http://1.2.3.4` is the IP, `http://1.2.3.4:8080` the IP and port,
//!    `http://evil.example` the domain (with its subdomains);
//! 3. `[v6]:port`, an IP, a CIDR (`10.0.0.0/8`, host bits ignored), `ip:port`;
//! 4. `local@domain` → e-mail address;
//! 5. 32, 40 or 64 hex digits → md5, sha1, sha256 (any other all-hex word is rejected);
//! 6. `host/path` → URL without scheme (maltrail writes URLs this way), `host:port` → URL;
//! 7. a domain: ASCII labels of letters, digits, `-` and `_`, at least two labels, a
//!    non-numeric last label; `*.` in front and a trailing dot are dropped. Internationalised
//!    names must be written in their ASCII (punycode) form, as DNS carries them;
//! 8. in maltrail trail files only, a value none of the above that has regex characters
//!    (`\ ( [ { ^ $ | * +`) is a regex trail, searched case-insensitively in domain names as
//!    maltrail does.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::table::canonical;
use super::url;

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    Ip,
    Cidr,
    /// An address with a port (`1.2.3.4:8443`).
    IpPort,
    /// A domain; matches itself and its subdomains.
    Domain,
    /// A maltrail regex trail (`q(l|r)[0-9]{5,6}\.pw`), searched in domain names.
    DomainRegex,
    /// A URL (`host[:port]/path`), matched as a prefix on path-segment boundaries.
    Url,
    /// A URL path without a host (`/gate.php`), matched on any host.
    UrlPath,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 11] = [
        IndicatorKind::Ip,
        IndicatorKind::Cidr,
        IndicatorKind::IpPort,
        IndicatorKind::Domain,
        IndicatorKind::DomainRegex,
        IndicatorKind::Url,
        IndicatorKind::UrlPath,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Email,
    ];

    /// The precise name: `ip`, `cidr`, `ip-port`, `domain`, `domain-regex`, `url`, `url-path`,
    /// `md5`, `sha1`, `sha256`, `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::IpPort => "ip-port",
            IndicatorKind::Domain => "domain",
            IndicatorKind::DomainRegex => "domain-regex",
            IndicatorKind::Url => "url",
            IndicatorKind::UrlPath => "url-path",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Email => "email",
        }
    }

    /// The coarse type of core's `IocHit::indicator_type`: `ip`, `cidr`, `domain`, `url`,
    /// `hash`, `email`.
    pub fn hit_type(self) -> &'static str {
        match self {
            IndicatorKind::Ip | IndicatorKind::IpPort => "ip",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::Domain | IndicatorKind::DomainRegex => "domain",
            IndicatorKind::Url | IndicatorKind::UrlPath => "url",
            IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => "hash",
            IndicatorKind::Email => "email",
        }
    }

    /// The class warninglists' `matching_attributes` are compared against.
    pub(crate) fn class(self) -> Class {
        match self {
            IndicatorKind::Ip | IndicatorKind::IpPort | IndicatorKind::Cidr => Class::Ip,
            IndicatorKind::Domain | IndicatorKind::DomainRegex => Class::Domain,
            IndicatorKind::Url | IndicatorKind::UrlPath => Class::Url,
            IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => Class::Hash,
            IndicatorKind::Email => Class::Email,
        }
    }
}

impl std::fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Value classes, for allowlist applicability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Ip,
    Domain,
    Url,
    Hash,
    Email,
}

impl Class {
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// An indicator's normalised key: what lookups compare.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Ip(IpAddr),
    IpPort(IpAddr, u16),
    Cidr(IpNet),
    /// Lowercased, no trailing dot.
    Domain(String),
    /// A regex source, searched case-insensitively in domain names.
    DomainRegex(String),
    /// Normalised URL key (see [`url`]).
    Url(String),
    /// Lowercased path, no trailing `/`.
    Path(String),
    /// Lowercased hex.
    Hash(IndicatorKind, String),
    /// Lowercased address.
    Email(String),
}

impl Key {
    pub(crate) fn kind(&self) -> IndicatorKind {
        match self {
            Key::Ip(_) => IndicatorKind::Ip,
            Key::IpPort(..) => IndicatorKind::IpPort,
            Key::Cidr(_) => IndicatorKind::Cidr,
            Key::Domain(_) => IndicatorKind::Domain,
            Key::DomainRegex(_) => IndicatorKind::DomainRegex,
            Key::Url(_) => IndicatorKind::Url,
            Key::Path(_) => IndicatorKind::UrlPath,
            Key::Hash(k, _) => *k,
            Key::Email(_) => IndicatorKind::Email,
        }
    }
}

/// A domain in normalised form, or why it is not one.
pub(crate) fn domain(s: &str) -> Result<String, String> {
    let s = s.strip_prefix("*.").unwrap_or(s);
    let s = s.strip_suffix('.').unwrap_or(s);
    if !s.is_ascii() {
        return Err(format!(
            "non-ASCII name {s:?} (write internationalised names in punycode)"
        ));
    }
    if s.len() > 253 {
        return Err("domain longer than 253 characters".into());
    }
    let mut labels = 0;
    for label in s.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad domain label in {s:?}"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("character {c:?} not allowed in a domain"));
        }
    }
    if labels < 2 {
        return Err(format!("{s:?} is not a domain (no dot)"));
    }
    let tld = s.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is neither an IP address nor a domain"));
    }
    Ok(s.to_ascii_lowercase())
}

/// A hash's kind from its length, if `s` is all hex digits of length 32, 40 or 64.
pub(crate) fn hash_kind(s: &str) -> Option<IndicatorKind> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match s.len() {
        32 => Some(IndicatorKind::Md5),
        40 => Some(IndicatorKind::Sha1),
        64 => Some(IndicatorKind::Sha256),
        _ => None,
    }
}

/// An e-mail address in normalised form (lowercased), or why it is not one.
pub(crate) fn email(s: &str) -> Result<String, String> {
    let s = s.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, dom) = s
        .rsplit_once('@')
        .ok_or_else(|| format!("{s:?} is not an e-mail address"))?;
    if local.is_empty() || local.contains(char::is_whitespace) {
        return Err(format!("{s:?} is not an e-mail address"));
    }
    let dom = domain(dom)?;
    Ok(format!("{}@{dom}", local.to_ascii_lowercase()))
}

/// Characters that make a maltrail trail a regex.
const REGEX_CHARS: &[char] = &['\\', '(', '[', '{', '^', '$', '|', '*', '+'];

/// Whether a maltrail trail is a regex trail (`\b(atztds|mtxtds)[0-9a-z]+\.(world|xyz)`).
pub(crate) fn is_regex_trail(s: &str) -> bool {
    !s.starts_with('/') && !s.contains("://") && s.contains(REGEX_CHARS)
}

/// A regex trail, checked to compile; matched by searching domain names (maltrail semantics).
pub(crate) fn domain_regex(s: &str) -> Result<Key, String> {
    regex::RegexBuilder::new(s)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("regex trail {s:?}: {e}"))?;
    Ok(Key::DomainRegex(s.to_string()))
}

/// An IP, parsed and canonical (IPv4-mapped IPv6 becomes IPv4).
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().map(canonical)
}

fn from_url(s: &str) -> Result<Key, String> {
    let parts = url::split(s).ok_or_else(|| format!("{s:?} is not a URL"))?;
    let host = parts.bare_host();
    let host_ip = ip(host);
    if host_ip.is_none() {
        domain(host).map_err(|e| format!("URL host: {e}"))?;
    }
    if parts.is_host_only() {
        return Ok(match (host_ip, parts.port) {
            (Some(a), None) => Key::Ip(a),
            (Some(a), Some(p)) => Key::IpPort(a, p),
            (None, None) => Key::Domain(domain(host)?),
            (None, Some(_)) => Key::Url(parts.key()),
        });
    }
    Ok(Key::Url(parts.key()))
}

fn path(s: &str) -> Result<Key, String> {
    let s = s.split('#').next().unwrap_or(s);
    let p = s.trim_end_matches('/').to_ascii_lowercase();
    if p.is_empty() {
        return Err("the path `/` matches every URL".into());
    }
    Ok(Key::Path(p))
}

/// Detects the type of one written indicator and normalises it (module docs give the order).
pub(crate) fn classify(s: &str) -> Result<Key, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value".into());
    }
    if s.starts_with('/') {
        return path(s);
    }
    if s.contains("://") {
        return from_url(s);
    }
    if s.starts_with('[') {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Key::IpPort(canonical(sa.ip()), sa.port()));
        }
        if let Some(a) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return ip(a)
                .map(Key::Ip)
                .ok_or_else(|| format!("{s:?} is not an IP"));
        }
        return from_url(s);
    }
    if let Some(a) = ip(s) {
        return Ok(Key::Ip(a));
    }
    if let Ok(net) = s.parse::<IpNet>() {
        let net = net.trunc();
        return Ok(match net {
            IpNet::V4(n) if n.prefix_len() == 32 => Key::Ip(IpAddr::V4(n.addr())),
            IpNet::V6(n) if n.prefix_len() == 128 => Key::Ip(canonical(IpAddr::V6(n.addr()))),
            net => Key::Cidr(net),
        });
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Key::IpPort(canonical(sa.ip()), sa.port()));
    }
    if s.contains('@') && !s.contains('/') {
        return email(s).map(Key::Email);
    }
    if let Some(k) = hash_kind(s) {
        return Ok(Key::Hash(k, s.to_ascii_lowercase()));
    }
    if !s.contains('.') && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "hex string of length {} is not an md5, sha1 or sha256",
            s.len()
        ));
    }
    if s.contains('/') || s.contains(':') || s.contains('?') {
        return from_url(s);
    }
    if s.contains(char::is_whitespace) {
        return Err(format!("{s:?} contains spaces"));
    }
    domain(s).map(Key::Domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Result<(IndicatorKind, String), String> {
        classify(s).map(|k| {
            let text = match &k {
                Key::Ip(a) => a.to_string(),
                Key::IpPort(a, p) => format!("{a}/{p}"),
                Key::Cidr(n) => n.to_string(),
                Key::Domain(s) | Key::Url(s) | Key::Path(s) | Key::Email(s) => s.clone(),
                Key::DomainRegex(s) => s.clone(),
                Key::Hash(_, s) => s.clone(),
            };
            (k.kind(), text)
        })
    }

    #[test]
    fn detects_each_type() {
        use IndicatorKind::*;
        let cases = [
            ("1.2.3.4", Ip, "1.2.3.4"),
            ("::ffff:1.2.3.4", Ip, "1.2.3.4"),
            ("2001:DB8::1", Ip, "2001:db8::1"),
            ("10.1.2.3/24", Cidr, "10.1.2.0/24"),
            ("10.1.2.3/32", Ip, "10.1.2.3"),
            ("2001:db8::/32", Cidr, "2001:db8::/32"),
            ("1.2.3.4:8443", IpPort, "1.2.3.4/8443"),
            ("[2001:db8::7]:443", IpPort, "2001:db8::7/443"),
            ("Evil.Example.", Domain, "evil.example"),
            ("*.evil.example", Domain, "evil.example"),
            ("xn--ker-ina.hu", Domain, "xn--ker-ina.hu"),
            ("http://1.2.3.4", Ip, "1.2.3.4"),
            ("https://1.2.3.4:8443/", IpPort, "1.2.3.4/8443"),
            ("http://Evil.Example", Domain, "evil.example"),
            ("http://evil.example:8080", Url, "evil.example:8080"),
            ("http://evil.example/Gate.php", Url, "evil.example/gate.php"),
            ("evil.example/gate.php", Url, "evil.example/gate.php"),
            (
                "178.32.48.50:8443/node.js",
                Url,
                "178.32.48.50:8443/node.js",
            ),
            ("/365-Stealer/", UrlPath, "/365-stealer"),
            (
                "D41D8CD98F00B204E9800998ECF8427E",
                Md5,
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            (
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                Sha1,
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("Billing@Evil.Example", Email, "billing@evil.example"),
        ];
        for (input, k, text) in cases {
            assert_eq!(kind(input), Ok((k, text.to_string())), "{input}");
        }
    }

    #[test]
    fn rejects_with_reasons() {
        for bad in [
            "",
            "localhost",
            "1.2.3.999",
            "abc123",
            "évil.example",
            "evil..example",
            "a b.example",
            "/",
            "http://",
            "deadbeef",
            "x@",
        ] {
            assert!(kind(bad).is_err(), "{bad:?} accepted as {:?}", kind(bad));
        }
    }
}
