//! Bad input gives a clear error with its line and offset, and reading goes on with the next
//! record.

use std::io::Write;

use crate::support::read;
use canhgac_ingest::{render_error, ErrorKind, Format};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const WIN: &str = r##"{"Event":{"System":{"EventID":4624,"Computer":"DC1","TimeCreated":{"#attributes":{"SystemTime":"2024-01-01T00:00:00Z"}}},"EventData":{"TargetUserName":"a"}}}"##;
const ALERT: &str = r#"{"timestamp":"2024-01-01T00:00:00Z","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"TCP","alert":{"signature":"X","signature_id":1,"category":"c","severity":1}}"#;

#[test]
fn truncated_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("{WIN}\n{}\n{WIN}\n", &WIN[..60]);
    let path = write(&dir, "win.jsonl", input.as_bytes());
    let r = read(&path, Format::Auto);
    assert_eq!(r.format, Format::Windows);
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[1].1, 3);
    assert_eq!(r.errors.len(), 1);
    let (offset, line, e) = &r.errors[0];
    assert_eq!(
        (*offset, *line, e.kind),
        (WIN.len() as u64 + 1, 2, ErrorKind::Truncated)
    );
    let text = render_error("win.jsonl", *line, e);
    assert!(
        text.starts_with("win.jsonl:2: truncated: invalid JSON: EOF while parsing"),
        "{text}"
    );
}

#[test]
fn binary_garbage_and_invalid_utf8_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = Vec::new();
    writeln!(input, "{ALERT}").unwrap();
    input.extend_from_slice(b"\x00\x9f\x92\x96\xff\xfe garbage \x01\x02\n");
    input.extend_from_slice(b"{\"event_type\":\"alert\",\"x\":\"caf\xe9\"}\n");
    writeln!(input, "{ALERT}").unwrap();
    let path = write(&dir, "eve.json", &input);
    let r = read(&path, Format::Suricata);
    assert_eq!(r.events.iter().map(|e| e.1).collect::<Vec<_>>(), vec![1, 4]);
    let kinds: Vec<_> = r.errors.iter().map(|(_, l, e)| (*l, e.kind)).collect();
    assert_eq!(
        kinds,
        vec![(2, ErrorKind::InvalidUtf8), (3, ErrorKind::InvalidUtf8)]
    );
    assert!(
        r.errors[0]
            .2
            .message
            .starts_with("line 2: invalid UTF-8 at byte"),
        "{}",
        r.errors[0].2
    );
    // Text that is UTF-8 but not JSON.
    let path = write(
        &dir,
        "eve2.json",
        format!("{ALERT}\nnot json at all\n{ALERT}\n").as_bytes(),
    );
    let r = read(&path, Format::Suricata);
    assert_eq!((r.events.len(), r.errors.len()), (2, 1));
    assert_eq!(
        (r.errors[0].1, r.errors[0].2.kind),
        (2, ErrorKind::InvalidJson)
    );
}

#[test]
fn ten_megabyte_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = b"Dec 10 06:55:46 LabSZ sshd[1]: Invalid user a from 10.0.0.1\n".to_vec();
    input.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    input.extend_from_slice(b"\nDec 10 06:55:47 LabSZ sshd[1]: Invalid user b from 10.0.0.1\n");
    let path = write(&dir, "auth.log", &input);
    let r = read(&path, Format::Syslog);
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.events[1].1, 3);
    assert_eq!(r.errors.len(), 1);
    let (offset, line, e) = &r.errors[0];
    assert_eq!((*offset, *line, e.kind), (60, 2, ErrorKind::TooLong));
    assert_eq!(
        e.to_string(),
        "too_long: line 2 exceeds 1048576 bytes (10485760 bytes)"
    );
}

#[test]
fn syslog_bad_priority() {
    let dir = tempfile::tempdir().unwrap();
    let input = "<13>Dec 10 06:55:46 h app: ok\n<999>Dec 10 06:55:46 h app: bad\n<x>Dec 10 06:55:46 h app: bad\n<13>Dec 10 06:55:46 h app: ok\n";
    let path = write(&dir, "messages", input.as_bytes());
    let r = read(&path, Format::Auto);
    assert_eq!(r.format, Format::Syslog);
    assert_eq!(r.events.len(), 2);
    let errs: Vec<String> = r
        .errors
        .iter()
        .map(|(_, l, e)| render_error("messages", *l, e))
        .collect();
    assert_eq!(
        errs,
        vec![
            "messages:2: bad_priority: priority <999> is above 191",
            "messages:3: bad_priority: priority <x> is not a number"
        ]
    );
}

#[test]
fn truncated_pretty_printed_json_resumes_at_next_value() {
    let dir = tempfile::tempdir().unwrap();
    let pretty: serde_json::Value = serde_json::from_str(WIN).unwrap();
    let one = serde_json::to_string_pretty(&pretty).unwrap();
    let cut = &one[..one.len() / 2];
    let input = format!("{one}\n{cut}\n{one}\n");
    let path = write(&dir, "events.json", input.as_bytes());
    let r = read(&path, Format::Auto);
    assert_eq!(r.format, Format::Windows);
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.errors.len(), 1);
    let (offset, line, e) = &r.errors[0];
    assert_eq!(e.kind, ErrorKind::Truncated);
    assert_eq!(*offset, one.len() as u64 + 1);
    assert_eq!(*line, one.lines().count() as u64 + 1);
    assert_eq!(r.events[1].0, (one.len() + 1 + cut.len() + 1) as u64);
}

#[test]
fn gzip_is_transparent_and_detection_uses_the_inner_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    writeln!(gz, "{ALERT}\n{{broken\n{ALERT}").unwrap();
    gz.finish().unwrap();
    let r = read(&path, Format::Auto);
    assert_eq!(r.format, Format::Suricata);
    assert_eq!(r.events.len(), 2);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        r.errors[0].0,
        ALERT.len() as u64 + 1,
        "offsets count decompressed bytes"
    );
}

#[test]
fn undetectable_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "blob.bin",
        &[0u8, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9],
    );
    let err = canhgac_ingest::detect(&path).unwrap_err();
    assert!(
        err.to_string().contains("blob.bin") && err.to_string().contains("binary"),
        "{err}"
    );
    let path = write(&dir, "empty.log", b"");
    assert!(canhgac_ingest::detect(&path)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    assert!(
        canhgac_ingest::FileReader::open(&dir.path().join("missing.log"), &Default::default())
            .is_err()
    );
}
