//! An analyst works an incident to closure in headless Chromium: logs in with a token that
//! names a person, finds the incident in the inbox, assigns it to themself, comments, closes it
//! as a false positive with a suppression, and finds it gone from the month's counts on the
//! dashboard. Screenshots go to `$CARGO_TARGET_DIR/screenshots/<test>/<step>.png`.
//!
//! Fails, never skips, when Chromium is missing: `scripts/test.sh` installs it.

use crate::support::browser::{click, js, until, Shots};
use crate::support::*;
use canhgac_serve::{token_entry, Role};
use fantoccini::Locator;

/// A server whose tokens file names people: `BYT` is Nguyễn Thị Lan (an analyst of byt),
/// `NATIONAL` Trần Văn Minh. Keep the directory (the tokens file) while the server runs.
async fn named_server() -> (Server, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let name = "Nguyễn Thị Lan".to_string();
    std::fs::write(
        &tokens,
        token_entry(&name, &Role::Agency("byt".into()), BYT)
            + &token_entry("Trần Văn Minh", &Role::National, NATIONAL),
    )
    .unwrap();
    let s = start_setup(Setup {
        tokens_file: Some(tokens),
        ..Setup::default()
    })
    .await;
    assert_eq!(s.get("/api/v1/whoami", BYT).await.json()["name"], name);
    (s, dir, name)
}

/// Logs in through the form with `token`.
async fn log_in(c: &fantoccini::Client, base: &str, token: &str) {
    c.goto(&format!("{base}/")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(c, "#login-btn").await;
    until(
        c,
        "the inbox",
        "document.querySelector('#inbox').dataset.loaded",
    )
    .await;
}

/// The current month's total as the dashboard shows it.
async fn dashboard_total(c: &fantoccini::Client) -> u64 {
    // Empty the cards first: they hold the previous visit's figures until the new ones come.
    js(
        c,
        "(document.querySelector('#dash-cards').replaceChildren(), true)",
    )
    .await;
    click(c, "#nav-dashboard").await;
    let v = until(
        c,
        "the dashboard's total",
        "document.querySelector('#dash-cards .card .big') && document.querySelector('#dash-cards .card .big').textContent",
    )
    .await;
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The heavy-test guard is held for the whole test on purpose: it only waits for other heavy
// tests (on their own threads), never for this test's tasks.
#[allow(clippy::await_holding_lock)]
async fn ui_analyst_assigns_comments_closes_false_positive() {
    let _heavy = canhgac_testsupport::heavy();
    let (s, _tokens, name) = named_server().await;
    // The incident: the agency's newest new one, in the month the dashboard shows.
    let hits = s
        .get("/api/v1/incidents?status=new&limit=1", BYT)
        .await
        .json();
    let id = hits["hits"][0]["id"].as_str().unwrap().to_string();
    let stats = s.get("/api/v1/stats/monthly?months=1", BYT).await.json();
    let before = stats["months"][0]["incidents"].as_u64().unwrap();

    let browser = crate::support::browser::chromium(&["--lang=vi"]).await;
    let c = browser.client.clone();
    let mut shots = Shots::new("ui_analyst_closes_false_positive");
    log_in(&c, &s.base, BYT).await;
    until(
        &c,
        "the analyst's name",
        &format!(
            "document.querySelector('#who').textContent.startsWith({})",
            serde_json::json!(name)
        ),
    )
    .await;
    assert_eq!(dashboard_total(&c).await, before);

    // The inbox lists it as new; open it.
    click(&c, "#nav-inbox").await;
    until(
        &c,
        "the incident in the inbox",
        &format!("document.querySelector('#inbox li.result[data-id=\"{id}\"]')"),
    )
    .await;
    shots.take(&c, "01-inbox").await;
    click(
        &c,
        &format!("#inbox li.result[data-id=\"{id}\"] a.result-link"),
    )
    .await;
    until(
        &c,
        "the actions",
        "document.querySelector('#incident-detail') && document.querySelector('#act-assign-me')",
    )
    .await;

    // Assign to me: the assignee is the person, and the inbox has it under "assigned to me".
    click(&c, "#act-assign-me").await;
    until(
        &c,
        "the assignee",
        &format!(
            "document.querySelector('#incident-assignee').textContent === {}",
            serde_json::json!(name)
        ),
    )
    .await;
    shots.take(&c, "02-assigned").await;
    click(&c, "#nav-inbox").await;
    until(
        &c,
        "the incident assigned to me",
        &format!("document.querySelector('#inbox-assigned li.result[data-id=\"{id}\"]')"),
    )
    .await;
    click(
        &c,
        &format!("#inbox-assigned li.result[data-id=\"{id}\"] a.result-link"),
    )
    .await;
    until(&c, "the incident", "document.querySelector('#act-text')").await;

    // Comment.
    let comment = "Quét cổng định kỳ của đơn vị, không phải tấn công";
    c.find(Locator::Css("#act-text"))
        .await
        .unwrap()
        .send_keys(comment)
        .await
        .unwrap();
    // Twice, as an impatient double click: one comment.
    js(
        &c,
        "(() => { const b = document.querySelector('#act-comment'); b.click(); b.click(); return true; })()",
    )
    .await;
    until(
        &c,
        "the comment",
        &format!(
            "[...document.querySelectorAll('#incident-discussion li.comment')].some(li => li.querySelector('.text').textContent === {} && li.querySelector('strong').textContent === {})",
            serde_json::json!(comment),
            serde_json::json!(name)
        ),
    )
    .await;
    // Both requests answered: the incident has one comment.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let detail = s.get(&format!("/api/v1/incidents/{id}"), BYT).await.json();
    let comments = detail["handling"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "comment")
        .count();
    assert_eq!(
        comments, 1,
        "a double click is one comment: {}",
        detail["handling"]
    );
    shots.take(&c, "03-commented").await;

    // Close as a false positive, with a suppression of the rule × the first entity for 30 days.
    js(
        &c,
        "(() => { const r = document.querySelector('#act-reason'); r.value = 'false_positive'; r.dispatchEvent(new Event('change')); return true; })()",
    )
    .await;
    assert_eq!(
        js(&c, "document.querySelector('#act-suppress-box').hidden").await,
        false,
        "a false positive may add a suppression"
    );
    click(&c, "#act-suppress").await;
    c.find(Locator::Css("#act-text"))
        .await
        .unwrap()
        .send_keys("Cảnh báo sai")
        .await
        .unwrap();
    js(
        &c,
        "(document.querySelector('#act-resolve').scrollIntoView(), true)",
    )
    .await;
    let entity = js(
        &c,
        "(() => { const s = document.querySelector('#act-suppress-entity'); return s.options[s.selectedIndex].textContent; })()",
    )
    .await;
    let entity = entity.as_str().unwrap().to_string();
    shots.take(&c, "04-closing").await;
    click(&c, "#act-resolve").await;
    until(
        &c,
        "the close",
        "document.querySelector('#incident-status').textContent === 'Đã xử lý' && document.querySelector('#incident-reason') && document.querySelector('#incident-reason').textContent === 'Cảnh báo sai'",
    )
    .await;
    // The history says who did what.
    let who = js(
        &c,
        "[...document.querySelectorAll('#incident-history li')].map(li => [li.dataset.action, li.querySelector('.who').textContent])",
    )
    .await;
    for action in ["assign", "comment", "resolve"] {
        assert!(
            who.as_array()
                .unwrap()
                .iter()
                .any(|e| e[0] == action && e[1] == name.as_str()),
            "{action} by {name} in {who}"
        );
    }
    shots.take(&c, "05-closed").await;
    js(
        &c,
        "(document.querySelector('#incident-history').scrollIntoView(), true)",
    )
    .await;
    shots.take(&c, "06-history").await;

    // The suppression is listed, active, with its entity and owner; revoking it takes it off
    // the active list.
    click(&c, "#nav-suppressions").await;
    let row = until(
        &c,
        "the suppression",
        &format!(
            "document.querySelector('#suppression-list').dataset.loaded && [...document.querySelectorAll('#suppression-list tr.active')].map(tr => [...tr.children].map(td => td.textContent)).find(r => r[2] === {})",
            serde_json::json!(entity)
        ),
    )
    .await;
    assert_eq!(row[3], name.as_str(), "the owner: {row}");
    assert_eq!(row[6], "Hiệu lực", "{row}");
    shots.take(&c, "07-suppressions").await;
    click(&c, "#suppression-list tr.active button").await;
    until(
        &c,
        "the revoked suppression off the active list",
        "document.querySelector('#suppression-list').dataset.loaded && !document.querySelector('#suppression-list tr.active')",
    )
    .await;

    // Gone from "assigned to me", and from the month's counts.
    click(&c, "#nav-inbox").await;
    until(
        &c,
        "the inbox",
        "document.querySelector('#inbox').dataset.loaded",
    )
    .await;
    assert_eq!(
        js(
            &c,
            &format!("document.querySelector('#inbox-assigned li.result[data-id=\"{id}\"]')")
        )
        .await,
        serde_json::Value::Null,
        "a closed incident is no longer in \"assigned to me\""
    );
    assert_eq!(dashboard_total(&c).await, before - 1);
    shots.take(&c, "08-dashboard").await;
    let after = s.get("/api/v1/stats/monthly?months=1", BYT).await.json();
    assert_eq!(after["months"][0]["incidents"], before - 1);

    c.close().await.unwrap();
    s.stop().await;
    shots.report();
}

/// The ids of an incident's detections, from the API.
async fn detections_of(s: &Server, id: &str) -> Vec<String> {
    let d = s
        .get(&format!("/api/v1/incidents/{id}?limit=100"), BYT)
        .await
        .json();
    d["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// The ids of the detections the incident page's timeline shows.
async fn timeline_ids(c: &fantoccini::Client) -> Vec<String> {
    let v = js(
        c,
        "[...document.querySelectorAll('#timeline li.event')].map(e => e.dataset.id)",
    )
    .await;
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn ui_merge_then_split_an_incident() {
    let _heavy = canhgac_testsupport::heavy();
    let (s, _tokens, _name) = named_server().await;
    // Two incidents of the agency with several detections each.
    let hits = s.get("/api/v1/incidents?limit=50", BYT).await.json();
    let several: Vec<String> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["count"].as_u64().unwrap() >= 2)
        .map(|h| h["id"].as_str().unwrap().to_string())
        .take(2)
        .collect();
    let (a, b) = (several[0].clone(), several[1].clone());
    let (da, db) = (detections_of(&s, &a).await, detections_of(&s, &b).await);
    let mut both: Vec<String> = da.iter().chain(&db).cloned().collect();
    both.sort();

    let browser = crate::support::browser::chromium(&["--lang=vi"]).await;
    let c = browser.client.clone();
    let mut shots = Shots::new("ui_merge_then_split");
    log_in(&c, &s.base, BYT).await;

    // Merge b into a: b's page becomes the incident with both incidents' detections.
    c.goto(&format!("{}/#incident/{b}", s.base)).await.unwrap();
    until(
        &c,
        "the merge form",
        "document.querySelector('#act-merge-into')",
    )
    .await;
    c.find(Locator::Css("#act-merge-into"))
        .await
        .unwrap()
        .send_keys(&a)
        .await
        .unwrap();
    shots.take(&c, "01-merging").await;
    click(&c, "#act-merge").await;
    until(
        &c,
        "the merged timeline",
        &format!(
            "document.querySelectorAll('#timeline li.event').length === {}",
            both.len()
        ),
    )
    .await;
    assert_eq!(timeline_ids(&c).await, both);
    let merged = js(&c, "document.querySelector('#incident-detail').dataset.id").await;
    let merged = merged.as_str().unwrap().to_string();
    assert!(
        js(&c, "[...document.querySelectorAll('#incident-history li')].some(li => li.dataset.action === 'merge')").await == true,
        "the merge in the history"
    );
    shots.take(&c, "02-merged").await;

    // Split b's detections off again: two incidents, a's detections and b's; the page shows
    // the one that kept its id.
    for d in &db {
        click(&c, &format!("#timeline input.split-pick[value='{d}']")).await;
    }
    js(
        &c,
        "(document.querySelector('#act-split').scrollIntoView(), true)",
    )
    .await;
    shots.take(&c, "03-splitting").await;
    click(&c, "#act-split").await;
    until(
        &c,
        "the timeline after the split",
        &format!(
            "document.querySelectorAll('#timeline li.event').length && document.querySelectorAll('#timeline li.event').length !== {}",
            both.len()
        ),
    )
    .await;
    let (mut sa, mut sb) = (da.clone(), db.clone());
    sa.sort();
    sb.sort();
    let shown = timeline_ids(&c).await;
    assert!(
        shown == sa || shown == sb,
        "{shown:?}: a {sa:?} or b {sb:?}"
    );
    shots.take(&c, "04-split").await;
    // Each side is one incident of its own.
    let incident_of = |d: String| {
        let s = &s;
        async move {
            let r = s
                .get(
                    &format!("/api/v1/incidents?kind=detections&q=id:{d}&limit=1"),
                    BYT,
                )
                .await
                .json();
            r["hits"][0]["incident_id"].as_str().unwrap().to_string()
        }
    };
    let mut of_a = std::collections::BTreeSet::new();
    for d in &da {
        of_a.insert(incident_of(d.clone()).await);
    }
    let mut of_b = std::collections::BTreeSet::new();
    for d in &db {
        of_b.insert(incident_of(d.clone()).await);
    }
    assert_eq!(of_a.len(), 1, "{of_a:?}");
    assert_eq!(of_b.len(), 1, "{of_b:?}");
    assert_ne!(of_a, of_b);
    assert!(
        of_a.contains(&merged) || of_b.contains(&merged),
        "one side keeps the merged incident's id {merged}: {of_a:?} {of_b:?}"
    );

    c.close().await.unwrap();
    s.stop().await;
    shots.report();
}
