//! `canhgac stats` and `canhgac search` over an index built from a fixed set of detections:
//! golden files for the monthly table, CSV and JSON (month-over-month and year-over-year
//! changes to two decimals, an empty month, a change from 0), and search output and errors.
//!
//! Regenerate the golden files with `CANHGAC_UPDATE_GOLDEN=1 cargo test --test tests index_cli::`
//! and review the diff.

use crate::support::{build_golden_index as build_index, golden, run_canhgac as run};

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
    // The headline and its changes are the attacks of the national classes: 404 a year before
    // (only its categories are read), 522 in March, 470 in April.
    let national: Vec<u64> = months
        .iter()
        .map(|m| m["national"].as_u64().unwrap())
        .collect();
    assert_eq!(national, [18, 0, 522, 470]);
    assert_eq!(months[3]["year_ago"], serde_json::json!(404));
    assert_eq!(months[3]["change_mom_pct"], serde_json::json!(-9.96));
    assert_eq!(months[3]["change_yoy_pct"], serde_json::json!(16.34));
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

/// An index built by the previous version is refused with the command to run; `canhgac index
/// upgrade --local-log` turns its statuses and notes into lifecycle records (once, however often
/// it runs), and `canhgac run` rebuilds the index with them.
#[test]
fn an_old_index_is_upgraded_into_lifecycle_records() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("index");
    std::fs::create_dir(&old).unwrap();
    let d = canhgac_index::synth::month_corpus(202610, 1, 7).remove(0);
    canhgac_index::synth::write_v2_index(
        &old,
        &[serde_json::json!({
            "id": d.incident_id, "agency": d.agency, "first_detection": d.id, "count": 1,
            "status": "resolved",
            "history": [
                {"status": "acknowledged", "note": "đang xử lý", "by": "Lan", "at": "2026-10-02T01:00:00Z"},
                {"status": "resolved", "note": "đã khôi phục", "by": "Lan", "at": "2026-10-03T01:00:00Z"}
            ]
        })],
    );
    let old_s = old.to_str().unwrap();
    let (code, _, err) = run(&["stats", "--index", old_s, "--month", "2026-10"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("schema version 2") && err.contains("canhgac index upgrade"),
        "{err}"
    );
    let log = dir.path().join("incident-events.jsonl");
    let log_s = log.to_str().unwrap();
    for _ in 0..2 {
        let (code, _, err) = run(&["index", "upgrade", "--index", old_s, "--local-log", log_s]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("2 records"), "{err}");
    }
    let lines: Vec<canhgac_core::lifecycle::IncidentEvent> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| canhgac_core::lifecycle::IncidentEvent::from_json(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the second run adds nothing");
    assert!(lines.iter().all(|r| r.by.name == "Lan" && r.anchor == d.id));
    assert_eq!(lines[1].action.text(), "đã khôi phục");
    let (code, _, err) = run(&["index", "upgrade", "--index", old_s]);
    assert_eq!(code, 2, "neither a broker nor a local log: {err}");
}
