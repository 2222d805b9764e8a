//! URL splitting and the normalised form URL indicators and event URLs are compared in.
//!
//! The normalised form of `scheme://user@Host:port/Path?Query#frag` is
//! `host[:port]/path?query`, all ASCII-lowercased (matching is case-insensitive, as in
//! maltrail): the scheme, user info and fragment are dropped, a trailing dot of the host is
//! dropped, the port is dropped when it is the scheme's default (80 for `http`/`ws`, 443 for
//! `https`/`wss`, 21 for `ftp`, 80 when there is no scheme), and trailing `/` are removed (so
//! `http://a.example/x/` and `a.example/x` are the same key, and `http://a.example/` is
//! `a.example`). Percent-encoding is left as written.

/// A URL cut into the parts matching uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// The host as written (IPv6 literals keep their brackets).
    pub host: &'a str,
    /// The port, unless absent or the scheme's default.
    pub port: Option<u16>,
    /// The port written, else the scheme's default (for `ip:port` indicators).
    pub effective_port: Option<u16>,
    /// Path and query, fragment removed; may be empty.
    pub rest: &'a str,
}

impl<'a> UrlParts<'a> {
    /// The host without IPv6 brackets or a trailing dot.
    pub fn bare_host(&self) -> &'a str {
        let h = self.host;
        let h = h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h);
        h.strip_suffix('.').unwrap_or(h)
    }

    /// The normalised key's length (an upper bound before trailing-slash trimming).
    pub fn key_capacity(&self) -> usize {
        self.host.len() + 6 + self.rest.len()
    }

    /// Writes the normalised key into `buf` (at least [`Self::key_capacity`] long). Returns the
    /// key length and the length of its `host[:port]` part.
    pub fn write_key(&self, buf: &mut [u8]) -> (usize, usize) {
        let mut n = 0;
        let host = self.host.strip_suffix('.').unwrap_or(self.host);
        for &b in host.as_bytes() {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        if let Some(port) = self.port {
            buf[n] = b':';
            n += 1;
            let mut digits = [0u8; 5];
            let mut p = port;
            let mut d = 0;
            loop {
                digits[d] = b'0' + (p % 10) as u8;
                d += 1;
                p /= 10;
                if p == 0 {
                    break;
                }
            }
            for i in (0..d).rev() {
                buf[n] = digits[i];
                n += 1;
            }
        }
        let host_len = n;
        for &b in self.rest.as_bytes() {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        while n > host_len && buf[n - 1] == b'/' {
            n -= 1;
        }
        (n, host_len)
    }

    /// The normalised key as a string (indicator side; events use [`Self::write_key`]).
    pub fn key(&self) -> String {
        let mut buf = vec![0u8; self.key_capacity()];
        let (n, _) = self.write_key(&mut buf);
        buf.truncate(n);
        String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// True when the URL names a host (and port) only: no path beyond `/`, no query.
    pub fn is_host_only(&self) -> bool {
        self.rest.bytes().all(|b| b == b'/')
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    let is = |s: &str| scheme.eq_ignore_ascii_case(s);
    if scheme.is_empty() || is("http") || is("ws") {
        Some(80)
    } else if is("https") || is("wss") {
        Some(443)
    } else if is("ftp") {
        Some(21)
    } else {
        None
    }
}

/// Splits a URL, with or without a scheme (`evil.example/gate.php` is a URL to host
/// `evil.example`). Returns `None` when there is no host or the port is not a number.
pub(crate) fn split(url: &str) -> Option<UrlParts<'_>> {
    let mut s = url.trim();
    let mut scheme = "";
    if let Some(i) = s.find("://") {
        let cand = &s[..i];
        if !cand.is_empty()
            && cand
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            scheme = cand;
            s = &s[i + 3..];
        }
    }
    if let Some(i) = s.find('#') {
        s = &s[..i];
    }
    let end = s.find(['/', '?']).unwrap_or(s.len());
    let (authority, rest) = s.split_at(end);
    let authority = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    let (host, port_text) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let after = &authority[close + 1..];
        match after.strip_prefix(':') {
            Some(p) => (&authority[..=close], Some(p)),
            None if after.is_empty() => (&authority[..=close], None),
            None => return None,
        }
    } else if authority.bytes().filter(|&b| b == b':').count() == 1 {
        let (h, p) = authority.split_once(':').expect("one colon");
        (h, Some(p))
    } else {
        (authority, None)
    };
    if host.is_empty() || host == "." {
        return None;
    }
    let mut port = match port_text {
        Some("") | None => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    let effective_port = port.or_else(|| default_port(scheme));
    if port.is_some() && port == default_port(scheme) {
        port = None;
    }
    Some(UrlParts {
        host,
        port,
        effective_port,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(u: &str) -> String {
        split(u).expect(u).key()
    }

    #[test]
    fn normalisation_rule() {
        assert_eq!(
            key("HTTP://Evil.Example.:80/Gate.PHP?A=1#frag"),
            "evil.example/gate.php?a=1"
        );
        assert_eq!(key("https://evil.example:443/"), "evil.example");
        assert_eq!(key("https://evil.example:80/x/"), "evil.example:80/x");
        assert_eq!(
            key("http://user:pw@evil.example:8080/x//"),
            "evil.example:8080/x"
        );
        assert_eq!(key("evil.example/x"), "evil.example/x");
        assert_eq!(key("evil.example:80/x"), "evil.example/x");
        assert_eq!(key("http://[2001:DB8::1]:8080/a"), "[2001:db8::1]:8080/a");
        assert_eq!(key("http://a.example?q=1"), "a.example?q=1");
        assert!(split("http:///x").is_none());
        assert!(split("http://a.example:99999/").is_none());
    }

    #[test]
    fn parts() {
        let p = split("https://[::1]/").unwrap();
        assert_eq!(p.bare_host(), "::1");
        assert!(p.is_host_only());
        let p = split("http://1.2.3.4:8443").unwrap();
        assert_eq!((p.host, p.port), ("1.2.3.4", Some(8443)));
        assert!(p.is_host_only());
        let p = split("1.2.3.4/gate.php").unwrap();
        assert_eq!((p.host, p.rest), ("1.2.3.4", "/gate.php"));
        assert!(!p.is_host_only());
    }
}
