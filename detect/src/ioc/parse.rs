//! Line lists (plain and maltrail) and the CSV tokenizer MISP exports need.
//!
//! A line list has one indicator per line; `#` starts a comment at the beginning of a line or
//! after whitespace (`xn--ker-ina.hu    # was: keró.hu`), blank lines are ignored, and each
//! indicator's type is detected on its own ([`super::indicator`]). maltrail trail files are
//! line lists whose family is the file name; they write URLs without a scheme
//! (`host/path`), endpoints as `ip:port`, and URL paths alone (`/gate.php`).

use std::path::Path;

use super::collect::Collector;
use super::indicator::{classify, domain_regex, is_regex_trail};

/// The line without its comment, trimmed; `None` for a blank or comment line.
fn content(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let bytes = t.as_bytes();
    let cut = (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace())
        .unwrap_or(bytes.len());
    Some(t[..cut].trim_end())
}

/// Reads a line list into the collector, every indicator under `label`. `regex_trails`: a
/// value that is no indicator but has regex characters is a maltrail regex trail.
pub(crate) fn parse_lines(
    text: &str,
    path: &Path,
    label: Option<u32>,
    regex_trails: bool,
    c: &mut Collector,
) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let Some(value) = content(line) else {
            c.report.comments += 1;
            continue;
        };
        c.report.records += 1;
        let key = match classify(value) {
            Err(_) if regex_trails && is_regex_trail(value) => domain_regex(value),
            other => other,
        };
        match key {
            Ok(key) => c.add(key, value, label),
            Err(message) => c.warn(path, format!("line {}", i + 1), message),
        }
    }
}

/// One CSV record with the 1-based line it starts on.
pub(crate) struct CsvRecord {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Splits RFC 4180 CSV text into records: `,` separates, `"` quotes (a doubled `""` is a
/// quote), quoted fields may hold commas and newlines, `\r\n` and `\n` end records, blank lines
/// are skipped. An unterminated quote is an error naming the line it opened on.
pub(crate) fn csv_records(text: &str) -> Result<Vec<CsvRecord>, (u64, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1u64;
    let mut start_line = 1u64;
    let mut quoted = false;
    let mut quote_line = 0;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match ch {
            '"' if at_field_start => {
                quoted = true;
                quote_line = line;
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    out.push(CsvRecord {
                        line: start_line,
                        fields: std::mem::take(&mut fields),
                    });
                }
                fields.clear();
                line += 1;
                start_line = line;
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err((quote_line, "unterminated quoted field".into()));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push(CsvRecord {
            line: start_line,
            fields,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::collect::Collector;
    use crate::ioc::indicator::IndicatorKind;

    #[test]
    fn comments_and_inline_comments() {
        assert_eq!(content("# Reference: x"), None);
        assert_eq!(content("   "), None);
        assert_eq!(content(" # Masterlist"), None);
        assert_eq!(
            content("xn--ker-ina.hu    # was: keró.hu"),
            Some("xn--ker-ina.hu")
        );
        assert_eq!(content("http://a.example/#x"), Some("http://a.example/#x"));
        assert_eq!(content("kckaa.com "), Some("kckaa.com"));
    }

    #[test]
    fn maltrail_shapes() {
        let text = "# Copyright (c) 2014-2026 Maltrail developers\n\n# Reference: r\n\
                    201.137.231.132:8888\nletshack.ddns.net\nhttp://101.35.159.51\n\
                    capecod-junk.com/qwj/39f/cxbk6k0w4cc\n/365-Stealer/\n\
                    [2a01:7e01::f03c:91ff:feac:f30f]:8080\nnot a domain\n\
                    q(l|r)[0-9]{5,6}\\.pw\n";
        let mut c = Collector::new("t");
        parse_lines(text, Path::new("sliver.txt"), None, true, &mut c);
        let kinds: Vec<_> = c.entries.iter().map(|e| e.key.kind()).collect();
        use IndicatorKind::*;
        assert_eq!(
            kinds,
            vec![IpPort, Domain, Ip, Url, UrlPath, IpPort, DomainRegex]
        );
        assert_eq!(c.report.records, 8);
        assert_eq!(c.report.comments, 3);
        assert_eq!(c.report.skipped, 1);
        assert_eq!(c.report.warnings[0].location, "line 10");
    }

    #[test]
    fn csv_quotes_and_newlines() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n1,,3";
        let r = csv_records(text).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].fields, vec!["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(r[1].line, 2);
        assert_eq!(r[2].line, 5);
        assert_eq!(r[2].fields, vec!["1", "", "3"]);
        assert_eq!(csv_records("a,\"b\n").err().unwrap().0, 1);
    }
}
