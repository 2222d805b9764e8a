//! The web UI in headless Chromium (Debian `chromium` + `chromium-driver`, driven over
//! WebDriver): log in with a token, search a Vietnamese phrase, open an incident and change
//! its status, find the dashboard's SVG chart, open the printable report. Screenshots go to
//! `$CARGO_TARGET_DIR/test-artifacts/serve-browser/` (default `target/`).
//!
//! Fails, never skips, when Chromium is missing: `scripts/test.sh` installs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;
use canhgac_serve::Limits;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

fn artefacts() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-artifacts/serve-browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls a JavaScript expression until it is truthy; returns its value.
async fn until(c: &Client, what: &str, expr: &str) -> Value {
    let started = Instant::now();
    loop {
        let v = c
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap();
        let truthy =
            !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        if truthy {
            return v;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let src = c.source().await.unwrap_or_default();
            panic!(
                "timed out waiting for {what} ({expr}); page:\n{}",
                &src[..src.len().min(3000)]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn shot(c: &Client, dir: &Path, name: &str, saved: &mut Vec<PathBuf>) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let p = dir.join(name);
    std::fs::write(&p, png).unwrap();
    saved.push(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The heavy-test guard is held for the whole test on purpose: it only waits for other heavy
// tests (on their own threads), never for this test's tasks.
#[allow(clippy::await_holding_lock)]
async fn ui_login_search_incident_dashboard_in_headless_chromium() {
    let _heavy = canhgac_testsupport::heavy();
    let s = start(Limits::default(), true).await;
    let browser = crate::support::browser::chromium(&["--lang=vi"]).await;
    let c = browser.client.clone();
    let dir = artefacts();
    let mut saved = Vec::new();

    // Log in through the form (Vietnamese is the default language).
    c.goto(&format!("{}/", s.base)).await.unwrap();
    let token = c.wait().for_element(Locator::Css("#token")).await.unwrap();
    assert_eq!(
        c.find(Locator::Css("#login-btn"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Đăng nhập"
    );
    token.send_keys(NATIONAL).await.unwrap();
    shot(&c, &dir, "01-login.png", &mut saved).await;
    c.find(Locator::Css("#login-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "first results",
        "document.querySelectorAll('#results li.result').length",
    )
    .await;

    // Search a Vietnamese phrase, typed with its diacritics.
    let q = c.find(Locator::Css("#q")).await.unwrap();
    q.send_keys("\"tấn công\"").await.unwrap();
    let typed = c
        .execute("return document.querySelector('#q').value;", vec![])
        .await
        .unwrap();
    assert_eq!(typed, "\"tấn công\"");
    c.find(Locator::Css("#search-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let want = s
        .corpus
        .iter()
        .filter(|d| d.rule.title.to_lowercase().contains("tấn công"))
        .map(|d| d.incident_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(want > 0);
    until(
        &c,
        "the search summary",
        &format!("document.querySelector('#search-summary').textContent.startsWith('{want} ')"),
    )
    .await;
    let titles = c
        .execute(
            "return [...document.querySelectorAll('#results a.result-link')].map(a => a.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let titles = titles.as_array().unwrap();
    assert!(!titles.is_empty());
    for t in titles {
        assert!(
            t.as_str().unwrap().to_lowercase().contains("tấn công"),
            "{t}"
        );
    }
    until(
        &c,
        "facets",
        "document.querySelectorAll('#facets button.facet').length",
    )
    .await;
    shot(&c, &dir, "02-search.png", &mut saved).await;

    // Open an incident: events, rule author, guidance; acknowledge it.
    c.find(Locator::Css("#results a.result-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "incident detail",
        "document.querySelector('#incident-detail')",
    )
    .await;
    until(
        &c,
        "events",
        "document.querySelectorAll('#detail .event').length",
    )
    .await;
    let author = c.find(Locator::Css("#detail .author")).await.unwrap();
    assert_eq!(author.text().await.unwrap(), "canhgac");
    let guidance = c.find(Locator::Css("#detail .guidance")).await.unwrap();
    assert!(guidance.text().await.unwrap().contains("Cô lập máy chủ"));
    c.execute(
        "document.querySelector('#status-select').value = 'acknowledged';",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css("#status-note"))
        .await
        .unwrap()
        .send_keys("Đã liên hệ đơn vị")
        .await
        .unwrap();
    c.find(Locator::Css("#status-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "the new status",
        "document.querySelector('#incident-status') && document.querySelector('#incident-status').textContent === 'Đã tiếp nhận' && document.querySelector('#detail li')",
    )
    .await;
    shot(&c, &dir, "03-incident.png", &mut saved).await;

    // Dashboard: the monthly bar chart (SVG) with the national classes.
    c.find(Locator::Css("#nav-dashboard"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let bars = until(
        &c,
        "the SVG chart",
        "document.querySelectorAll('#dash-bars svg#chart-monthly rect.bar').length",
    )
    .await;
    assert!(bars.as_u64().unwrap() >= 12, "bars: {bars}");
    let national = c
        .execute(
            "return document.querySelectorAll('svg#chart-monthly rect.bar.national').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(national.as_u64().unwrap() > 0);
    until(
        &c,
        "the trend",
        "document.querySelector('svg#chart-trend polyline')",
    )
    .await;
    until(
        &c,
        "the agency table",
        "document.querySelectorAll('#dash-agencies tr').length > 3",
    )
    .await;
    shot(&c, &dir, "04-dashboard.png", &mut saved).await;

    // English, and the printable report.
    c.find(Locator::Css("#lang-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        &c,
        "English labels",
        "document.querySelector('#nav-dashboard').textContent === 'Dashboard'",
    )
    .await;
    c.goto(&format!("{}/#report/2022-06", s.base))
        .await
        .unwrap();
    until(
        &c,
        "the report",
        "document.querySelector('#report article.report[data-period=\"2022-06\"] h1') && document.querySelector('#report h1').textContent.includes('June 2022')",
    )
    .await;
    shot(&c, &dir, "05-report-en.png", &mut saved).await;

    c.close().await.unwrap();
    s.stop().await;
    for p in &saved {
        assert!(std::fs::metadata(p).unwrap().len() > 1000);
        println!("screenshot: {}", p.display());
    }
}
