//! Sigma strings: wildcards `*` and `?`, their escapes, `contains`/`startswith`/`endswith`,
//! `windash`, and the case folding shared by needles and event values.

use crate::error::Reject;

/// One token of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tok {
    Lit(Vec<u8>),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A Sigma string value: literal runs and wildcards. Adjacent literals are merged and runs of
/// `*` collapse to one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SigmaStr(pub Vec<Tok>);

impl SigmaStr {
    /// Parses wildcards and escapes: `\*`, `\?` and `\\` are the literal characters; a
    /// backslash before anything else is itself.
    pub fn parse(s: &str) -> SigmaStr {
        let mut out = SigmaStr::default();
        let b = s.as_bytes();
        let mut i = 0;
        let mut lit = Vec::new();
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() && matches!(b[i + 1], b'*' | b'?' | b'\\') => {
                    lit.push(b[i + 1]);
                    i += 2;
                }
                b'*' | b'?' => {
                    if !lit.is_empty() {
                        out.push(Tok::Lit(std::mem::take(&mut lit)));
                    }
                    out.push(if b[i] == b'*' { Tok::Star } else { Tok::One });
                    i += 1;
                }
                c => {
                    lit.push(c);
                    i += 1;
                }
            }
        }
        if !lit.is_empty() {
            out.push(Tok::Lit(lit));
        }
        out
    }

    /// A plain literal (no wildcard interpretation).
    pub fn literal(bytes: Vec<u8>) -> SigmaStr {
        let mut s = SigmaStr::default();
        if !bytes.is_empty() {
            s.0.push(Tok::Lit(bytes));
        }
        s
    }

    fn push(&mut self, t: Tok) {
        match (self.0.last_mut(), t) {
            (Some(Tok::Lit(a)), Tok::Lit(b)) => a.extend_from_slice(&b),
            (Some(Tok::Star), Tok::Star) => {}
            (_, t) => self.0.push(t),
        }
    }

    pub fn has_wildcards(&self) -> bool {
        self.0.iter().any(|t| !matches!(t, Tok::Lit(_)))
    }

    /// The bytes of a wildcard-free string.
    pub fn plain_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for t in &self.0 {
            match t {
                Tok::Lit(l) => out.extend_from_slice(l),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn star_front(&mut self) {
        if self.0.first() != Some(&Tok::Star) {
            self.0.insert(0, Tok::Star);
        }
    }

    pub fn star_back(&mut self) {
        if self.0.last() != Some(&Tok::Star) {
            self.0.push(Tok::Star);
        }
    }

    /// Case-folds every literal.
    pub fn folded(&self) -> SigmaStr {
        SigmaStr(
            self.0
                .iter()
                .map(|t| match t {
                    Tok::Lit(l) => {
                        let mut f = Vec::with_capacity(l.len());
                        fold_into(l, &mut f);
                        Tok::Lit(f)
                    }
                    t => t.clone(),
                })
                .collect(),
        )
    }
}

/// Appends the case-folded form of `s` to `out`: ASCII bytes lowercased, non-ASCII UTF-8
/// lowercased per Unicode (no allocation beyond `out`). Bytes that are not UTF-8 are kept
/// with ASCII folding only. Rule needles and event values go through this same function.
pub fn fold_into(s: &[u8], out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend(s.iter().map(u8::to_ascii_lowercase));
        return;
    }
    match std::str::from_utf8(s) {
        Ok(text) => {
            let mut buf = [0u8; 4];
            for c in text.chars() {
                if c.is_ascii() {
                    out.push(c.to_ascii_lowercase() as u8);
                } else {
                    for l in c.to_lowercase() {
                        out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        Err(_) => out.extend(s.iter().map(u8::to_ascii_lowercase)),
    }
}

/// A compiled string pattern (already case-folded when matching is case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pat {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Contains(Vec<u8>),
    /// `*`: any value.
    Any,
    /// Wildcards in the middle or `?`: a segment matcher.
    Glob(Vec<Tok>),
}

impl Pat {
    pub fn from_sigma(s: &SigmaStr) -> Pat {
        let t = &s.0;
        let lead = t.first() == Some(&Tok::Star);
        let trail = t.len() > 1 && t.last() == Some(&Tok::Star);
        let inner = &t[usize::from(lead)..t.len() - usize::from(trail)];
        match inner {
            [] if lead || trail => Pat::Any,
            [] => Pat::Exact(Vec::new()),
            [Tok::Lit(l)] => match (lead, trail) {
                (false, false) => Pat::Exact(l.clone()),
                (false, true) => Pat::Prefix(l.clone()),
                (true, false) => Pat::Suffix(l.clone()),
                (true, true) => Pat::Contains(l.clone()),
            },
            _ => Pat::Glob(t.clone()),
        }
    }

    /// Whether `v` matches.
    pub fn matches(&self, v: &[u8]) -> bool {
        match self {
            Pat::Exact(l) => v == l.as_slice(),
            Pat::Prefix(l) => v.starts_with(l),
            Pat::Suffix(l) => v.ends_with(l),
            Pat::Contains(l) => memchr::memmem::find(v, l).is_some(),
            Pat::Any => true,
            Pat::Glob(t) => glob_match(t, v),
        }
    }

    /// The longest literal a match must contain (for prefiltering).
    pub fn longest_literal(&self) -> Option<&[u8]> {
        match self {
            Pat::Exact(l) | Pat::Prefix(l) | Pat::Suffix(l) | Pat::Contains(l) => {
                Some(l).filter(|l| !l.is_empty()).map(|v| &v[..])
            }
            Pat::Any => None,
            Pat::Glob(t) => t
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(l) => Some(l.as_slice()),
                    _ => None,
                })
                .max_by_key(|l| l.len()),
        }
    }
}

fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Wildcard matching over tokens: `*` any run, `?` one UTF-8 character. Linear-backtracking
/// (only to the last `*`), no allocation.
pub fn glob_match(toks: &[Tok], s: &[u8]) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if ti < toks.len() {
            match &toks[ti] {
                Tok::Star => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::One if si < s.len() => {
                    si = (si + char_len(s[si])).min(s.len());
                    ti += 1;
                    continue;
                }
                Tok::Lit(l) if s[si..].starts_with(l) => {
                    si += l.len();
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if si == s.len() {
            return true;
        }
        match star {
            Some((sti, ssi)) if ssi < s.len() => {
                let next = (ssi + char_len(s[ssi])).min(s.len());
                // Jump straight to the next occurrence of the literal after the star.
                let next = match toks.get(sti) {
                    Some(Tok::Lit(l)) => match memchr::memmem::find(&s[next.min(s.len())..], l) {
                        Some(off) => next + off,
                        None => return false,
                    },
                    _ => next,
                };
                star = Some((sti, next));
                ti = sti;
                si = next;
            }
            _ => return false,
        }
    }
}

/// `windash`: every `-` or `/` (or en dash, em dash, horizontal bar) at the start of a word
/// (after a non-word character or the start, before a word character) is expanded into all
/// five forms; returns every permutation.
pub fn windash(s: &SigmaStr) -> Result<Vec<SigmaStr>, Reject> {
    const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];
    let mut variants: Vec<SigmaStr> = vec![SigmaStr::default()];
    let n = s.0.len();
    for (ti, tok) in s.0.iter().enumerate() {
        let Tok::Lit(l) = tok else {
            for v in &mut variants {
                v.push(tok.clone());
            }
            continue;
        };
        let text = String::from_utf8_lossy(l).into_owned();
        let chars: Vec<char> = text.chars().collect();
        let mut cur = String::new();
        for (ci, &c) in chars.iter().enumerate() {
            let is_dash = matches!(c, '-' | '/' | '\u{2013}' | '\u{2014}' | '\u{2015}');
            let prev_word = if ci == 0 {
                false
            } else {
                is_word(chars[ci - 1])
            };
            let next_word = match chars.get(ci + 1) {
                Some(&n) => is_word(n),
                // a wildcard or the end follows
                None => ti + 1 < n,
            };
            if is_dash && !prev_word && next_word {
                let lit = std::mem::take(&mut cur);
                let mut next = Vec::with_capacity(variants.len() * DASHES.len());
                for v in &variants {
                    for d in DASHES {
                        let mut nv = v.clone();
                        nv.push(Tok::Lit(format!("{lit}{d}").into_bytes()));
                        next.push(nv);
                    }
                }
                if next.len() > 4096 {
                    return Err(Reject::Modifier {
                        modifier: "windash".into(),
                        message: "more than 4096 permutations".into(),
                    });
                }
                variants = next;
            } else {
                cur.push(c);
            }
        }
        if !cur.is_empty() {
            for v in &mut variants {
                v.push(Tok::Lit(cur.clone().into_bytes()));
            }
        }
    }
    Ok(variants)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Tok {
        Tok::Lit(s.as_bytes().to_vec())
    }

    #[test]
    fn escapes() {
        assert_eq!(SigmaStr::parse(r"a\*b").0, vec![lit("a*b")]);
        assert_eq!(SigmaStr::parse(r"a\\*").0, vec![lit(r"a\"), Tok::Star]);
        assert_eq!(SigmaStr::parse(r"a\\\*").0, vec![lit(r"a\*")]);
        assert_eq!(SigmaStr::parse(r"\\\\srv").0, vec![lit(r"\\srv")]);
        assert_eq!(
            SigmaStr::parse(r"C:\Windows\*").0,
            vec![lit(r"C:\Windows*")]
        );
        assert_eq!(
            SigmaStr::parse(r"C:\Windows\\*").0,
            vec![lit(r"C:\Windows\"), Tok::Star]
        );
        assert_eq!(SigmaStr::parse("a?c").0, vec![lit("a"), Tok::One, lit("c")]);
    }

    #[test]
    fn classify() {
        assert_eq!(
            Pat::from_sigma(&SigmaStr::parse("*abc*")),
            Pat::Contains(b"abc".to_vec())
        );
        assert_eq!(
            Pat::from_sigma(&SigmaStr::parse("abc*")),
            Pat::Prefix(b"abc".to_vec())
        );
        assert_eq!(
            Pat::from_sigma(&SigmaStr::parse("*abc")),
            Pat::Suffix(b"abc".to_vec())
        );
        assert_eq!(Pat::from_sigma(&SigmaStr::parse("*")), Pat::Any);
        assert_eq!(Pat::from_sigma(&SigmaStr::parse("")), Pat::Exact(vec![]));
        assert!(matches!(
            Pat::from_sigma(&SigmaStr::parse("a*b")),
            Pat::Glob(_)
        ));
    }

    #[test]
    fn globbing() {
        let g = |p: &str, s: &str| glob_match(&SigmaStr::parse(p).0, s.as_bytes());
        assert!(g("a*b", "axxb"));
        assert!(g("a*b", "ab"));
        assert!(!g("a*b", "axxbc"));
        assert!(g("*a*b*", "xxaxxbxx"));
        assert!(g("a?c", "abc"));
        assert!(g("a?c", "aéc"));
        assert!(!g("a?c", "ac"));
        assert!(g("*.exe*-p*", "c:\\x.exe -p"));
    }

    #[test]
    fn windash_permutations() {
        let v = windash(&SigmaStr::parse(" -enc ")).unwrap();
        assert_eq!(v.len(), 5);
        assert!(v.contains(&SigmaStr::parse(" /enc ")));
        assert!(v.contains(&SigmaStr::parse(" \u{2015}enc ")));
        // a dash inside a word is not a flag
        assert_eq!(windash(&SigmaStr::parse("a-b")).unwrap().len(), 1);
        assert_eq!(windash(&SigmaStr::parse("-a -b")).unwrap().len(), 25);
    }
}
