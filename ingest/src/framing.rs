//! Splitting a byte stream into records.
//!
//! A [`Framer`] reads a [`BufRead`] and hands out one record at a time, each with the byte
//! offset of its first byte and its 1-based line number. Three framings:
//!
//! - [`Framing::Lines`]: one record per line. `\n` and `\r\n` both end a line; empty lines are
//!   skipped (they still count for line numbers). A line longer than the maximum record length
//!   becomes a `too_long` error and reading resumes after its newline; the line is never held
//!   in memory whole.
//! - [`Framing::JsonValues`]: concatenated JSON objects or arrays, pretty-printed or not
//!   (`evtx_dump` without `-o jsonl`). A brace- and string-aware scanner finds each value; the
//!   record's offset is the offset of its `{`. A value cut short is reported as `truncated` and
//!   the scanner resynchronises on the next `{` at the start of a line.
//! - [`Framing::Whole`]: the whole input is one record (`.eml`).
//!
//! Records borrow the framer: on the hot path a line that lies inside the reader's buffer is
//! returned without copying; otherwise it is gathered in one reused buffer.
//!
//! Offsets count bytes of the stream the framer reads (the decompressed stream for `.gz`).

use std::io::{self, BufRead};

use memchr::memchr;

use crate::error::{DecodeError, ErrorKind};

/// Default maximum record length: 1 MiB.
pub const DEFAULT_MAX_RECORD_LEN: usize = 1 << 20;

/// Default maximum size of a whole-file record (`.eml`): 64 MiB.
pub const DEFAULT_MAX_WHOLE_LEN: usize = 64 << 20;

/// How much of a bad record is kept in a [`FrameError`] for the DLQ.
pub const ERROR_SAMPLE_LEN: usize = 4096;

/// How a stream is split into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    Lines,
    JsonValues,
    Whole,
}

/// What the framer does with bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Utf8Policy {
    /// A record that is not valid UTF-8 becomes an `invalid_utf8` error naming the line.
    Strict,
    /// Records pass as bytes; the decoder replaces invalid sequences with U+FFFD. Used for
    /// text logs (web, syslog), where raw bytes sent by scanners are evidence worth keeping.
    Lossy,
}

/// Framer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    pub framing: Framing,
    /// Longest record accepted, in bytes (without the line terminator).
    pub max_record_len: usize,
    pub utf8: Utf8Policy,
}

impl FramerConfig {
    pub fn new(framing: Framing) -> Self {
        let max_record_len = match framing {
            Framing::Whole => DEFAULT_MAX_WHOLE_LEN,
            Framing::Lines | Framing::JsonValues => DEFAULT_MAX_RECORD_LEN,
        };
        FramerConfig {
            framing,
            max_record_len,
            utf8: Utf8Policy::Strict,
        }
    }

    pub fn max_record_len(mut self, max: usize) -> Self {
        self.max_record_len = max.max(1);
        self
    }

    pub fn utf8(mut self, policy: Utf8Policy) -> Self {
        self.utf8 = policy;
        self
    }
}

/// One record: its bytes (without the line terminator) and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Byte offset of the record's first byte.
    pub offset: u64,
    /// 1-based line number of the record's first byte.
    pub line: u64,
    pub bytes: &'a [u8],
}

/// A stretch of input that is not a record: it goes to the DLQ, and the next record is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub offset: u64,
    pub line: u64,
    pub error: DecodeError,
    /// The first bytes of the bad stretch (at most [`ERROR_SAMPLE_LEN`]).
    pub sample: Vec<u8>,
}

/// What [`Framer::next_frame`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Record(Record<'a>),
    Error(FrameError),
}

/// Splits a [`BufRead`] into records (see the module docs).
pub struct Framer<R> {
    reader: R,
    cfg: FramerConfig,
    buf: Vec<u8>,
    /// Offset of the next unread byte.
    offset: u64,
    /// Line number of the next unread byte.
    line: u64,
    /// Bytes of the reader's buffer handed out by the last record, to consume on the next call.
    pending: usize,
    /// Whether the previous byte consumed was `\n` (or nothing was consumed yet).
    at_line_start: bool,
    /// JSON scanner: a value that began at column 0 while another was open, carried over.
    carried: Option<(u64, u64)>,
    done: bool,
}

impl<R: BufRead> Framer<R> {
    pub fn new(reader: R, cfg: FramerConfig) -> Self {
        Framer {
            reader,
            cfg,
            buf: Vec::new(),
            offset: 0,
            line: 1,
            pending: 0,
            at_line_start: true,
            carried: None,
            done: false,
        }
    }

    /// Starts counting at a known position (resuming a file at a checkpoint): `offset` and
    /// `line` are those of the reader's next byte, which must be at the start of a line.
    pub fn with_position(mut self, offset: u64, line: u64) -> Self {
        self.offset = offset;
        self.line = line.max(1);
        self
    }

    pub fn config(&self) -> &FramerConfig {
        &self.cfg
    }

    /// Offset of the first byte not yet handed out: where a checkpoint taken after the last
    /// record would resume.
    pub fn position(&self) -> (u64, u64) {
        (self.offset, self.line)
    }

    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The next record or bad stretch; `Ok(None)` at the end of the input. An `Err` is an I/O
    /// error of the reader, not of the data.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        if self.pending > 0 {
            self.reader.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        match self.cfg.framing {
            Framing::Lines => self.next_line(),
            Framing::JsonValues => self.next_json(),
            Framing::Whole => self.next_whole(),
        }
    }

    fn next_line(&mut self) -> io::Result<Option<Frame<'_>>> {
        let max = self.cfg.max_record_len;
        let (offset, line, len) = loop {
            // Fast path: the whole line is in the reader's buffer.
            let fast = {
                let avail = self.reader.fill_buf()?;
                if avail.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                memchr(b'\n', avail)
                    .map(|i| (i, trim_cr(&avail[..i]).len()))
                    .filter(|&(_, len)| len <= max)
            };
            if let Some((i, len)) = fast {
                let (offset, line) = (self.offset, self.line);
                self.offset += i as u64 + 1;
                self.line += 1;
                if len == 0 {
                    self.reader.consume(i + 1);
                    continue;
                }
                self.pending = i + 1;
                let policy = self.cfg.utf8;
                let avail = self.reader.fill_buf()?;
                return Ok(Some(record_frame(policy, offset, line, &avail[..len])));
            }
            // Slow path: gather the line across reads, keeping at most `max + 1` bytes (the
            // extra one may be the `\r` of a CRLF).
            let (offset, line) = (self.offset, self.line);
            self.buf.clear();
            let mut total: u64 = 0;
            let mut last: u8 = 0;
            let mut saw_newline = false;
            loop {
                let avail = self.reader.fill_buf()?;
                if avail.is_empty() {
                    break;
                }
                let (take, found) = match memchr(b'\n', avail) {
                    Some(i) => (i, true),
                    None => (avail.len(), false),
                };
                let room = (max + 1).saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&avail[..room.min(take)]);
                if take > 0 {
                    last = avail[take - 1];
                }
                total += take as u64;
                let used = take + usize::from(found);
                self.reader.consume(used);
                self.offset += used as u64;
                if found {
                    saw_newline = true;
                    self.line += 1;
                    break;
                }
            }
            if !saw_newline {
                self.done = true;
                if total == 0 {
                    return Ok(None);
                }
            }
            let len = total - u64::from(last == b'\r');
            if len > max as u64 {
                return Ok(Some(Frame::Error(FrameError {
                    offset,
                    line,
                    error: DecodeError::new(
                        ErrorKind::TooLong,
                        format!("line {line} exceeds {max} bytes ({len} bytes)"),
                    ),
                    sample: sample(&self.buf),
                })));
            }
            if len == 0 {
                if self.done {
                    return Ok(None);
                }
                continue;
            }
            break (offset, line, len as usize);
        };
        Ok(Some(record_frame(
            self.cfg.utf8,
            offset,
            line,
            &self.buf[..len],
        )))
    }

    fn next_whole(&mut self) -> io::Result<Option<Frame<'_>>> {
        self.done = true;
        let max = self.cfg.max_record_len;
        self.buf.clear();
        let mut total: u64 = 0;
        loop {
            let avail = self.reader.fill_buf()?;
            if avail.is_empty() {
                break;
            }
            let n = avail.len();
            if self.buf.len() < max + 1 {
                let room = max + 1 - self.buf.len();
                self.buf.extend_from_slice(&avail[..room.min(n)]);
            }
            total += n as u64;
            self.reader.consume(n);
        }
        self.offset += total;
        if total == 0 {
            return Ok(None);
        }
        if total as usize > max {
            return Ok(Some(Frame::Error(FrameError {
                offset: 0,
                line: 1,
                error: DecodeError::new(
                    ErrorKind::TooLong,
                    format!("input of {total} bytes exceeds {max} bytes"),
                ),
                sample: sample(&self.buf),
            })));
        }
        if let Some(e) = check_utf8(self.cfg.utf8, 0, 1, &self.buf) {
            return Ok(Some(Frame::Error(e)));
        }
        Ok(Some(Frame::Record(Record {
            offset: 0,
            line: 1,
            bytes: &self.buf,
        })))
    }

    fn next_json(&mut self) -> io::Result<Option<Frame<'_>>> {
        let max = self.cfg.max_record_len;
        // Find the start of the next value, skipping whitespace and reporting stray text.
        let (start_off, start_line) = match self.carried.take() {
            Some(pos) => {
                self.buf.clear();
                self.buf.push(b'{');
                pos
            }
            None => loop {
                let avail = self.reader.fill_buf()?;
                if avail.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                let b = avail[0];
                match b {
                    b'{' | b'[' => {
                        let pos = (self.offset, self.line);
                        self.advance(1, b);
                        self.buf.clear();
                        self.buf.push(b);
                        break pos;
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => self.advance(1, b),
                    _ => return self.skip_stray_line().map(Some),
                }
            },
        };
        let mut depth: usize = 1;
        let mut in_string = false;
        let mut escape = false;
        let mut broken = false;
        let mut overflow = false;
        let mut len: u64 = 1;
        loop {
            let avail = self.reader.fill_buf()?;
            if avail.is_empty() {
                self.done = true;
                let error = DecodeError::new(
                    ErrorKind::Truncated,
                    format!("line {start_line}: JSON value is truncated at the end of the input"),
                );
                return Ok(Some(Frame::Error(FrameError {
                    offset: start_off,
                    line: start_line,
                    error,
                    sample: sample(&self.buf),
                })));
            }
            let mut i = 0;
            let mut finished = false;
            let mut restart = false;
            let mut at_start = self.at_line_start;
            let mut newlines = 0u64;
            while i < avail.len() {
                let b = avail[i];
                if in_string {
                    if escape {
                        escape = false;
                    } else if b == b'\\' {
                        escape = true;
                    } else if b == b'"' {
                        in_string = false;
                    } else if b == b'\n' {
                        // A raw newline cannot be inside a JSON string: the value is cut.
                        in_string = false;
                        broken = true;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' if at_start => {
                            restart = true;
                            break;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                finished = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if b == b'\n' {
                    newlines += 1;
                    at_start = true;
                } else {
                    at_start = false;
                }
                i += 1;
            }
            if !overflow {
                if self.buf.len() + i > max {
                    overflow = true;
                } else {
                    self.buf.extend_from_slice(&avail[..i]);
                }
            }
            len += i as u64;
            self.reader.consume(i);
            self.offset += i as u64;
            self.line += newlines;
            self.at_line_start = at_start;
            if restart {
                // A `{` at column 0 inside an open value: the open value was cut short and a
                // new one starts here.
                self.carried = Some((self.offset, self.line));
                self.reader.consume(1);
                self.offset += 1;
                self.at_line_start = false;
                return Ok(Some(Frame::Error(FrameError {
                    offset: start_off,
                    line: start_line,
                    error: DecodeError::new(
                        ErrorKind::Truncated,
                        format!(
                            "line {start_line}: JSON value is truncated (a new value starts at line {})",
                            self.line
                        ),
                    ),
                    sample: sample(&self.buf),
                })));
            }
            if finished {
                if overflow {
                    return Ok(Some(Frame::Error(FrameError {
                        offset: start_off,
                        line: start_line,
                        error: DecodeError::new(
                            ErrorKind::TooLong,
                            format!(
                                "line {start_line}: JSON value exceeds {max} bytes ({len} bytes)"
                            ),
                        ),
                        sample: sample(&self.buf),
                    })));
                }
                if broken {
                    return Ok(Some(Frame::Error(FrameError {
                        offset: start_off,
                        line: start_line,
                        error: DecodeError::new(
                            ErrorKind::InvalidJson,
                            format!("line {start_line}: JSON string broken by a newline"),
                        ),
                        sample: sample(&self.buf),
                    })));
                }
                if let Some(e) = check_utf8(self.cfg.utf8, start_off, start_line, &self.buf) {
                    return Ok(Some(Frame::Error(e)));
                }
                return Ok(Some(Frame::Record(Record {
                    offset: start_off,
                    line: start_line,
                    bytes: &self.buf,
                })));
            }
        }
    }

    /// Consumes `n` bytes already looked at (the last of which is `last`).
    fn advance(&mut self, n: usize, last: u8) {
        self.reader.consume(n);
        self.offset += n as u64;
        if last == b'\n' {
            self.line += 1;
            self.at_line_start = true;
        } else {
            self.at_line_start = false;
        }
    }

    /// Text outside any JSON value: report the rest of its line and skip it.
    fn skip_stray_line(&mut self) -> io::Result<Frame<'static>> {
        let (offset, line) = (self.offset, self.line);
        let mut kept = Vec::new();
        loop {
            let avail = self.reader.fill_buf()?;
            if avail.is_empty() {
                self.done = true;
                break;
            }
            let (take, found) = match memchr(b'\n', avail) {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            if kept.len() < ERROR_SAMPLE_LEN {
                let room = ERROR_SAMPLE_LEN - kept.len();
                kept.extend_from_slice(&avail[..room.min(take)]);
            }
            let used = take + usize::from(found);
            self.reader.consume(used);
            self.offset += used as u64;
            if found {
                self.line += 1;
                self.at_line_start = true;
                break;
            }
        }
        Ok(Frame::Error(FrameError {
            offset,
            line,
            error: DecodeError::new(
                ErrorKind::InvalidJson,
                format!("line {line}: text outside a JSON value"),
            ),
            sample: kept,
        }))
    }
}

/// An `invalid_utf8` error for a record that is not UTF-8 under [`Utf8Policy::Strict`].
fn check_utf8(policy: Utf8Policy, offset: u64, line: u64, bytes: &[u8]) -> Option<FrameError> {
    if policy == Utf8Policy::Lossy {
        return None;
    }
    let err = std::str::from_utf8(bytes).err()?;
    let at = err.valid_up_to();
    let (bad_line, col) = line_col(bytes, at, line);
    Some(FrameError {
        offset,
        line,
        error: DecodeError::new(
            ErrorKind::InvalidUtf8,
            format!(
                "line {bad_line}: invalid UTF-8 at byte {} (column {col})",
                offset + at as u64
            ),
        ),
        sample: sample(bytes),
    })
}

fn record_frame(policy: Utf8Policy, offset: u64, line: u64, bytes: &[u8]) -> Frame<'_> {
    match check_utf8(policy, offset, line, bytes) {
        Some(e) => Frame::Error(e),
        None => Frame::Record(Record {
            offset,
            line,
            bytes,
        }),
    }
}

fn trim_cr(bytes: &[u8]) -> &[u8] {
    match bytes.last() {
        Some(b'\r') => &bytes[..bytes.len() - 1],
        _ => bytes,
    }
}

fn sample(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(ERROR_SAMPLE_LEN)].to_vec()
}

/// Line and column (1-based) of byte `at` of a record starting at line `first_line`.
fn line_col(bytes: &[u8], at: usize, first_line: u64) -> (u64, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let lines = memchr::memchr_iter(b'\n', before).count() as u64;
    let col = match memchr::memrchr(b'\n', before) {
        Some(i) => at - i,
        None => at + 1,
    };
    (first_line + lines, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Every frame as (offset, line, Ok(bytes) | Err(kind)).
    fn frames(
        input: &[u8],
        cfg: FramerConfig,
        cap: usize,
    ) -> Vec<(u64, u64, Result<Vec<u8>, ErrorKind>)> {
        let mut f = Framer::new(BufReader::with_capacity(cap, input), cfg);
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame().unwrap() {
            out.push(match frame {
                Frame::Record(r) => (r.offset, r.line, Ok(r.bytes.to_vec())),
                Frame::Error(e) => (e.offset, e.line, Err(e.error.kind)),
            });
        }
        out
    }

    fn lines() -> FramerConfig {
        FramerConfig::new(Framing::Lines)
    }

    #[test]
    fn lines_with_crlf_blank_lines_and_no_final_newline() {
        let input = b"a\r\n\r\nbb\n\nccc";
        for cap in [1, 2, 3, 64] {
            let got = frames(input, lines(), cap);
            assert_eq!(
                got,
                vec![
                    (0, 1, Ok(b"a".to_vec())),
                    (5, 3, Ok(b"bb".to_vec())),
                    (9, 5, Ok(b"ccc".to_vec())),
                ],
                "capacity {cap}"
            );
        }
    }

    #[test]
    fn too_long_line_is_an_error_and_reading_resumes() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\nnext\r\n");
        let cfg = lines().max_record_len(10);
        for cap in [4, 8192] {
            let got = frames(&input, cfg, cap);
            assert_eq!(got.len(), 3);
            assert_eq!(got[1], (6, 2, Err(ErrorKind::TooLong)));
            assert_eq!(got[2], (107, 3, Ok(b"next".to_vec())));
        }
        // Exactly the maximum, with CRLF, is accepted.
        let got = frames(b"0123456789\r\n", cfg, 4);
        assert_eq!(got, vec![(0, 1, Ok(b"0123456789".to_vec()))]);
    }

    #[test]
    fn ten_megabyte_line_is_not_buffered() {
        let mut input = vec![b'y'; 10 << 20];
        input.extend_from_slice(b"\n{\"ok\":1}\n");
        let mut f = Framer::new(BufReader::new(&input[..]), lines());
        match f.next_frame().unwrap() {
            Some(Frame::Error(e)) => {
                assert_eq!(e.error.kind, ErrorKind::TooLong);
                assert_eq!(
                    e.error.message,
                    "line 1 exceeds 1048576 bytes (10485760 bytes)"
                );
                assert!(e.sample.len() <= ERROR_SAMPLE_LEN);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            f.buf.capacity() <= DEFAULT_MAX_RECORD_LEN * 2 + 8192,
            "{}",
            f.buf.capacity()
        );
        match f.next_frame().unwrap() {
            Some(Frame::Record(r)) => assert_eq!((r.line, r.bytes), (2, &b"{\"ok\":1}"[..])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let got = frames(b"ok\nbad \xff\xfe here\nok2\n", lines(), 8192);
        assert_eq!(got[1], (3, 2, Err(ErrorKind::InvalidUtf8)));
        assert_eq!(got[2], (15, 3, Ok(b"ok2".to_vec())));
        let mut f = Framer::new(&b"x\n\xc3(\n"[..], lines());
        f.next_frame().unwrap();
        let Some(Frame::Error(e)) = f.next_frame().unwrap() else {
            panic!()
        };
        assert_eq!(
            e.error.message,
            "line 2: invalid UTF-8 at byte 2 (column 1)"
        );
        // Lossy passes the bytes on.
        let got = frames(b"bad \xff\n", lines().utf8(Utf8Policy::Lossy), 8192);
        assert_eq!(got, vec![(0, 1, Ok(b"bad \xff".to_vec()))]);
    }

    fn json() -> FramerConfig {
        FramerConfig::new(Framing::JsonValues)
    }

    #[test]
    fn pretty_printed_values() {
        let input = b"{\n  \"a\": \"}{\\\"\",\n  \"b\": [1, {\"c\": 2}]\n}\n{\n  \"d\": 1\n}";
        for cap in [1, 3, 8192] {
            let got = frames(input, json(), cap);
            assert_eq!(got.len(), 2, "capacity {cap}");
            assert_eq!(got[0].0, 0);
            assert_eq!(got[0].1, 1);
            assert_eq!(got[1].0, 40);
            assert_eq!(got[1].1, 5);
            assert_eq!(got[1].2, Ok(b"{\n  \"d\": 1\n}".to_vec()));
        }
    }

    #[test]
    fn truncated_value_resyncs_on_next_column0_brace() {
        let input =
            b"{\n  \"a\": {\n    \"b\": 1\n{\n  \"ok\": true\n}\ngarbage\n{\"x\": \"unterminated";
        let got = frames(input, json(), 8192);
        let kinds: Vec<_> = got.iter().map(|g| (g.1, g.2.clone().map(|_| ()))).collect();
        assert_eq!(
            kinds,
            vec![
                (1, Err(ErrorKind::Truncated)),
                (4, Ok(())),
                (7, Err(ErrorKind::InvalidJson)),
                (8, Err(ErrorKind::Truncated)),
            ]
        );
        assert_eq!(got[1].2, Ok(b"{\n  \"ok\": true\n}".to_vec()));
    }

    #[test]
    fn json_value_too_long() {
        let input = format!("{{\"a\": \"{}\"}}\n{{\"b\": 1}}", "z".repeat(100));
        let got = frames(input.as_bytes(), json().max_record_len(50), 16);
        assert_eq!(got[0].2, Err(ErrorKind::TooLong));
        assert_eq!(got[1].2, Ok(b"{\"b\": 1}".to_vec()));
    }

    #[test]
    fn whole_input() {
        let got = frames(b"From: a\r\n\r\nbody", FramerConfig::new(Framing::Whole), 3);
        assert_eq!(got, vec![(0, 1, Ok(b"From: a\r\n\r\nbody".to_vec()))]);
        assert!(frames(b"", FramerConfig::new(Framing::Whole), 3).is_empty());
        let got = frames(
            b"0123456789",
            FramerConfig::new(Framing::Whole).max_record_len(4),
            3,
        );
        assert_eq!(got[0].2, Err(ErrorKind::TooLong));
    }
}
