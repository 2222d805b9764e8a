//! The incident lifecycle in `canhgac run` (one process, the in-process bus and the durable
//! local log `<data_dir>/incident-events.jsonl`), through the HTTP API as a named analyst:
//!
//! - a web shell request makes an incident; the analyst closes it as a false positive with a
//!   suppression of the rule for the client's address;
//! - the next matching request from that address is kept but suppressed: no incident grows or
//!   appears, and the suppression's counter rises; a request from another address still counts;
//! - after a restart the handling is still there, and after the documented rebuild (the index
//!   and the checkpoints removed, the sources read again, the local log replayed) the index
//!   equals the original.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::http::{tokens, Api};
use crate::support::{canhgac, free_port, index_full_contents, repo, KillOnDrop};
use serde_json::json;

const ANALYST: &str = "Phạm Thu Hà";
const RULE: &str = "0c4a7f6e-3b59-4d8a-9e21-6d0f5b7c8a31";

/// A web shell request from `ip`, `ago` before now (suppressions never reach back before they
/// were made, so the times are real ones).
fn line(ip: &str, ago: chrono::Duration) -> String {
    let at = (chrono::Utc::now() - ago)
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%d/%b/%Y:%H:%M:%S %z");
    format!(
        "{ip} - - [{at}] \"GET /uploads/shell.php?cmd=id HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\"\n"
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

type Contents = (
    std::collections::BTreeMap<canhgac_core::Id, canhgac_index::IncidentRecord>,
    std::collections::BTreeMap<canhgac_core::Id, canhgac_core::Detection>,
);

/// The index's incidents and detections, each event's `received` (when the sensor read it,
/// which a re-read of the source changes) set aside.
fn contents(dir: &Path) -> Contents {
    let (incidents, mut detections) = index_full_contents(dir);
    for d in detections.values_mut() {
        d.event.received = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    }
    (incidents, detections)
}

struct Run(KillOnDrop);

impl Run {
    fn start(dir: &Path, port: u16) -> Run {
        let config = dir.join("run.toml");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("run.log"))
            .unwrap();
        let child = canhgac()
            .current_dir(repo(""))
            .env("CANHGAC_RUN__COMMIT_INTERVAL_MS", "200")
            .args(["run", "--config"])
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--tokens"])
            .arg(dir.join("tokens.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Run(KillOnDrop(child))
    }

    /// SIGTERM and wait: a graceful stop.
    fn stop(mut self) {
        let pid = self.0 .0.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = self.0 .0.wait();
    }
}

#[test]
fn a_false_positive_closed_with_a_suppression_stays_closed_across_restarts_and_rebuilds() {
    let _guard = crate::support::heavy();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario());
}

async fn scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let access = logs.join("access.log");
    append(&access, &line("203.0.113.7", chrono::Duration::minutes(10)));
    let data = dir.join("data");
    std::fs::write(
        dir.join("run.toml"),
        format!(
            "[run]\ndata_dir = {:?}\nrules = [\"rules/sigma\"]\n[[run.sources]]\nagency = \"byt\"\nsensor = \"web-01\"\nformat = \"auto\"\npaths = [{:?}]\nfollow = true\n",
            data.display().to_string(),
            logs.display().to_string()
        ),
    )
    .unwrap();
    let (text, toks) = tokens(&[(ANALYST, "agency:byt")]);
    std::fs::write(dir.join("tokens.toml"), text).unwrap();
    let port = free_port();
    let run = Run::start(dir, port);
    let api = Api::new(port, &toks[0]);
    api.wait_ready(Duration::from_secs(60)).await;
    let long = Duration::from_secs(60);
    let hits = api
        .wait_for("the web shell incident", "/api/v1/incidents", long, |v| {
            v["total"] == 1
        })
        .await;
    let id = hits["hits"][0]["id"]
        .as_str()
        .or_else(|| hits["hits"][0]["incident"]["id"].as_str())
        .expect("the incident's id")
        .to_string();
    api.act(&id, json!({"action": "assign", "to": "me"})).await;
    api.act(
        &id,
        json!({"action": "resolve", "reason": "false_positive", "note": "máy quét của đơn vị",
               "suppress": {"rule": RULE, "entity": {"kind": "ip", "value": "203.0.113.7"},
                            "days": 30, "reason": "máy quét lỗ hổng được phép"}}),
    )
    .await;
    let sup = api
        .wait_for("the suppression", "/api/v1/suppressions", long, |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(sup[0]["state"], "active", "{sup}");
    assert_eq!(sup[0]["suppressed"], 0, "{sup}");

    // The same address again: kept, suppressed, counted on the suppression; no incident grows.
    append(&access, &line("203.0.113.7", chrono::Duration::seconds(-2)));
    api.wait_for(
        "the suppressed detection",
        "/api/v1/suppressions",
        long,
        |v| v[0]["suppressed"] == 1,
    )
    .await;
    let detail = api.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["incident"]["count"], 1, "{detail}");
    // Another address is not suppressed.
    append(
        &access,
        &line("198.51.100.9", chrono::Duration::seconds(-2)),
    );
    api.wait_for(
        "the other address's detection",
        "/api/v1/incidents",
        long,
        |v| {
            v["hits"].as_array().is_some_and(|h| {
                h.iter()
                    .map(|x| x["count"].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    == 2
            })
        },
    )
    .await;
    let (_, sup) = api.call("GET", "/api/v1/suppressions", None).await;
    assert_eq!(sup[0]["suppressed"], 1, "{sup}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    run.stop();
    let original = contents(&data.join("index"));
    let closed = original
        .0
        .values()
        .find(|r| r.incident.close_reason.is_some())
        .expect("the closed incident");
    assert_eq!(closed.incident.assignee.as_deref(), Some(ANALYST));
    assert!(data.join("incident-events.jsonl").exists());

    // A restart keeps everything.
    let run = Run::start(dir, port);
    api.wait_ready(long).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stop();
    assert!(
        contents(&data.join("index")) == original,
        "a restart changed the index"
    );

    // The documented rebuild: remove the index and the checkpoints, run again.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    std::fs::remove_dir_all(data.join("checkpoints")).unwrap();
    let run = Run::start(dir, port);
    api.wait_ready(long).await;
    api.wait_for("the rebuilt index", "/api/v1/suppressions", long, |v| {
        v[0]["suppressed"] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stop();
    assert!(
        contents(&data.join("index")) == original,
        "the index rebuilt from the sources and the local log differs from the original"
    );
}
