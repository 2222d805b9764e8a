//! `canhgac run`: every stage in one process over the real shared data.
//!
//! - the index holds exactly as many detections as `canhgac hunt` finds matches over the same
//!   files and rules;
//! - SIGKILL in the middle of a run, then run again: the index ends with exactly the incidents
//!   and detection ids of an undisturbed run (end-to-end acknowledgement: a source's checkpoint
//!   never passes an event whose detections are not committed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{canhgac, committed_detections, data_dir, index_contents};

fn inputs() -> Vec<(&'static str, &'static str, PathBuf)> {
    let d = data_dir();
    vec![
        (
            "bca",
            "win-01",
            d.join("windows/evtx-attack-samples.jsonl.gz"),
        ),
        ("byt", "ids-01", d.join("network/suricata/alerts.ndjson")),
        (
            "byt",
            "ids-02",
            d.join("windows/evtx-attack-samples.jsonl.gz"),
        ),
    ]
}

fn rules() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        root.join("rules/sigma"),
        data_dir().join("sigma/rules/rules"),
    ]
}

fn run_cmd(data: &Path) -> Command {
    let mut c = canhgac();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CANHGAC_RUN__COMMIT_INTERVAL_MS", "200")
        .args(["run", "--once", "--listen", "", "--data-dir"])
        .arg(data);
    for r in rules() {
        c.arg("--rules").arg(r);
    }
    for (agency, sensor, path) in inputs() {
        c.arg("--source")
            .arg(format!("{agency}:{sensor}:{}", path.display()));
    }
    c
}

/// Matches `canhgac hunt` finds over each input (the same file under two sensors is two
/// streams of distinct events, so each input is hunted on its own and the counts add up).
fn hunt_matches() -> usize {
    let mut total = 0;
    for (_, _, path) in inputs() {
        let mut c = canhgac();
        c.arg("hunt");
        for r in rules() {
            c.arg("--rules").arg(r);
        }
        let out = c.arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        total += out
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
    }
    total
}

#[test]
fn run_once_indexes_every_match_and_survives_sigkill() {
    let _heavy = crate::support::heavy();
    let reference = tempfile::tempdir().unwrap();
    let out = run_cmd(reference.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (incidents, detections) = index_contents(&reference.path().join("index"));
    // `hunt` over the same files: one line per (rule, event) match; the pipeline indexes one
    // detection per match.
    let expected = hunt_matches();
    assert!(expected > 1000, "hunt found only {expected} matches");
    assert_eq!(detections.len(), expected, "{stdout}");
    assert!(!incidents.is_empty());
    assert_eq!(
        incidents.values().sum::<u64>(),
        detections.len() as u64,
        "every detection counts in exactly one incident"
    );
    assert!(
        stdout.contains(&format!("{expected} detections")),
        "{stdout}"
    );

    // Kill -9 while detections are being committed, then run again to the end.
    let killed = tempfile::tempdir().unwrap();
    let index_dir = killed.path().join("index");
    let mut child = run_cmd(killed.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = committed_detections(&index_dir);
        if n > 0 {
            assert!(
                (n as usize) < detections.len(),
                "the run finished before it could be killed ({n} committed)"
            );
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run exited before committing"
        );
        assert!(Instant::now() < deadline, "nothing committed in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = committed_detections(&index_dir);
    let out = run_cmd(killed.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (incidents2, detections2) = index_contents(&index_dir);
    assert_eq!(detections2, detections, "detection ids after kill + rerun");
    assert_eq!(
        crate::support::index_grouping(&index_dir),
        crate::support::index_grouping(&reference.path().join("index")),
        "each detection in the same incident after kill + rerun"
    );
    assert_eq!(incidents2, incidents, "incidents after kill + rerun");
    eprintln!(
        "killed with {partial} of {} detections committed; rerun completed the index",
        detections.len()
    );
}
