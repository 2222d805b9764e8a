//! `canhgac report` over the bulletin corpus (`canhgac_index::bulletin`: 938 attacks of the
//! national classes in April 2022, 1,035 in March, other categories beside them): golden files
//! of every format in Vietnamese and English, the same figures read back out of each, periods,
//! and issuing a month (frozen, never replaced, explained when late data arrives).
//!
//! The API's and the web UI's renderings of the same corpus are compared with these golden
//! files in `serve/tests/report_golden.rs`.
//!
//! Regenerate the golden files with `CANHGAC_UPDATE_GOLDEN=1 cargo test --test tests report_cli::`
//! and review the diff.

use std::path::Path;

use canhgac_index::bulletin::{self, figures};
use canhgac_index::{Indexer, IndexerOptions};

use crate::support::{golden, run_canhgac as run};

/// The bulletin corpus indexed at `dir`.
pub fn build_bulletin_index(dir: &Path) {
    let mut ix = Indexer::open(
        dir,
        IndexerOptions {
            threads: 1,
            heap_bytes: 50 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for d in bulletin::corpus() {
        ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    ix.close().unwrap();
}

fn report(index: &str, extra: &[&str]) -> String {
    let mut args = vec!["report", "--index", index];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

#[test]
fn every_format_carries_the_same_figures_and_matches_its_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("index");
    build_bulletin_index(&idx);
    let index = idx.to_str().unwrap();
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/agencies.example.toml");
    for lang in ["vi", "en"] {
        let mut seen = Vec::new();
        for (format, ext) in [
            ("json", "json"),
            ("csv", "csv"),
            ("html", "html"),
            ("md", "md"),
        ] {
            // Without a registry, as the API renders it (serve/tests/report_golden.rs compares
            // the API's and the web UI's renderings with these files).
            let out = report(
                index,
                &["--period", "2022-04", "--lang", lang, "--format", format],
            );
            golden(&format!("report-2022-04.{lang}.{ext}"), &out);
            let f = match format {
                "json" => figures::from_json(&out),
                "csv" => figures::from_csv(&out),
                "html" => figures::from_html(&out),
                _ => figures::from_markdown(&out),
            };
            seen.push((format, f));
        }
        let (_, json) = &seen[0];
        assert_eq!(json["headline.national.current"], 938);
        assert_eq!(json["headline.national.previous"], 1035);
        assert_eq!(json["trend.2022-04.other"], 45);
        assert!(json.len() > 60, "{json:?}");
        for (format, f) in &seen[1..] {
            assert_eq!(
                f, json,
                "{lang} {format} figures differ from the JSON model's"
            );
        }
    }
    // With the registry: agencies' names and kinds.
    let en = report(
        index,
        &[
            "--period",
            "2022-04",
            "--lang",
            "en",
            "--format",
            "md",
            "--registry",
            registry,
        ],
    );
    golden("report-2022-04-registry.en.md", &en);
    // The same as JSON, which the API must render byte for byte when given the registry
    // (serve/tests/report_golden.rs).
    let json = report(
        index,
        &[
            "--period",
            "2022-04",
            "--lang",
            "en",
            "--format",
            "json",
            "--registry",
            registry,
        ],
    );
    golden("report-2022-04-registry.en.json", &json);
    assert!(en.contains("| ministry | ministry |"), "{en}");
    assert!(en.contains("| bca | bca |"), "not in the registry: {en}");
    assert!(en.contains("| byt | Ministry of Health |"), "{en}");
    assert!(
        en.contains(
            "938 attacks causing incidents were recorded, warned about and guided in April \
             2022, down 9.37% from March 2022: 313 phishing, 313 defacement and 312 malware. \
             A further 45 incidents of other categories are not part of this figure."
        ),
        "{en}"
    );
    let vi = report(
        index,
        &["--month", "2022-04", "--lang", "vi", "--format", "html"],
    );
    assert!(vi.contains("938 cuộc tấn công mạng gây ra sự cố, giảm 9,37% so với tháng 03/2022"));
    assert!(vi.contains("<svg") && vi.contains("<rect"), "inline chart");
    assert!(
        !vi.contains("src=") && !vi.contains("<link"),
        "nothing fetched from outside"
    );
    // A quarter, against the previous quarter; one agency, to a file.
    let q = report(
        index,
        &["--period", "2022-Q2", "--lang", "en", "--format", "json"],
    );
    golden("report-2022-Q2.en.json", &q);
    let q = figures::from_json(&q);
    assert_eq!(q["headline.national.current"], 938);
    assert_eq!(q["headline.national.previous"], 1055);
    let out = dir.path().join("byt.csv");
    report(
        index,
        &[
            "--period",
            "2022-04",
            "--lang",
            "en",
            "--format",
            "csv",
            "--agency",
            "byt",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    golden("report-2022-04-byt.en.csv", &csv);
    assert!(csv
        .lines()
        .filter(|l| l.starts_with("agency,"))
        .all(|l| l.starts_with("agency,byt,")));
    for bad in ["2022-13", "2022-Q5"] {
        let (code, _, stderr) = run(&["report", "--index", index, "--period", bad]);
        assert_eq!(code, 2, "{bad}: {stderr}");
    }
    let (code, help, _) = run(&["report", "--help"]);
    assert_eq!(code, 0);
    assert!(
        help.contains("The headline is the national total"),
        "{help}"
    );
}

#[test]
fn an_issued_month_is_never_replaced_and_later_reports_say_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("index");
    build_bulletin_index(&idx);
    let index = idx.to_str().unwrap();
    let (code, _, stderr) = run(&[
        "report", "--index", index, "--period", "2022-04", "--issue", "--format", "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("issued 2022-04: headline 938, 983 incidents"),
        "{stderr}"
    );
    let file = dir.path().join("reports/202204.json");
    let issued = std::fs::read_to_string(&file).unwrap();
    let snap: serde_json::Value = serde_json::from_str(&issued).unwrap();
    assert_eq!(snap["headline"], 938);
    assert_eq!(snap["incidents"].as_array().unwrap().len(), 983);
    let (code, _, stderr) = run(&["report", "--index", index, "--period", "2022-04", "--issue"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("never replaced"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), issued, "unchanged");
    // Nothing changed yet.
    let md = report(
        index,
        &["--period", "2022-04", "--lang", "en", "--format", "md"],
    );
    assert!(
        md.contains("with a headline of 938; it is 938 now. 0 changes"),
        "{md}"
    );
    // Late data: an April attack indexed after the issue.
    let mut ix = Indexer::open(&idx, IndexerOptions::default()).unwrap();
    for d in bulletin::attack(202204, 7000, false) {
        ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    ix.close().unwrap();
    let md = report(
        index,
        &["--period", "2022-04", "--lang", "en", "--format", "md"],
    );
    assert!(
        md.contains("with a headline of 938; it is 939 now. 1 changes"),
        "{md}"
    );
    assert!(
        md.contains(
            "| added | bca | deface | late data: detected before the issue, indexed after it |"
        ),
        "{md}"
    );
    let csv = report(
        index,
        &["--period", "2022-04", "--lang", "en", "--format", "csv"],
    );
    assert!(csv.contains("since_issue,issued_headline,"), "{csv}");
}
