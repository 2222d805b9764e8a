//! `canhgac stats` and `canhgac search` over an index built from a fixed set of detections:
//! golden files for the monthly table, CSV and JSON (month-over-month and year-over-year
//! changes to two decimals, an empty month, a change from 0), and search output and errors.
//!
//! Regenerate the golden files with `CANHGAC_UPDATE_GOLDEN=1 cargo test --test index_cli`
//! and review the diff.

mod support;

use std::path::Path;

use canhgac_index::synth::month_corpus;
use canhgac_index::{Indexer, IndexerOptions};
use support::canhgac;

/// 2021-04: 800 incidents (the year-ago month of April 2022); 2022-01: 20; 2022-02: none;
/// 2022-03: 1,035; 2022-04: 938. Incidents have 1–3 detections, some of which fall in the next
/// month; the whole corpus is indexed twice (a replay).
fn build_index(dir: &Path) {
    let mut ds = Vec::new();
    for (month, n, salt) in [
        (202104, 800, 1),
        (202201, 20, 2),
        (202203, 1035, 3),
        (202204, 938, 4),
    ] {
        ds.extend(month_corpus(month, n, salt));
    }
    let mut ix = Indexer::open(
        dir,
        IndexerOptions {
            threads: 1,
            heap_bytes: 50 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for d in &ds {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    for d in ds.iter().rev() {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
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
fn monthly_statistics_match_the_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    build_index(dir.path());
    let index = dir.path().to_str().unwrap();
    let base = [
        "stats",
        "--index",
        index,
        "--month",
        "2022-04",
        "--months",
        "4",
        "--by",
        "category,agency",
    ];
    for (format, file) in [
        ("table", "stats.txt"),
        ("csv", "stats.csv"),
        ("json", "stats.json"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--format", format]);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        golden(file, &stdout);
    }
    // The figures the golden files must show.
    let (_, json, _) = run(&[&base[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let months = v["months"].as_array().unwrap();
    let totals: Vec<u64> = months
        .iter()
        .map(|m| m["incidents"].as_u64().unwrap())
        .collect();
    assert_eq!(totals, [20, 0, 1035, 938]);
    assert_eq!(months[3]["change_mom_pct"], serde_json::json!(-9.37));
    assert_eq!(months[3]["change_yoy_pct"], serde_json::json!(17.25));
    assert_eq!(months[1]["change_mom_pct"], serde_json::json!(-100.0));
    assert!(
        months[2]["change_mom_pct"].is_null(),
        "a change from 0 is n/a"
    );
    // One agency's view, and a single month.
    let (code, stdout, _) = run(&[
        "stats", "--index", index, "--month", "2022-04", "--agency", "byt", "--format", "csv",
    ]);
    assert_eq!(code, 0);
    golden("stats-byt.csv", &stdout);
    let (code, _, stderr) = run(&["stats", "--index", index, "--month", "2022-13"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn search_output_paging_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    build_index(dir.path());
    let index = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "search",
        "--index",
        index,
        "--from",
        "2022-04-01",
        "--to",
        "2022-04-30",
        "--agency",
        "byt",
        "--category",
        "deface",
        "--facets",
        "--limit",
        "5",
        "tan cong",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let first = stdout.lines().next().unwrap();
    assert!(first.ends_with("matching incidents"), "{stdout}");
    assert!(stdout.contains("category: deface"), "{stdout}");
    let cursor = stdout
        .lines()
        .find_map(|l| l.strip_prefix("next page: --cursor "))
        .expect("a next page");
    let (code, page2, stderr) = run(&[
        "search",
        "--index",
        index,
        "--from",
        "2022-04-01",
        "--to",
        "2022-04-30",
        "--agency",
        "byt",
        "--category",
        "deface",
        "--limit",
        "5",
        "--cursor",
        cursor,
        "--format",
        "jsonl",
        "tấn công",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(page2.lines().count(), 5);
    for l in page2.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["kind"], "incident");
        assert_eq!(v["agency"], "byt");
        assert_eq!(v["category"], "deface");
        assert!(
            !stdout.contains(v["id"].as_str().unwrap()),
            "page 2 repeats page 1"
        );
    }
    let id = serde_json::from_str::<serde_json::Value>(page2.lines().next().unwrap()).unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, detail, stderr) = run(&["search", "--index", index, "--incident", &id]);
    assert_eq!(code, 0, "{stderr}");
    assert!(detail.contains("detections:"), "{detail}");
    let (code, _, stderr) = run(&["search", "--index", index, "title:(tấn"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("invalid query at character") && stderr.contains('^'),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["search", "--index", index, "nofield:x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown field \"nofield\""), "{stderr}");
}
