//! `canhgac report` over the index of `index_cli.rs` (the same synthetic corpus): golden files
//! for HTML, Markdown and CSV in Vietnamese and English.
//!
//! Regenerate the golden files with `CANHGAC_UPDATE_GOLDEN=1 cargo test --test report_cli`
//! and review the diff.

mod support;

use std::path::Path;

use canhgac_index::synth::month_corpus;
use canhgac_index::{Indexer, IndexerOptions};
use support::canhgac;

/// 2021-04: 800 incidents; 2022-01: 20; 2022-02: none; 2022-03: 1,035; 2022-04: 938 (as in
/// `index_cli.rs`).
fn build_index(dir: &Path) {
    let mut ix = Indexer::open(
        dir,
        IndexerOptions {
            threads: 1,
            heap_bytes: 50 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for (month, n, salt) in [
        (202104, 800, 1),
        (202201, 20, 2),
        (202203, 1035, 3),
        (202204, 938, 4),
    ] {
        for d in month_corpus(month, n, salt) {
            ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
        }
    }
    ix.commit().unwrap();
    ix.close().unwrap();
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CANHGAC_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (CANHGAC_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{name} differs from the golden file");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = canhgac().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn monthly_report_matches_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    build_index(dir.path());
    let index = dir.path().to_str().unwrap();
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/agencies.example.toml");
    for (lang, format, ext) in [
        ("vi", "html", "html"),
        ("en", "html", "html"),
        ("vi", "md", "md"),
        ("en", "md", "md"),
        ("vi", "csv", "csv"),
        ("en", "csv", "csv"),
    ] {
        let (code, stdout, stderr) = run(&[
            "report",
            "--index",
            index,
            "--month",
            "2022-04",
            "--lang",
            lang,
            "--format",
            format,
            "--registry",
            registry,
        ]);
        assert_eq!(code, 0, "{stderr}");
        golden(&format!("report-2022-04.{lang}.{ext}"), &stdout);
    }
    // The figures the reports must show.
    let (_, en, _) = run(&[
        "report", "--index", index, "--month", "2022-04", "--lang", "en", "--format", "md",
    ]);
    assert!(
        en.contains("938 attacks causing incidents in April 2022, down 9.37% from March 2022"),
        "{en}"
    );
    let (_, vi, _) = run(&[
        "report", "--index", index, "--month", "2022-04", "--lang", "vi", "--format", "html",
    ]);
    assert!(vi.contains("giảm 9,37% so với tháng 03/2022"), "{vi}");
    assert!(vi.contains("<svg") && vi.contains("<rect"), "inline chart");
    assert!(
        !vi.contains("src=") && !vi.contains("<link"),
        "nothing fetched from outside"
    );
    // One agency, to a file.
    let out = dir.path().join("byt.csv");
    let (code, _, stderr) = run(&[
        "report",
        "--index",
        index,
        "--month",
        "2022-04",
        "--lang",
        "en",
        "--format",
        "csv",
        "--agency",
        "byt",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(&out).unwrap();
    golden("report-2022-04-byt.en.csv", &csv);
    assert!(csv
        .lines()
        .filter(|l| l.starts_with("agency,"))
        .all(|l| l.starts_with("agency,byt,")));
    let (code, _, _) = run(&["report", "--index", index, "--month", "2022-13"]);
    assert_eq!(code, 2);
}
