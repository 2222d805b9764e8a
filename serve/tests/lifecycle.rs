//! Changes to incidents as lifecycle records: what serve publishes (who, anchor, action, alert
//! keys, idempotency), what it refuses before publishing (403/409/404/400), people and their
//! tokens file, and acknowledge links.

use std::time::Duration;

use canhgac_core::acklink::{sign, AckClaim};
use canhgac_core::lifecycle::{suppression_id, Action, CloseReason, EntityRef, Policy};
use canhgac_core::Id;
use canhgac_serve::{token_entry, Role};
use serde_json::Value;

use crate::support::*;

fn tapped() -> Setup {
    Setup {
        tap: true,
        apply_wait: Some(Duration::from_millis(200)),
        ..Setup::default()
    }
}

/// An incident of `agency` with at least two detections, and its detail.
async fn incident_of(s: &Server, agency: &str) -> (String, Value) {
    let mut counts = std::collections::BTreeMap::<Id, usize>::new();
    for d in s.corpus.iter().filter(|d| d.agency == agency) {
        *counts.entry(d.incident_id).or_default() += 1;
    }
    let id = counts.iter().find(|(_, n)| **n >= 2).unwrap().0.to_hex();
    let v = s
        .get(&format!("/api/v1/incidents/{id}"), NATIONAL)
        .await
        .json();
    (id, v)
}

/// Sends a change while the test reads the record it publishes.
async fn post(
    s: &Server,
    id: &str,
    token: &str,
    body: &str,
    key: Option<&str>,
) -> (Resp, Option<canhgac_core::lifecycle::IncidentEvent>) {
    let url = format!("{}/api/v1/incidents/{id}/events", s.base);
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    let call = call(&url, "POST", Some(token), Some(body), &headers);
    let (resp, rec) = tokio::join!(call, s.next_record(Duration::from_secs(5)));
    (resp, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_a_record_of_the_person_on_the_incident_s_anchor() {
    let s = start_setup(tapped()).await;
    let (id, detail) = incident_of(&s, "byt").await;
    let anchor: Id = detail["incident"]["first_detection"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Assign to me: Lan's record, on the anchor, with the incident's alert keys; not applied
    // here (nothing indexes the tapped topic), so 202 with the record.
    let (r, rec) = post(&s, &id, LAN, r#"{"action":"assign","to":"me"}"#, Some("k1")).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let rec = rec.expect("a record was published");
    assert_eq!(rec.by.name, "Lan");
    assert_eq!(rec.by.role, "agency:byt");
    assert_eq!(rec.incident.to_hex(), id);
    assert_eq!(rec.anchor, anchor);
    assert_eq!(rec.agency, "byt");
    assert_eq!(
        rec.action,
        Action::Assign {
            to: Some("Lan".into())
        }
    );
    assert_eq!(rec.alert_keys, vec![id.parse::<Id>().unwrap()]);
    let v = r.json();
    assert_eq!(v["applied"], false);
    assert_eq!(v["record"]["id"], rec.id.to_hex());
    // The same Idempotency-Key writes the same record; another key, another one.
    let (_, again) = post(&s, &id, LAN, r#"{"action":"assign","to":"me"}"#, Some("k1")).await;
    assert_eq!(again.unwrap().id, rec.id);
    let (_, other) = post(&s, &id, LAN, r#"{"action":"assign","to":"me"}"#, Some("k2")).await;
    assert_ne!(other.unwrap().id, rec.id);

    // Resolve as a false positive with a suppression: the resolve, then the suppression.
    let rule = detail["incident"]["rule_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(
        r#"{{"action":"resolve","reason":"false_positive","note":"scanner","suppress":{{"rule":"{rule}","entity":{{"kind":"domain","value":"x.byt.gov.vn"}},"days":30,"reason":"authorised scan"}}}}"#
    );
    let url = format!("{}/api/v1/incidents/{id}/events", s.base);
    let (r, (resolve, suppress)) =
        tokio::join!(call(&url, "POST", Some(LAN), Some(&body), &[]), async {
            let a = s.next_record(Duration::from_secs(5)).await.unwrap();
            let b = s.next_record(Duration::from_secs(5)).await.unwrap();
            (a, b)
        });
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["records"].as_array().unwrap().len(), 2);
    assert!(matches!(
        resolve.action,
        Action::Resolve {
            reason: CloseReason::FalsePositive,
            ..
        }
    ));
    let Action::Suppress { suppression: sup } = &suppress.action else {
        panic!("second record: {:?}", suppress.action)
    };
    assert_eq!(
        (suppress.incident, suppress.anchor),
        (resolve.incident, anchor)
    );
    assert_eq!(sup.owner, "Lan");
    assert_eq!(sup.agency, "byt");
    assert_eq!(sup.rule, rule);
    let entity = EntityRef {
        kind: "domain".into(),
        value: "x.byt.gov.vn".into(),
    };
    assert_eq!(sup.entity, entity);
    assert_eq!(sup.expires - sup.created, chrono::Duration::days(30));
    assert_eq!(sup.id, suppression_id(&rule, "byt", &entity, sup.created));

    // Refused before publishing: nothing reaches the topic.
    let (other_id, _) = incident_of(&s, "bca").await;
    let url = |i: &str| format!("/api/v1/incidents/{i}/events");
    let zero = "00000000000000000000000000000000";
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            LAN,
            &other_id,
            r#"{"action":"comment","text":"x"}"#.into(),
            404,
            "not_found",
        ),
        (LAN, &id, r#"{"action":"reopen"}"#.into(), 409, "conflict"),
        (
            LAN,
            &id,
            r#"{"action":"comment","text":"  "}"#.into(),
            400,
            "bad_request",
        ),
        (LAN, &id, r#"{"action":"dance"}"#.into(), 400, "bad_request"),
        (
            LAN,
            &id,
            r#"{"action":"comment","text":"x","extra":1}"#.into(),
            400,
            "bad_request",
        ),
        (
            LAN,
            &id,
            r#"{"action":"resolve","reason":"duplicate"}"#.into(),
            400,
            "bad_request",
        ),
        (
            LAN,
            &id,
            r#"{"action":"resolve","reason":"maybe"}"#.into(),
            400,
            "bad_request",
        ),
        (
            LAN,
            &id,
            format!(r#"{{"action":"merge","into":"{other_id}"}}"#),
            400,
            "bad_request",
        ),
        (
            LAN,
            &id,
            format!(r#"{{"action":"merge","into":"{id}"}}"#),
            400,
            "bad_request",
        ),
        (
            LAN,
            &id,
            format!(r#"{{"action":"split","detections":["{zero}"]}}"#),
            400,
            "bad_request",
        ),
        (
            MANAGER,
            &id,
            r#"{"action":"comment","text":"x"}"#.into(),
            403,
            "forbidden",
        ),
    ];
    for (token, target, body, status, code) in cases {
        let r = s.call("POST", &url(target), Some(token), Some(&body)).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert_eq!(r.json()["code"], code, "{body}");
    }
    for suppress in [
        r#""days":0"#,
        r#""days":366"#,
        r#""days":3,"entity":{"kind":"planet","value":"x"}"#,
    ] {
        let base =
            format!(r#""rule":"{rule}","entity":{{"kind":"ip","value":"10.0.0.1"}},"days":3"#);
        let fields = if suppress.contains("entity") {
            format!(r#""rule":"{rule}",{suppress}"#)
        } else {
            base.replace(r#""days":3"#, suppress)
        };
        let body = format!(r#"{{"action":"resolve","reason":"benign","suppress":{{{fields}}}}}"#);
        let r = s.call("POST", &url(&id), Some(LAN), Some(&body)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("suppress"));
    }
    let body = format!(
        r#"{{"action":"resolve","reason":"handled","suppress":{{"rule":"{rule}","entity":{{"kind":"ip","value":"10.0.0.1"}},"days":3}}}}"#
    );
    let r = s.call("POST", &url(&id), Some(LAN), Some(&body)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        s.next_record(Duration::from_millis(300)).await.is_none(),
        "a refused change publishes nothing"
    );
    // PATCH keeps working: it publishes an acknowledge, or a resolve (reason handled).
    let path = format!("/api/v1/incidents/{id}");
    let (r, rec) = tokio::join!(
        s.call(
            "PATCH",
            &path,
            Some(BYT),
            Some(r#"{"status":"resolved","note":"done"}"#)
        ),
        s.next_record(Duration::from_secs(5))
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(
        rec.unwrap().action,
        Action::Resolve {
            reason: CloseReason::Handled,
            note: "done".into(),
            duplicate_of: None
        }
    );
    // The audit log names the person and the record.
    let audit = std::fs::read_to_string(&s.audit_path).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let assign = lines
        .iter()
        .find(|l| l["change"]["action"] == "assign")
        .expect("the assignment is audited");
    assert_eq!(assign["who"], "Lan");
    assert_eq!(assign["incident"], id.as_str());
    assert_eq!(assign["change"]["record"], rec_id_hex(&lines, "assign"));
    s.stop().await;
}

fn rec_id_hex(lines: &[Value], action: &str) -> Value {
    lines
        .iter()
        .find(|l| l["change"]["action"] == action)
        .map(|l| l["change"]["record"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_who_may_do_what() {
    let policy = canhgac_core::lifecycle::DEFAULT_POLICY.replace(
        r#"agency = ["acknowledge", "assign", "comment", "note", "resolve", "reopen", "merge", "split", "suppress", "unsuppress"]"#,
        r#"agency = ["comment"]"#,
    );
    let s = start_setup(Setup {
        policy: Some(Policy::from_toml(&policy, "test").unwrap()),
        ..tapped()
    })
    .await;
    let who = s.get("/api/v1/whoami", LAN).await.json();
    assert_eq!(who["name"], "Lan");
    assert_eq!(who["scope"], "byt");
    assert_eq!(who["permissions"], serde_json::json!(["comment"]));
    let national = s.get("/api/v1/whoami", NATIONAL).await.json();
    assert_eq!(national["permissions"].as_array().unwrap().len(), 10);
    assert_eq!(
        s.get("/api/v1/whoami", MANAGER).await.json()["permissions"],
        serde_json::json!([])
    );
    let (id, _) = incident_of(&s, "byt").await;
    let r = s
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/events"),
            Some(LAN),
            Some(r#"{"action":"resolve","reason":"handled"}"#),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["code"], "not_permitted");
    assert!(s.next_record(Duration::from_millis(300)).await.is_none());
    let (r, rec) = post(&s, &id, LAN, r#"{"action":"comment","text":"seen"}"#, None).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(
        rec.unwrap().action,
        Action::Comment {
            text: "seen".into()
        }
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_file_change_needs_no_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    let (lan, minh) = ("cg_file_lan", "cg_file_minh");
    let lan_line = token_entry("Lan", &Role::Agency("byt".into()), lan);
    let minh_line = token_entry("Minh", &Role::National, minh);
    std::fs::write(&path, &lan_line).unwrap();
    let s = start_setup(Setup {
        tokens_file: Some(path.clone()),
        writable: false,
        ..Setup::default()
    })
    .await;
    assert_eq!(s.get("/api/v1/whoami", lan).await.json()["name"], "Lan");
    assert_eq!(s.get("/api/v1/whoami", minh).await.status, 401);
    // Lan's token revoked, Minh's added: the next requests see it.
    std::fs::write(&path, format!("{minh_line}\n# Lan left\n")).unwrap();
    assert_eq!(s.get("/api/v1/whoami", lan).await.status, 401);
    assert_eq!(s.get("/api/v1/whoami", minh).await.json()["name"], "Minh");
    // A broken edit keeps the tokens in force.
    std::fs::write(&path, "[[token]]\nname = \"half a line").unwrap();
    assert_eq!(s.get("/api/v1/whoami", minh).await.status, 200);
    let audit = std::fs::read_to_string(&s.audit_path).unwrap();
    assert!(audit.lines().any(|l| l.contains(r#""who":"Minh""#)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledge_link_shows_on_get_and_acknowledges_on_post() {
    let secret = b"s3cret".to_vec();
    let s = start_setup(Setup {
        ack_secret: Some(secret.clone()),
        ..tapped()
    })
    .await;
    let (id, detail) = incident_of(&s, "byt").await;
    let detection: Id = detail["detections"][1]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let link = |agency: &str, detection: Id, days: i64| {
        sign(
            &secret,
            &AckClaim {
                agency: agency.into(),
                detection,
                expires: chrono::Utc::now() + chrono::Duration::days(days),
            },
        )
    };
    let good = link("byt", detection, 7);
    let r = s.call("GET", &format!("/ack/{good}"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(r.headers.contains_key("content-security-policy"));
    let page = r.text();
    assert!(
        page.contains(&id) && page.contains("<form method=\"post\""),
        "{page}"
    );
    assert!(
        s.next_record(Duration::from_millis(300)).await.is_none(),
        "a GET changes nothing"
    );
    let path = format!("/ack/{good}");
    let (r, rec) = tokio::join!(
        s.call("POST", &path, None, None),
        s.next_record(Duration::from_secs(5))
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = rec.expect("the POST publishes");
    assert_eq!(rec.by.name, "alert link (byt)");
    assert_eq!(rec.by.role, "agency:byt");
    assert_eq!(rec.incident.to_hex(), id);
    assert!(matches!(rec.action, Action::Acknowledge { .. }));
    let audit = std::fs::read_to_string(&s.audit_path).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("alert link (byt)"))
        .expect("the acknowledgement is audited");
    assert!(
        !line.contains(good.rsplit_once('.').unwrap().1),
        "no working link in the audit log"
    );
    // Refused links: forged, moved to another agency, expired, malformed.
    // The signature's last digit changed (to another digit).
    let last = if good.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &good[..good.len() - 1]);
    assert_ne!(forged, good);
    let moved = good.replacen("byt", "bca", 1);
    let expired = link("byt", detection, -1);
    let other_agency = link("bca", detection, 7);
    for (token, status) in [
        (forged.as_str(), 404),
        (moved.as_str(), 404),
        (expired.as_str(), 410),
        ("nonsense", 404),
        (other_agency.as_str(), 404),
    ] {
        for method in ["GET", "POST"] {
            let r = s.call(method, &format!("/ack/{token}"), None, None).await;
            assert_eq!(r.status, status, "{method} {token}");
        }
    }
    assert!(s.next_record(Duration::from_millis(300)).await.is_none());
    s.stop().await;
}

/// Two incidents of `agency` with at least two detections each.
fn two_incidents(s: &Server, agency: &str) -> (String, String) {
    let mut counts = std::collections::BTreeMap::<Id, usize>::new();
    for d in s.corpus.iter().filter(|d| d.agency == agency) {
        *counts.entry(d.incident_id).or_default() += 1;
    }
    let mut ids = counts
        .iter()
        .filter(|(_, n)| **n >= 2)
        .map(|(i, _)| i.to_hex());
    (ids.next().unwrap(), ids.next().unwrap())
}

fn hit_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Through the real pipeline: serve publishes on the bus, the indexer applies, serve answers
/// the incident as the index shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_resolve_suppress_merge_through_the_index() {
    let s = start_setup(Setup {
        ack_secret: Some(b"k".to_vec()),
        ..Setup::default()
    })
    .await;
    let (a, b) = two_incidents(&s, "byt");
    let events = |i: &str| format!("/api/v1/incidents/{i}/events");

    // Assign to me: 200 with the incident as the index shows it; in Lan's inbox, not BCA's.
    let r = s
        .call(
            "POST",
            &events(&a),
            Some(LAN),
            Some(r#"{"action":"assign","to":"me"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["handling"]["assignee"], "Lan");
    assert_eq!(
        v["handling"]["status"], "acknowledged",
        "assigning acknowledges"
    );
    assert_eq!(v["incident"]["assignee"], "Lan");
    assert_eq!(v["handling"]["history"][0]["by"]["name"], "Lan");
    let inbox = s.get("/api/v1/inbox", LAN).await.json();
    assert_eq!(hit_ids(&inbox["assigned"]), [a.as_str()]);
    assert!(!hit_ids(&inbox["new"]).contains(&a), "no longer new");
    assert!(hit_ids(&inbox["new"]).contains(&b));
    assert!(hit_ids(&s.get("/api/v1/inbox", BYT).await.json()["assigned"]).is_empty());
    let v = s.get("/api/v1/incidents?assignee=me", LAN).await.json();
    assert_eq!(hit_ids(&v["hits"]), [a.as_str()]);
    let v = s
        .get(
            "/api/v1/incidents?assignee=Lan&status=new&status=acknowledged",
            NATIONAL,
        )
        .await
        .json();
    assert_eq!(hit_ids(&v["hits"]), [a.as_str()]);

    // A comment with an Idempotency-Key, retried: one record.
    let headers = [("idempotency-key", "c-1")];
    let url = format!("{}{}", s.base, events(&a));
    for _ in 0..2 {
        let r = call(
            &url,
            "POST",
            Some(LAN),
            Some(r#"{"action":"comment","text":"xem log"}"#),
            &headers,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let v = s.get(&format!("/api/v1/incidents/{a}"), LAN).await.json();
    let comments = v["handling"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "comment")
        .count();
    assert_eq!(comments, 1);

    // Close as a false positive with a suppression: the incident is resolved, not counted,
    // and the suppression is listed, active, owned by Lan.
    let rule = v["incident"]["rule_ids"][0].as_str().unwrap().to_string();
    let body = format!(
        r#"{{"action":"resolve","reason":"false_positive","note":"quét được phép","suppress":{{"rule":"{rule}","entity":{{"kind":"domain","value":"scanner.byt.gov.vn"}},"days":30,"reason":"authorised scan"}}}}"#
    );
    let r = s.call("POST", &events(&a), Some(LAN), Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["handling"]["status"], "resolved");
    assert_eq!(v["handling"]["close_reason"], "false_positive");
    assert_eq!(v["handling"]["counted"], false);
    let v = s
        .get("/api/v1/incidents?close_reason=false_positive", BYT)
        .await
        .json();
    assert_eq!(hit_ids(&v["hits"]), [a.as_str()]);
    let mut list = Value::Null;
    for _ in 0..50 {
        list = s.get("/api/v1/suppressions?active=true", BYT).await.json();
        if !list.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sup = &list[0];
    assert_eq!(sup["owner"], "Lan");
    assert_eq!(sup["rule"], rule.as_str());
    assert_eq!(sup["state"], "active");
    assert_eq!(sup["incident"], a.as_str());
    assert!(s
        .get("/api/v1/suppressions", BCA)
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    // Another agency cannot revoke it; Lan can, once.
    let path = format!("/api/v1/suppressions/{}", sup["id"].as_str().unwrap());
    let del = |t: &'static str| s.call("DELETE", &path, Some(t), None);
    assert_eq!(del(BCA).await.status, 404);
    let r = del(LAN).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut state = Value::Null;
    for _ in 0..50 {
        state = s.get("/api/v1/suppressions", BYT).await.json()[0]["state"].clone();
        if state == "revoked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "revoked");
    assert_eq!(del(LAN).await.status, 409);
    // Resolved: a second resolve conflicts; reopen works.
    let r = s
        .call(
            "POST",
            &events(&a),
            Some(LAN),
            Some(r#"{"action":"resolve","reason":"handled"}"#),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());

    // Merge b into a: one incident with both incidents' detections; b's id leads to it.
    let total = |v: &Value| v["detections_total"].as_u64().unwrap();
    let before = total(&s.get(&format!("/api/v1/incidents/{a}"), LAN).await.json())
        + total(&s.get(&format!("/api/v1/incidents/{b}"), LAN).await.json());
    let r = s
        .call(
            "POST",
            &events(&b),
            Some(LAN),
            Some(&format!(r#"{{"action":"merge","into":"{a}"}}"#)),
        )
        .await;
    assert!(r.status == 200 || r.status == 202, "{}", r.text());
    let mut merged = Value::Null;
    for _ in 0..50 {
        merged = s.get(&format!("/api/v1/incidents/{b}"), LAN).await.json();
        if total(&merged) == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total(&merged), before, "{merged}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledge_link_acknowledges_once_through_the_index() {
    let secret = b"s3cret".to_vec();
    let s = start_setup(Setup {
        ack_secret: Some(secret.clone()),
        ..Setup::default()
    })
    .await;
    let (id, _) = two_incidents(&s, "byt");
    let detail = s
        .get(&format!("/api/v1/incidents/{id}"), NATIONAL)
        .await
        .json();
    let detection: Id = detail["detections"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let token = sign(
        &secret,
        &AckClaim {
            agency: "byt".into(),
            detection,
            expires: chrono::Utc::now() + chrono::Duration::days(7),
        },
    );
    let r = s.call("POST", &format!("/ack/{token}"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = s.get(&format!("/api/v1/incidents/{id}"), BYT).await.json();
    assert_eq!(v["handling"]["status"], "acknowledged");
    assert_eq!(
        v["handling"]["history"][0]["by"]["name"],
        "alert link (byt)"
    );
    let page = s
        .call("GET", &format!("/ack/{token}"), None, None)
        .await
        .text();
    assert!(
        page.contains("already acknowledged") && !page.contains("<form"),
        "{page}"
    );
    s.stop().await;
}
