//! The incident lifecycle in the distributed layout, as processes against a real broker (Tansu):
//! `canhgac index`, two `canhgac serve --brokers` apart from it (read-only index, writing
//! through `<p>.incident-events`) and `canhgac notify`.
//!
//! - A named analyst acknowledges, assigns to herself, comments on, resolves (handled and as a
//!   false positive with a suppression) and merges incidents through the first `serve`; the
//!   index, the second `serve` and notify see every change.
//! - notify stops escalating a closed incident as its count crosses 10, and escalates an open
//!   one.
//! - A token added to the tokens file works and a removed one is refused, without a restart;
//!   the audit log names the person.
//! - An index rebuilt from the topics alone (a second `canhgac index` on an empty directory)
//!   equals the first: incidents, their detections, statuses, assignments, comments, the merge
//!   and the suppression.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::http::{tokens, Api};
use crate::support::{
    canhgac, free_port, index_full_contents, publish_detections, read_topic, Broker, KillOnDrop,
};
use canhgac_core::transport::Publisher;
use canhgac_core::Detection;
use canhgac_index::synth;
use canhgac_kafka::{ClientSettings, KafkaPublisher};
use serde_json::{json, Value};

const AGENCY: &str = "byt";
const ANALYST: &str = "Trần Thị Lan";
const SECRET: &str = "ack-secret-for-tests";

fn spawn(name: &str, dir: &Path, args: &[&str]) -> KillOnDrop {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = canhgac()
        .args(args)
        .env("CANHGAC_ACK_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn t0() -> i64 {
    "2026-10-05T01:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp()
}

/// Detections `from..from+n` of incident `k` (one site, one rule, ten minutes apart).
fn detections(k: u64, from: u64, n: u64) -> Vec<Detection> {
    let rule = synth::RULES[0].0;
    (from..from + n)
        .map(|j| {
            synth::detection(
                AGENCY,
                rule,
                &format!("site{k}.byt.gov.vn"),
                t0() + (k as i64) * 3600 + (j as i64) * 600,
                k * 1000 + j,
            )
        })
        .collect()
}

fn registry(dir: &Path) -> PathBuf {
    let p = dir.join("agencies.toml");
    std::fs::write(
        &p,
        "[[agency]]\nid = \"byt\"\nname_vi = \"Bộ Y tế\"\nname_en = \"Ministry of Health\"\n  [[agency.channel]]\n  type = \"kafka\"\n",
    )
    .unwrap();
    p
}

/// The alerts of incident `id` on the agency's alert topic: (revision, reasons).
fn alerts_of(brokers: &str, id: &str) -> Vec<(u64, Value)> {
    let mut out: Vec<(u64, Value)> = read_topic(brokers, "canhgac.alerts.byt")
        .iter()
        .map(|r| r.json())
        .filter(|a| a["incident_id"] == id)
        .map(|a| (a["revision"].as_u64().unwrap(), a["reasons"].clone()))
        .collect();
    out.sort_by_key(|a| a.0);
    out.dedup_by_key(|a| a.0);
    out
}

fn handling(detail: &Value) -> &Value {
    &detail["incident"]["handling"]
}

#[test]
fn lifecycle_travels_through_the_topic_and_an_index_rebuilt_from_the_topics_equals_the_original() {
    let _guard = crate::support::heavy();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario());
}

async fn scenario() {
    let broker = Broker::start();
    let brokers = broker.brokers();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (index_a, index_b) = (dir.join("index-a"), dir.join("index-b"));
    let (text, toks) = tokens(&[(ANALYST, "agency:byt"), ("Nguyễn Văn An", "national")]);
    let tokens_file = dir.join("tokens.toml");
    std::fs::write(&tokens_file, &text).unwrap();
    let (lan, an) = (toks[0].clone(), toks[1].clone());
    let reg = registry(dir);

    // Six incidents of three detections each.
    let publisher = KafkaPublisher::new(&ClientSettings::new(brokers.clone())).unwrap();
    publisher
        .ensure_topics(&["canhgac.detections".into()])
        .await
        .unwrap();
    for k in 0..6 {
        publish_detections(&publisher, &detections(k, 0, 3)).await;
    }
    let ids: Vec<String> = (0..6)
        .map(|k| detections(k, 0, 1)[0].incident_id.to_hex())
        .collect();

    let _index = spawn(
        "index-a",
        dir,
        &[
            "index",
            "--brokers",
            &brokers,
            "--index",
            index_a.to_str().unwrap(),
            "--commit-interval-ms",
            "150",
        ],
    );
    // The index directory exists once the indexer opened it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !index_a.join("meta.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the indexer never created its index"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (port_a, port_b) = (free_port(), free_port());
    let serve = |name: &str, port: u16| {
        let listen = format!("127.0.0.1:{port}");
        let audit = dir.join(format!("{name}-audit.jsonl"));
        spawn(
            name,
            dir,
            &[
                "serve",
                "--index",
                index_a.to_str().unwrap(),
                "--brokers",
                &brokers,
                "--listen",
                &listen,
                "--tokens",
                tokens_file.to_str().unwrap(),
                "--audit",
                audit.to_str().unwrap(),
                "--registry",
                reg.to_str().unwrap(),
            ],
        )
    };
    let _serve_a = serve("serve-a", port_a);
    let _serve_b = serve("serve-b", port_b);
    let state = dir.join("notify-state");
    let _notify = spawn(
        "notify",
        dir,
        &[
            "notify",
            "--brokers",
            &brokers,
            "--registry",
            reg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--public-url",
            "https://soc.example.vn",
        ],
    );
    let a = Api::new(port_a, &lan);
    let b = Api::new(port_b, &lan);
    let b_national = Api::new(port_b, &an);
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let long = Duration::from_secs(60);
    a.wait_for("six incidents", "/api/v1/incidents?limit=50", long, |v| {
        v["total"] == 6
    })
    .await;
    let me = a.get("/api/v1/whoami").await;
    assert_eq!(me["name"], ANALYST, "{me}");

    // Through serve A, which does not hold the index writer.
    let (s, v) = a
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{}", ids[0]),
            Some(json!({"status": "acknowledged", "note": "đang xử lý"})),
        )
        .await;
    assert!(s == 200 || s == 202, "PATCH: {s} {v}");
    a.act(&ids[0], json!({"action": "assign", "to": "me"}))
        .await;
    a.act(
        &ids[0],
        json!({"action": "comment", "text": "Máy chủ web bị quét, đã chặn địa chỉ"}),
    )
    .await;
    a.act(
        &ids[1],
        json!({"action": "resolve", "reason": "false_positive", "note": "quét của quản trị viên",
               "suppress": {"rule": synth::RULES[0].0, "entity": {"kind": "domain", "value": "site1.byt.gov.vn"},
                            "days": 30, "reason": "máy quét lỗ hổng được phép"}}),
    )
    .await;
    a.act(&ids[2], json!({"action": "merge", "into": ids[3]}))
        .await;
    a.act(
        &ids[4],
        json!({"action": "resolve", "reason": "handled", "note": "đã khôi phục"}),
    )
    .await;
    // A change the policy forbids is refused with the reason; nothing is published.
    let (s, v) = a
        .call(
            "POST",
            &format!("/api/v1/incidents/{}/events", ids[4]),
            Some(json!({"action": "acknowledge"})),
        )
        .await;
    assert_eq!(s, 409, "{v}");

    // The second serve sees every change (through the index the indexer wrote).
    let d0 = b
        .wait_for(
            "incident 0 assigned and commented",
            &format!("/api/v1/incidents/{}", ids[0]),
            long,
            |v| {
                handling(v)["assignee"] == ANALYST
                    && handling(v)["history"]
                        .as_array()
                        .is_some_and(|h| h.len() >= 3)
            },
        )
        .await;
    assert_eq!(handling(&d0)["status"], "acknowledged", "{d0}");
    let history = handling(&d0)["history"].as_array().unwrap();
    assert!(
        history.iter().all(|e| e["by"]["name"] == ANALYST),
        "{history:?}"
    );
    assert!(history
        .iter()
        .any(|e| e["action"] == "comment" && e["text"] == "Máy chủ web bị quét, đã chặn địa chỉ"));
    let d1 = b
        .wait_for(
            "incident 1 closed as a false positive",
            &format!("/api/v1/incidents/{}", ids[1]),
            long,
            |v| handling(v)["status"] == "resolved",
        )
        .await;
    assert_eq!(handling(&d1)["close_reason"], "false_positive");
    let sup = b
        .wait_for("the suppression", "/api/v1/suppressions", long, |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(sup[0]["state"], "active", "{sup}");
    assert_eq!(sup[0]["owner"], ANALYST, "{sup}");
    b.wait_for("the merge", "/api/v1/incidents?limit=50", long, |v| {
        v["total"] == 5
    })
    .await;
    let inbox = b.get("/api/v1/inbox").await;
    assert!(
        inbox["assigned"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.to_string().contains(&ids[0])),
        "{inbox}"
    );
    b.wait_for(
        "incident 4 resolved",
        &format!("/api/v1/incidents/{}", ids[4]),
        long,
        |v| handling(v)["status"] == "resolved",
    )
    .await;

    // notify: the closed incident crosses 10 detections without an escalation, the open one
    // with one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before_close = alerts_of(&brokers, &ids[4]);
    assert!(!before_close.is_empty(), "incident 4 was alerted when new");
    publish_detections(&publisher, &detections(4, 3, 9)).await;
    publish_detections(&publisher, &detections(5, 3, 9)).await;
    let deadline = Instant::now() + long;
    loop {
        let open = alerts_of(&brokers, &ids[5]);
        if open
            .iter()
            .any(|(_, r)| r.to_string().contains("count-crossed"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no escalation of the open incident: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    b.wait_for(
        "twelve detections of incident 4",
        &format!("/api/v1/incidents/{}", ids[4]),
        long,
        |v| v["incident"]["count"] == 12,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed = alerts_of(&brokers, &ids[4]);
    assert_eq!(
        closed, before_close,
        "a closed incident is not escalated as its count crosses 10"
    );

    // People, not roles: a new token works and a removed one is refused, no restart.
    let (more, new_tok) = tokens(&[("Lê Minh", "agency:byt")]);
    let without_an: String = {
        // Drop An's entry: the two-line entries are separated by the `[[token]]` headers.
        let mut parts: Vec<&str> = text.split("[[token]]").collect();
        parts.retain(|p| !p.contains("Nguyễn Văn An"));
        parts.join("[[token]]")
    };
    std::fs::write(&tokens_file, format!("{without_an}\n{more}")).unwrap();
    let minh = Api::new(port_b, &new_tok[0]);
    minh.wait_for("the new token", "/api/v1/whoami", long, |v| {
        v["name"] == "Lê Minh"
    })
    .await;
    let deadline = Instant::now() + long;
    loop {
        let (s, _) = b_national.call("GET", "/api/v1/whoami", None).await;
        if s == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a removed token still works");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let audit = std::fs::read_to_string(dir.join("serve-a-audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains(ANALYST) && l.contains(&ids[1])),
        "the audit log names who changed incident 1"
    );

    // An index rebuilt from the topics alone equals the original.
    let _rebuild = spawn(
        "index-b",
        dir,
        &[
            "index",
            "--brokers",
            &brokers,
            "--index",
            index_b.to_str().unwrap(),
            "--group",
            "canhgac-index-rebuild",
            "--commit-interval-ms",
            "150",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let original = index_full_contents(&index_a);
    loop {
        if index_b.join("meta.json").exists() {
            let rebuilt = index_full_contents(&index_b);
            if rebuilt == original {
                break;
            }
            if Instant::now() >= deadline {
                assert_eq!(rebuilt, original, "the rebuilt index differs");
            }
        }
        assert!(Instant::now() < deadline, "the rebuild never started");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let incidents = &original.0;
    assert_eq!(incidents.len(), 5, "six incidents, two merged");
    assert!(
        incidents
            .values()
            .any(|r| r.incident.assignee.as_deref() == Some(ANALYST)),
        "the assignment survives the rebuild"
    );
    drop(broker);
}
