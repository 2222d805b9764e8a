//! The HTTP API over a real server: tenant isolation on every route, roles, limits, errors,
//! the audit log, and the OpenAPI document in step with the routes.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;
use canhgac_core::Id;
use canhgac_serve::{Limits, ROUTES};
use serde_json::Value;

/// Incidents per agency in the corpus.
fn incidents_by_agency(s: &Server) -> BTreeMap<String, BTreeSet<Id>> {
    let mut m: BTreeMap<String, BTreeSet<Id>> = BTreeMap::new();
    for d in &s.corpus {
        m.entry(d.agency.clone()).or_default().insert(d.incident_id);
    }
    m
}

fn agencies_in(hits: &Value) -> BTreeSet<String> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["agency"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_token_walks_every_route_and_never_sees_another_agency() {
    // The walk makes a few hundred requests: no rate limit here (tested below).
    let limits = Limits {
        burst: 1_000_000,
        ..Limits::default()
    };
    let s = start(limits, true).await;
    let by_agency = incidents_by_agency(&s);
    let own = &by_agency["byt"];
    assert!(
        by_agency.len() >= 5 && own.len() >= 10,
        "corpus spans agencies"
    );
    let others: Vec<Id> = by_agency
        .iter()
        .filter(|(a, _)| *a != "byt")
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    let mut walked: BTreeSet<(&str, &str)> = BTreeSet::new();

    // Search: every page, facets, queries naming other agencies, detections.
    let mut seen = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let r = s
            .get(
                &format!("/api/v1/incidents?limit=7&facets=true&cursor={cursor}"),
                BYT,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["total"].as_u64().unwrap(), own.len() as u64);
        assert_eq!(agencies_in(&v["hits"]), ["byt".to_string()].into());
        let facet_agencies: Vec<&str> = v["facets"]["agency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_str().unwrap())
            .collect();
        assert_eq!(facet_agencies, ["byt"]);
        for h in v["hits"].as_array().unwrap() {
            seen.insert(h["id"].as_str().unwrap().parse::<Id>().unwrap());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(&seen, own);
    walked.insert(("GET", "/api/v1/incidents"));
    for q in [
        "/api/v1/incidents?q=agency:bca",
        "/api/v1/incidents?agency=bca,btc",
        "/api/v1/incidents?q=agency:bca%20OR%20agency:byt&facets=true",
        "/api/v1/incidents?q=NOT%20agency:byt",
        "/api/v1/incidents?kind=detections&limit=500&facets=true",
    ] {
        let v = s.get(q, BYT).await.json();
        let agencies = agencies_in(&v["hits"]);
        assert!(agencies.iter().all(|a| a == "byt"), "{q}: {agencies:?}");
        if let Some(f) = v["facets"]["agency"].as_array() {
            assert!(f.iter().all(|p| p["value"] == "byt"), "{q}: {f:?}");
        }
    }
    // The national token sees the others (so the filter above is not vacuous).
    let v = s
        .get("/api/v1/incidents?q=agency:bca", NATIONAL)
        .await
        .json();
    assert_eq!(v["total"].as_u64().unwrap(), by_agency["bca"].len() as u64);

    // Detail: own incident with its events; another agency's is 404 exactly like a missing one.
    let mine = own.iter().next().unwrap().to_hex();
    let r = s.get(&format!("/api/v1/incidents/{mine}"), BYT).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["incident"]["agency"], "byt");
    let dets = v["detections"].as_array().unwrap();
    assert!(!dets.is_empty());
    for d in dets {
        assert_eq!(d["agency"], "byt");
        assert_eq!(d["event"]["agency"], "byt");
        assert!(d["rule"]["author"].is_string(), "rule author shown");
        assert!(d["guidance"]["vi"].is_string(), "handling guidance shown");
    }
    let missing = s
        .get("/api/v1/incidents/00000000000000000000000000000000", BYT)
        .await;
    assert_eq!(missing.status, 404);
    for id in &others {
        let r = s
            .get(&format!("/api/v1/incidents/{}", id.to_hex()), BYT)
            .await;
        assert_eq!(r.status, 404, "another agency's incident must be 404");
        assert_eq!(r.json()["code"], missing.json()["code"]);
    }
    walked.insert(("GET", "/api/v1/incidents/{id}"));

    // Status changes: another agency's incident is 404 and unchanged; own works and is audited.
    let other = others[0].to_hex();
    let r = s
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{other}"),
            Some(BYT),
            Some(r#"{"status":"resolved","note":"not mine"}"#),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let v = s
        .get(&format!("/api/v1/incidents/{other}"), NATIONAL)
        .await
        .json();
    assert_eq!(v["incident"]["status"], "new");
    let r = s
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{mine}"),
            Some(BYT),
            Some(r#"{"status":"acknowledged","note":"đang xử lý"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "acknowledged");
    let v = s
        .get(&format!("/api/v1/incidents/{mine}"), BYT)
        .await
        .json();
    assert_eq!(v["incident"]["status"], "acknowledged");
    assert_eq!(v["handling"]["status"], "acknowledged");
    let first = &v["handling"]["history"][0];
    assert_eq!(first["by"]["name"], "soc-byt");
    assert_eq!(first["action"], "acknowledge");
    assert_eq!(first["note"], "đang xử lý");
    walked.insert(("PATCH", "/api/v1/incidents/{id}"));

    // Lifecycle records: another agency's incident is 404; own works and answers the incident.
    let r = s
        .call(
            "POST",
            &format!("/api/v1/incidents/{other}/events"),
            Some(BYT),
            Some(r#"{"action":"comment","text":"not mine"}"#),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s
        .call(
            "POST",
            &format!("/api/v1/incidents/{mine}/events"),
            Some(BYT),
            Some(r#"{"action":"assign","to":"me"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["handling"]["assignee"], "soc-byt");
    assert!(v["agency_name"].is_string());
    walked.insert(("POST", "/api/v1/incidents/{id}/events"));
    let v = s.get("/api/v1/inbox", BYT).await.json();
    let assigned: Vec<&str> = v["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(assigned, [mine.as_str()]);
    assert!(agencies_in(&v["new"]) == ["byt".to_string()].into());
    walked.insert(("GET", "/api/v1/inbox"));
    let r = s.get("/api/v1/suppressions", BYT).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().as_array().unwrap().is_empty());
    assert_eq!(
        s.get("/api/v1/suppressions?agency=bca", BYT).await.status,
        403
    );
    walked.insert(("GET", "/api/v1/suppressions"));
    let r = s
        .call(
            "DELETE",
            "/api/v1/suppressions/00000000000000000000000000000000",
            Some(BYT),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    walked.insert(("DELETE", "/api/v1/suppressions/{id}"));
    // Acknowledge links: none without a secret (tests/lifecycle.rs has them with one).
    for method in ["GET", "POST"] {
        let r = s.call(method, "/ack/byt.x.1.y", None, None).await;
        assert_eq!(r.status, 404, "{method} /ack");
        walked.insert((method, "/ack/{token}"));
    }

    // Statistics: only byt counted; asking for another agency is refused.
    let r = s
        .get("/api/v1/stats/monthly?month=2022-12&months=12", BYT)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["scope"], "byt");
    let total: u64 = v["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let keys: Vec<&String> = m["by_agency"].as_object().unwrap().keys().collect();
            assert!(keys.iter().all(|k| *k == "byt"), "{keys:?}");
            m["incidents"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, own.len() as u64);
    for e in v["top_systems"].as_array().unwrap() {
        assert!(e["id"].as_str().unwrap().starts_with("byt-"), "{e}");
    }
    let r = s.get("/api/v1/stats/monthly?agency=bca", BYT).await;
    assert_eq!(r.status, 403);
    walked.insert(("GET", "/api/v1/stats/monthly"));

    // Reports in every format.
    let others_names: Vec<&String> = by_agency.keys().filter(|a| *a != "byt").collect();
    for fmt in ["json", "csv", "html"] {
        let r = s
            .get(&format!("/api/v1/reports/2022-06?format={fmt}"), BYT)
            .await;
        assert_eq!(r.status, 200, "{fmt}: {}", r.text());
        let body = r.text();
        for a in &others_names {
            for needle in [
                format!("\"{a}\""),
                format!("agency.{a}"),
                format!("<td>{a}</td>"),
                format!("({a})"),
            ] {
                assert!(!body.contains(&needle), "{fmt} report leaks {needle}");
            }
        }
        assert!(body.contains("byt"), "{fmt} report names its own agency");
    }
    let r = s
        .call("GET", "/api/v1/reports/2022-06", Some(BYT), None)
        .await;
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let r = crate::support::call(
        &format!("{}/api/v1/reports/2022-06", s.base),
        "GET",
        Some(BYT),
        None,
        &[("accept", "text/csv")],
    )
    .await;
    assert!(
        r.text()
            .starts_with("section,key,name,current,previous,change_pct\r\nheadline,national,"),
        "{}",
        r.text()
    );
    walked.insert(("GET", "/api/v1/reports/{period}"));

    // The remaining routes.
    let v = s.get("/api/v1/whoami", BYT).await.json();
    assert_eq!(v["role"], "agency:byt");
    walked.insert(("GET", "/api/v1/whoami"));
    assert_eq!(s.get("/api/v1/openapi.json", BYT).await.status, 200);
    walked.insert(("GET", "/api/v1/openapi.json"));
    assert_eq!(s.get("/metrics", BYT).await.status, 403);
    walked.insert(("GET", "/metrics"));
    for p in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/healthz",
        "/readyz",
    ] {
        let r = s.get(p, BYT).await;
        assert_eq!(r.status, 200, "{p}");
        assert!(!r.text().contains("\"bca\""), "{p}");
    }
    walked.extend([
        ("GET", "/"),
        ("GET", "/assets/{file}"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    ]);
    let all: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(walked, all, "the walk covers every route");

    // The audit log has the searches and the status change.
    let audit = std::fs::read_to_string(&s.audit_path).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["who"] == "soc-byt"
        && l["route"] == "/api/v1/incidents"
        && l["uri"].as_str().unwrap().contains("agency:bca")));
    let change = lines
        .iter()
        .find(|l| l["method"] == "PATCH" && l["status"] == 200)
        .expect("status change audited");
    assert_eq!(change["who"], "soc-byt");
    assert_eq!(change["incident"], mine.as_str());
    assert_eq!(change["change"]["status"], "acknowledged");
    assert!(lines
        .iter()
        .any(|l| l["method"] == "PATCH" && l["status"] == 404 && l["who"] == "soc-byt"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_errors_and_limits() {
    let limits = Limits {
        max_query_chars: 100,
        max_page_size: 50,
        rate_per_sec: 0.5,
        burst: 200,
    };
    let s = start(limits, false).await;
    // No token, a bad token: 401 on every protected route.
    for r in ROUTES
        .iter()
        .filter(|r| r.access != canhgac_serve::Access::Public)
    {
        let path = r
            .path
            .replace("{id}", "00000000000000000000000000000000")
            .replace("{month}", "2022-06");
        for token in [None, Some("cg_wrong")] {
            let resp = s.call(r.method, &path, token, Some("{}")).await;
            assert_eq!(resp.status, 401, "{} {path} with {token:?}", r.method);
            assert_eq!(resp.json()["code"], "unauthorized");
        }
    }
    // Wrong role: 403.
    for (token, path) in [
        (MANAGER, "/api/v1/incidents"),
        (MANAGER_BYT, "/api/v1/incidents"),
        (BYT, "/metrics"),
        (MANAGER_BYT, "/metrics"),
    ] {
        let r = s.get(path, token).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["code"], "forbidden");
    }
    let r = s
        .get(
            "/api/v1/incidents/00000000000000000000000000000000",
            MANAGER,
        )
        .await;
    assert_eq!(r.status, 403, "managers read no incident");
    // Managers read statistics and reports within their scope.
    let v = s.get("/api/v1/stats/monthly?month=2022-06", MANAGER).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["scope"], "all");
    let v = s
        .get("/api/v1/stats/monthly?month=2022-06", MANAGER_BYT)
        .await;
    assert_eq!(v.json()["scope"], "byt");
    assert_eq!(
        s.get("/api/v1/reports/2022-06?format=csv", MANAGER)
            .await
            .status,
        200
    );
    let m = s.get("/metrics", NATIONAL).await;
    assert_eq!(m.status, 200);
    assert!(m.text().contains("canhgac_http_requests_total"));
    // Malformed queries: 400 with the position, never 500.
    for (q, pos) in [("title:(tấn", 10usize), ("nosuchfield:x", 0)] {
        let r = s
            .get(&format!("/api/v1/incidents?q={}", urlencode(q)), NATIONAL)
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        let v = r.json();
        assert_eq!(v["code"], "bad_query", "{v}");
        assert_eq!(v["position"].as_u64().unwrap() as usize, pos, "{q}: {v}");
    }
    for (path, code) in [
        ("/api/v1/incidents?limit=51", "page_too_large"),
        ("/api/v1/incidents?limit=0", "page_too_large"),
        (
            "/api/v1/incidents/00000000000000000000000000000000?limit=1000",
            "page_too_large",
        ),
        ("/api/v1/incidents?cidr=300.1.1.1", "bad_request"),
        ("/api/v1/incidents?from=yesterday", "bad_request"),
        ("/api/v1/incidents?cursor=zzz", "bad_request"),
        ("/api/v1/incidents?category=spam", "bad_request"),
        ("/api/v1/incidents?bogus=1", "bad_request"),
        ("/api/v1/stats/monthly?month=2022-13", "bad_request"),
        ("/api/v1/reports/april?format=csv", "bad_request"),
        ("/api/v1/reports/2022-04?format=pdf", "bad_request"),
    ] {
        let r = s.get(path, NATIONAL).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.json()["code"], code, "{path}");
    }
    let long = "a".repeat(101);
    let r = s
        .get(&format!("/api/v1/incidents?q={long}"), NATIONAL)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "query_too_long");
    // Read-only server: a status change is refused with a clear error (after the scope check).
    let own = s
        .corpus
        .iter()
        .find(|d| d.agency == "byt")
        .unwrap()
        .incident_id;
    let other = s
        .corpus
        .iter()
        .find(|d| d.agency != "byt")
        .unwrap()
        .incident_id;
    let body = Some(r#"{"status":"acknowledged","note":"x"}"#);
    let r = s
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{}", own.to_hex()),
            Some(BYT),
            body,
        )
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], "read_only");
    let r = s
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{}", other.to_hex()),
            Some(BYT),
            body,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .call(
            "PATCH",
            &format!("/api/v1/incidents/{}", own.to_hex()),
            Some(BYT),
            Some(r#"{"status":"closed"}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    // Unknown routes are JSON 404s.
    let r = s.get("/api/v2/nothing", NATIONAL).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "not_found");
    s.stop().await;

    // Rate limit: a burst of 5, then 429 with Retry-After; other tokens are unaffected.
    let s = start(
        Limits {
            rate_per_sec: 0.5,
            burst: 5,
            ..Limits::default()
        },
        false,
    )
    .await;
    for _ in 0..5 {
        assert_eq!(s.get("/api/v1/whoami", BYT).await.status, 200);
    }
    let r = s.get("/api/v1/whoami", BYT).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(s.get("/api/v1/whoami", BCA).await.status, 200);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let doc: Value = serde_json::from_str(canhgac_serve::api::OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, routes, "openapi.json and ROUTES differ");
    // Every route is really served (not the fallback), and what the server serves is the doc.
    let s = start(Limits::default(), false).await;
    for (method, path) in &routes {
        let p = path
            .replace("{id}", "00000000000000000000000000000000")
            .replace("{month}", "2022-06")
            .replace("{token}", "byt.x.1.y")
            .replace("{file}", "app.js");
        let r = s.call(method, &p, Some(NATIONAL), Some("{}")).await;
        let not_routed = r.status == 405 || (r.status == 404 && r.text().contains("no route"));
        assert!(!not_routed, "{method} {path}: {} {}", r.status, r.text());
    }
    let served = s.get("/api/v1/openapi.json", NATIONAL).await.json();
    assert_eq!(served, doc);
    s.stop().await;
}
