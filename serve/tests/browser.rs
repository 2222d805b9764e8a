//! The web UI in headless Chromium (Debian `chromium` + `chromium-driver`, driven over
//! WebDriver): log in with a token and land on the inbox, search a Vietnamese phrase (facets
//! with rule titles), open an incident (names, the timeline's fields, the raw event one click
//! away) and acknowledge it, pivot on an entity, find the dashboard's SVG chart, open the
//! printable report. Screenshots go to `$CARGO_TARGET_DIR/screenshots/<test>/<step>.png`
//! (default `target/`).
//!
//! Fails, never skips, when Chromium is missing: `scripts/test.sh` installs it.

use crate::support::browser::{click, js, until, Shots};
use crate::support::*;
use canhgac_serve::Limits;
use fantoccini::Locator;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The heavy-test guard is held for the whole test on purpose: it only waits for other heavy
// tests (on their own threads), never for this test's tasks.
#[allow(clippy::await_holding_lock)]
async fn ui_login_search_incident_dashboard_in_headless_chromium() {
    let _heavy = canhgac_testsupport::heavy();
    let s = start(Limits::default(), true).await;
    let browser = crate::support::browser::chromium(&["--lang=vi"]).await;
    let c = browser.client.clone();
    let mut shots = Shots::new("ui_login_search_incident_dashboard");

    // Log in through the form (Vietnamese is the default language); an analyst lands on the
    // inbox.
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
    shots.take(&c, "01-login").await;
    click(&c, "#login-btn").await;
    until(
        &c,
        "the inbox",
        "!document.querySelector('#view-inbox').hidden && document.querySelector('#inbox').dataset.loaded",
    )
    .await;
    shots.take(&c, "02-inbox").await;
    click(&c, "#nav-search").await;
    until(
        &c,
        "first results",
        "document.querySelectorAll('#results li.result').length",
    )
    .await;

    // Search a Vietnamese phrase, typed with its diacritics.
    let q = c.find(Locator::Css("#q")).await.unwrap();
    q.send_keys("\"tấn công\"").await.unwrap();
    assert_eq!(
        js(&c, "document.querySelector('#q').value").await,
        "\"tấn công\""
    );
    click(&c, "#search-btn").await;
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
    let titles = js(
        &c,
        "[...document.querySelectorAll('#results a.result-link')].map(a => a.textContent)",
    )
    .await;
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
    // The rule facets name rules by title (the id in the tooltip), never by bare id.
    let rules = js(
        &c,
        "[...document.querySelectorAll('#facets button.facet[data-facet=rule]')].map(b => [b.dataset.value, b.querySelector('.facet-label').textContent])",
    )
    .await;
    let rules = rules.as_array().unwrap();
    assert!(!rules.is_empty());
    for r in rules {
        let (id, label) = (r[0].as_str().unwrap(), r[1].as_str().unwrap());
        let title = canhgac_index::synth::RULES
            .iter()
            .find(|x| x.0 == id)
            .unwrap_or_else(|| panic!("unknown rule {id}"))
            .1;
        assert_eq!(label, title, "the facet of rule {id}");
    }
    // The agency facets and the hits show what the API names them.
    let api = s
        .get(
            "/api/v1/incidents?q=%22t%E1%BA%A5n%20c%C3%B4ng%22&facets=true&limit=25",
            NATIONAL,
        )
        .await
        .json();
    for f in api["facets"]["agency"].as_array().unwrap() {
        let (value, label) = match f {
            Value::Array(p) => (p[0].clone(), p[0].clone()),
            o => (o["value"].clone(), o["label"].clone()),
        };
        let shown = js(
            &c,
            &format!(
                "document.querySelector('#facets button.facet[data-facet=agency][data-value={value}] .facet-label').textContent"
            ),
        )
        .await;
        assert_eq!(shown, label, "the facet of agency {value}");
    }
    let system = js(
        &c,
        "document.querySelector('#results li.result .name.system').textContent",
    )
    .await;
    assert!(
        system
            .as_str()
            .unwrap()
            .starts_with("Cổng thông tin điện tử"),
        "a system by its name: {system}"
    );
    shots.take(&c, "03-search").await;

    // Open an incident: names, the timeline with the events' fields, rule author, guidance,
    // the raw event folded away; acknowledge it.
    click(&c, "#results a.result-link").await;
    until(
        &c,
        "incident detail",
        "document.querySelector('#incident-detail')",
    )
    .await;
    until(
        &c,
        "events",
        "document.querySelectorAll('#timeline .event').length",
    )
    .await;
    let id = js(&c, "document.querySelector('#incident-detail').dataset.id").await;
    let id = id.as_str().unwrap().to_string();
    let first = s
        .corpus
        .iter()
        .filter(|d| d.incident_id.to_hex() == id)
        .min_by_key(|d| d.timestamp)
        .expect("the incident's detections in the corpus")
        .clone();
    let system = js(
        &c,
        "document.querySelector('#incident-system .name').textContent",
    )
    .await;
    assert_eq!(system, first.system.as_ref().unwrap().name_vi.as_str());
    let author = c.find(Locator::Css("#detail .author")).await.unwrap();
    assert_eq!(author.text().await.unwrap(), "canhgac");
    let guidance = c.find(Locator::Css("#detail .guidance")).await.unwrap();
    assert!(guidance.text().await.unwrap().contains("Cô lập máy chủ"));
    // The first event's key fields as a table: host, user, source, destination, URL; the
    // entities among them are pivot links.
    let fields = js(
        &c,
        "Object.fromEntries([...document.querySelectorAll('#timeline .event:first-child table.fields tr')].map(r => [r.dataset.field, r.querySelector('td').textContent]))",
    )
    .await;
    let ecs = &first.event.ecs;
    assert_eq!(
        fields["host"],
        ecs.host_name.as_deref().unwrap(),
        "{fields}"
    );
    assert_eq!(
        fields["user"],
        ecs.user_name.as_deref().unwrap(),
        "{fields}"
    );
    assert_eq!(
        fields["source"],
        ecs.source_ip.unwrap().to_string(),
        "{fields}"
    );
    assert_eq!(
        fields["destination"],
        ecs.destination_ip.unwrap().to_string(),
        "{fields}"
    );
    assert_eq!(fields["url"], ecs.url_full.as_deref().unwrap(), "{fields}");
    assert!(
        js(&c, "document.querySelector('#timeline .event:first-child table.fields tr[data-field=source] a.entity.ips')").await.is_object(),
        "the source address is a pivot link"
    );
    // The raw event is there, folded.
    let raw = js(
        &c,
        "(() => { const d = document.querySelector('#timeline .event:first-child details.raw'); return [d.open, JSON.parse(d.querySelector('pre').textContent).id]; })()",
    )
    .await;
    assert_eq!(raw, serde_json::json!([false, first.event.id.to_hex()]));
    click(&c, "#act-acknowledge").await;
    until(
        &c,
        "the new status",
        "document.querySelector('#incident-status') && document.querySelector('#incident-status').textContent === 'Đã tiếp nhận' && document.querySelector('#incident-history li')",
    )
    .await;
    shots.take(&c, "04-incident").await;
    js(
        &c,
        "document.querySelector('#timeline').scrollIntoView() === undefined",
    )
    .await;
    shots.take(&c, "04-timeline").await;

    // Pivot on the incident's site (a domain of its own): the search finds the incident and
    // lists the detections that name it.
    let domain = first.group_key.clone();
    click(
        &c,
        &format!("#incident-entities a.entity.domains[data-value='{domain}']"),
    )
    .await;
    until(
        &c,
        "the pivot's incidents",
        &format!("document.querySelector('#entity-chip') && document.querySelector('#results li.result[data-id=\"{id}\"]')"),
    )
    .await;
    let dets = s.corpus.iter().filter(|d| d.group_key == domain).count();
    until(
        &c,
        "the pivot's detections",
        &format!(
            "document.querySelectorAll('#entity-detection-list li.detection').length === {dets}"
        ),
    )
    .await;
    assert_eq!(
        js(&c, "document.querySelectorAll('#results li.result').length").await,
        1,
        "only the incident of that site"
    );
    shots.take(&c, "05-pivot").await;
    // And on one of its addresses, from the hit's line: a CIDR filter, not a word.
    let ip = js(
        &c,
        "document.querySelector('#results li.result a.entity.ips').dataset.value",
    )
    .await;
    let ip = ip.as_str().unwrap().to_string();
    click(&c, "#results li.result a.entity.ips").await;
    until(
        &c,
        "the address pivot",
        &format!("document.querySelector('#entity-chip') && document.querySelector('#entity-chip').textContent.includes('{ip}') && document.querySelector('#results li.result[data-id=\"{id}\"]')"),
    )
    .await;
    let named = s
        .corpus
        .iter()
        .filter(|d| d.entities.ips.contains(&ip))
        .count();
    until(
        &c,
        "the detections naming the address",
        &format!(
            "document.querySelectorAll('#entity-detection-list li.detection').length === {}",
            named.min(25)
        ),
    )
    .await;

    // Dashboard: the monthly bar chart (SVG) with the national classes.
    click(&c, "#nav-dashboard").await;
    let bars = until(
        &c,
        "the SVG chart",
        "document.querySelectorAll('#dash-bars svg#chart-monthly rect.bar').length",
    )
    .await;
    assert!(bars.as_u64().unwrap() >= 12, "bars: {bars}");
    let national = js(
        &c,
        "document.querySelectorAll('svg#chart-monthly rect.bar.national').length",
    )
    .await;
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
    shots.take(&c, "06-dashboard").await;

    // English, and the printable report.
    click(&c, "#lang-toggle").await;
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
    shots.take(&c, "07-report-en").await;

    c.close().await.unwrap();
    s.stop().await;
    shots.report();
}
