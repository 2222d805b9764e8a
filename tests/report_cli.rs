//! `canhgac report` over the index of `index_cli.rs` (`support::build_golden_index`): golden
//! files for HTML, Markdown and CSV in Vietnamese and English.
//!
//! Regenerate the golden files with `CANHGAC_UPDATE_GOLDEN=1 cargo test --test tests report_cli::`
//! and review the diff.

use crate::support::{build_golden_index as build_index, golden, run_canhgac as run};

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
