//! The JSON reader under the record walk: a pull parser over the record's bytes that copies
//! scalars straight into the walk's text buffer.
//!
//! It is strict where it accepts and declines whatever it is unsure of: control characters
//! in strings, lone surrogates, trailing characters, nesting deeper than [`MAX_DEPTH`]. A
//! declined record is decoded into a `serde_json::Value` by the caller, so serde_json's
//! verdict and error message stand for every record this reader does not take. Numbers other
//! than short integers are printed by serde_json itself, so their text is the `Value`'s.

use std::borrow::Cow;
use std::io::Write as _;

use super::{decline, Declined};

/// Nesting this reader declines (serde_json's own limit is 128).
pub const MAX_DEPTH: u32 = 100;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

fn declined<T>(what: &str, at: usize) -> Result<T, Declined> {
    decline(&format!("{what} at byte {at}"))
}

/// The bytes of the little-endian word `w` that end a run of plain string text: `"`, `\`,
/// control characters and, with `hi` = [`HIGH`], bytes ≥ 0x80. Only the lowest set bit is
/// exact (a borrow may mark bytes above it), which is the one used.
#[inline]
fn stops(w: u64, hi: u64) -> u64 {
    let q = w ^ (ONES * b'"' as u64);
    let e = w ^ (ONES * b'\\' as u64);
    ((q.wrapping_sub(ONES) & !q) | (e.wrapping_sub(ONES) & !e) | (w.wrapping_sub(ONES * 0x20) & !w))
        & HIGH
        | (w & hi)
}

/// One byte of [`stops`].
#[inline]
fn is_stop(c: u8, hi: u64) -> bool {
    c == b'"' || c == b'\\' || c < 0x20 || (c >= 0x80 && hi != 0)
}

/// A pull parser over one JSON text (see the module documentation); public so that the detect
/// worker reads its payload envelope with it.
pub struct Parser<'j> {
    s: &'j str,
    b: &'j [u8],
    i: usize,
    /// No byte ≥ 0x80 has been copied out of a string value so far.
    pub ascii: bool,
}

impl<'j> Parser<'j> {
    pub fn new(s: &'j str) -> Self {
        Parser {
            s,
            b: s.as_bytes(),
            i: 0,
            ascii: true,
        }
    }

    /// Moves past white space; the byte there, if any.
    #[inline]
    fn skip_ws(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// The next byte after white space (not consumed).
    #[inline]
    pub fn peek(&mut self) -> Result<u8, Declined> {
        match self.skip_ws() {
            Some(c) => Ok(c),
            None => declined("unexpected end", self.i),
        }
    }

    /// Only white space is left.
    pub fn end(&mut self) -> Result<(), Declined> {
        match self.skip_ws() {
            Some(_) => declined("trailing characters", self.i),
            None => Ok(()),
        }
    }

    /// At a peeked `{`: its first key, `None` for an empty object.
    pub fn object_first(&mut self) -> Result<Option<Cow<'j, str>>, Declined> {
        self.i += 1;
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(None);
        }
        self.key().map(Some)
    }

    /// After a member's value: the next key, `None` at the object's end.
    pub fn object_next(&mut self) -> Result<Option<Cow<'j, str>>, Declined> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                self.peek()?;
                self.key().map(Some)
            }
            b'}' => {
                self.i += 1;
                Ok(None)
            }
            _ => declined("expected `,` or `}`", self.i),
        }
    }

    /// At a peeked `[`: whether an element follows.
    pub fn array_first(&mut self) -> Result<bool, Declined> {
        self.i += 1;
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an element: whether another follows.
    pub fn array_next(&mut self) -> Result<bool, Declined> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Ok(true)
            }
            b']' => {
                self.i += 1;
                Ok(false)
            }
            _ => declined("expected `,` or `]`", self.i),
        }
    }

    /// A key (at its peeked `"`) and the `:` after it; borrowed unless it holds escapes.
    fn key(&mut self) -> Result<Cow<'j, str>, Declined> {
        if self.b[self.i] != b'"' {
            return declined("expected a key", self.i);
        }
        self.i += 1;
        let start = self.i;
        let stop = self.scan(0);
        let key = if self.b.get(stop) == Some(&b'"') {
            self.i = stop + 1;
            // `"` is ASCII, so both ends are character boundaries of the input.
            Cow::Borrowed(&self.s[start..stop])
        } else {
            let mut k = Vec::with_capacity(stop - start + 8);
            self.unescape_into(&mut k, false)?;
            match String::from_utf8(k) {
                Ok(k) => Cow::Owned(k),
                Err(_) => return declined("invalid key", start),
            }
        };
        if self.peek()? != b':' {
            return declined("expected `:`", self.i);
        }
        self.i += 1;
        Ok(key)
    }

    /// The first byte at or after `self.i` that is `"`, `\` or a control character, or with
    /// `hi` set, a byte ≥ 0x80; the input's length if there is none. Eight bytes at a time.
    #[inline]
    fn scan(&self, hi: u64) -> usize {
        let b = self.b;
        let mut i = self.i;
        while let Some(chunk) = b.get(i..i + 8) {
            let m = stops(
                u64::from_le_bytes(chunk.try_into().expect("eight bytes")),
                hi,
            );
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if is_stop(c, hi) {
                return i;
            }
            i += 1;
        }
        i
    }

    /// A string value (at its peeked `"`), unescaped and appended to `out`.
    #[inline]
    pub fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), Declined> {
        self.i += 1;
        self.unescape_into(out, true)
    }

    /// The rest of a string (after its opening quote) appended to `out`; with `track`, a
    /// byte ≥ 0x80 clears [`Parser::ascii`].
    fn unescape_into(&mut self, out: &mut Vec<u8>, track: bool) -> Result<(), Declined> {
        self.string_rest(out, track, true)
    }

    /// The rest of a string (after its opening quote), checked; with `copy`, appended to `out`
    /// unescaped, else only its escapes pass through `out` (skipping copies nothing).
    fn string_rest(&mut self, out: &mut Vec<u8>, track: bool, copy: bool) -> Result<(), Declined> {
        loop {
            let stop = self.scan(if track && self.ascii { HIGH } else { 0 });
            if copy {
                out.extend_from_slice(&self.b[self.i..stop]);
            }
            self.i = stop;
            match self.b.get(stop) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    if !copy {
                        out.clear();
                    }
                    let c = self.escape(out)?;
                    if track && c >= 0x80 {
                        self.ascii = false;
                    }
                }
                Some(&c) if c >= 0x80 => self.ascii = false,
                Some(_) => return declined("control character in a string", stop),
                None => return declined("unterminated string", stop),
            }
        }
    }

    /// One escape (at its `\`), appended to `out`; returns the code point.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<u32, Declined> {
        let at = self.i;
        let c = match self.b.get(at + 1) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let hi = self.hex4(at + 2)?;
                self.i = at + 6;
                let cp = match hi {
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                            return declined("lone surrogate", at);
                        }
                        let lo = self.hex4(self.i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return declined("lone surrogate", at);
                        }
                        self.i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return declined("lone surrogate", at),
                    cp => cp,
                };
                let ch = char::from_u32(cp).expect("not a surrogate");
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(cp);
            }
            _ => return declined("invalid escape", at),
        };
        out.push(c);
        self.i = at + 2;
        Ok(c as u32)
    }

    fn hex4(&self, at: usize) -> Result<u32, Declined> {
        let Some(h) = self.b.get(at..at + 4) else {
            return declined("short \\u escape", at);
        };
        let mut v = 0;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return declined("invalid \\u escape", at),
            };
            v = v * 16 + d as u32;
        }
        Ok(v)
    }

    /// Where the parser is: a byte offset of the input.
    pub fn pos(&self) -> usize {
        self.i
    }

    /// A string (at its peeked `"`) without escapes, borrowed from the input; declines one
    /// holding an escape or a control character.
    pub fn plain_str(&mut self) -> Result<&'j str, Declined> {
        let start = self.i + 1;
        self.i = start;
        let stop = self.scan(0);
        if self.b.get(stop) != Some(&b'"') {
            return declined("not a plain string", stop);
        }
        self.i = stop + 1;
        // `"` is ASCII, so both ends are character boundaries of the input.
        Ok(&self.s[start..stop])
    }

    /// A string value (at its peeked `"`), borrowed from the input when it holds no escape,
    /// else unescaped into `scratch` (cleared first).
    pub fn string_ref<'s>(&mut self, scratch: &'s mut Vec<u8>) -> Result<&'s str, Declined>
    where
        'j: 's,
    {
        let start = self.i;
        if let Ok(plain) = self.plain_str() {
            return Ok(plain);
        }
        self.i = start + 1;
        scratch.clear();
        self.unescape_into(scratch, false)?;
        std::str::from_utf8(scratch).or_else(|_| declined("invalid UTF-8 in a string", start))
    }

    /// Goes back to `pos` (a position [`Parser::pos`] returned).
    pub fn rewind(&mut self, pos: usize) {
        self.i = pos;
    }

    /// Moves past one value, checking it as strictly as the readers above do, without copying
    /// it anywhere; `scratch` takes the text of escapes and numbers on the way.
    pub fn skip_value(&mut self, scratch: &mut Vec<u8>, depth: u32) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return declined("nesting too deep", self.i);
        }
        match self.peek()? {
            b'{' => {
                let mut key = self.object_first()?;
                while key.is_some() {
                    self.skip_value(scratch, depth + 1)?;
                    key = self.object_next()?;
                }
                Ok(())
            }
            b'[' => {
                let mut more = self.array_first()?;
                while more {
                    self.skip_value(scratch, depth + 1)?;
                    more = self.array_next()?;
                }
                Ok(())
            }
            b'"' => {
                self.i += 1;
                self.string_rest(scratch, false, false)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => {
                scratch.clear();
                self.number_into(scratch)
            }
        }
    }

    /// `true`, `false` or `null` (at its peeked first letter).
    pub fn literal(&mut self, word: &[u8]) -> Result<(), Declined> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return declined("invalid literal", self.i);
        }
        self.i += word.len();
        Ok(())
    }

    /// A number (at its peeked first byte), appended to `out` as `serde_json::Value` prints
    /// it: integers of up to 18 digits as written, every other number through serde_json.
    pub fn number_into(&mut self, out: &mut Vec<u8>) -> Result<(), Declined> {
        let b = self.b;
        let start = self.i;
        let digits = |mut i: usize| {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            i
        };
        let neg = b.get(start) == Some(&b'-');
        let first = start + neg as usize;
        let int_end = match b.get(first) {
            Some(b'0') => first + 1,
            Some(b'1'..=b'9') => digits(first + 1),
            _ => return declined("invalid value", start),
        };
        let mut end = int_end;
        if b.get(end) == Some(&b'.') {
            let e = digits(end + 1);
            if e == end + 1 {
                return declined("invalid number", start);
            }
            end = e;
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(b.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            let d = digits(e);
            if d == e {
                return declined("invalid number", start);
            }
            end = d;
        }
        self.i = end;
        let plain = end == int_end && int_end - first <= 18 && !(neg && b[first] == b'0');
        if plain {
            out.extend_from_slice(&b[start..end]);
            return Ok(());
        }
        match serde_json::from_str::<serde_json::Number>(&self.s[start..end]) {
            Ok(n) => {
                let _ = write!(out, "{n}");
                Ok(())
            }
            Err(_) => declined("number out of range", start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(json: &str) -> Result<(Vec<u8>, bool), Declined> {
        let mut p = Parser::new(json);
        let mut out = Vec::new();
        assert_eq!(p.peek()?, b'"');
        p.string_into(&mut out)?;
        p.end()?;
        Ok((out, p.ascii))
    }

    fn number(json: &str) -> Result<String, Declined> {
        let mut p = Parser::new(json);
        let mut out = Vec::new();
        p.peek()?;
        p.number_into(&mut out)?;
        p.end()?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn strings_unescape_as_serde_json_does() {
        for json in [
            r#""""#,
            r#""plain text, long enough for several words""#,
            r#""C:\\Windows\\System32\\cmd.exe /c \"whoami\"""#,
            r#""\/\b\f\n\r\t\u0041\u00e9\u4e2d\ud83d\ude00""#,
            "\"tiếng Việt có dấu and then ASCII again, more than eight bytes\"",
            r#""ends with an escape \\""#,
        ] {
            let want: String = serde_json::from_str(json).expect("valid");
            let (got, ascii) = string(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(got, want.as_bytes(), "{json}");
            assert_eq!(ascii, want.is_ascii(), "{json}");
        }
    }

    #[test]
    fn strings_serde_json_rejects_are_declined() {
        for json in [
            "\"raw\ttab\"",
            "\"raw\nnewline in a long string\"",
            r#""unterminated"#,
            r#""bad \x escape""#,
            r#""lone \ud83d surrogate""#,
            r#""lone \ude00 surrogate""#,
            r#""short \u12""#,
            r#""a" trailing"#,
        ] {
            assert!(serde_json::from_str::<String>(json).is_err(), "{json}");
            assert!(string(json).is_err(), "{json} was accepted");
        }
    }

    #[test]
    fn numbers_print_as_the_value_does() {
        for json in [
            "0",
            "7",
            "-7",
            "4688",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "-0",
            "1.5",
            "1.50",
            "-0.0",
            "1e3",
            "1E+3",
            "2.5e-3",
            "1600000000.123456",
        ] {
            let want = serde_json::from_str::<serde_json::Value>(json)
                .expect("valid")
                .to_string();
            assert_eq!(number(json).expect(json), want, "{json}");
        }
        for json in [
            "01", "-", "1.", ".5", "1e", "1e+", "+1", "--1", "1x", "1e400",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_err(),
                "{json}"
            );
            assert!(number(json).is_err(), "{json} was accepted");
        }
    }

    #[test]
    fn skip_value_ends_where_the_value_does_and_rejects_what_serde_json_rejects() {
        for json in [
            r#"{"a": [1, -2.5e3, true, false, null, "x\"y\u00e9"], "b": {}, "c": []}"#,
            r#""tiếng Việt \ud83d\ude00""#,
            "[[[[]]]]",
            "12345678901234567890",
            "{}",
        ] {
            let text = format!("{json} ,");
            let mut p = Parser::new(&text);
            p.skip_value(&mut Vec::new(), 1).expect(json);
            assert_eq!(p.pos(), json.len(), "{json}");
            assert_eq!(p.peek().unwrap(), b',');
            serde_json::from_str::<serde::de::IgnoredAny>(json).expect("valid");
        }
        let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
        for json in [
            "{\"a\" 1}",
            "[1,]",
            "{\"a\":1,}",
            "\"tab\there\"",
            r#""lone \ud83d""#,
            "tru",
            "01",
            "[1 2]",
            deep.as_str(),
        ] {
            let mut p = Parser::new(json);
            let skipped = p.skip_value(&mut Vec::new(), 1).and_then(|()| p.end());
            assert!(skipped.is_err(), "{json} was accepted");
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_err(),
                "{json}"
            );
        }
    }
}
