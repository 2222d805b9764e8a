//! The three renderings of the report carry the same figures: the API's JSON, CSV and HTML of
//! the bulletin corpus (`canhgac_index::bulletin`) are byte for byte the CLI's golden files
//! (`tests/golden/report-2022-04.*`, checked against `canhgac report` in
//! `tests/report_cli.rs`), and the web UI's report page, rendered in headless Chromium, shows
//! the same figures (read from its `data-fig` elements) as the model.
//!
//! `CANHGAC_UPDATE_GOLDEN=1` writes the UI's golden file (`report-2022-04.en.ui.html`, the
//! article as the browser shows it).

use std::time::{Duration, Instant};

use canhgac_index::bulletin::{self, figures};
use canhgac_index::{IncidentIndex, Indexer, IndexerOptions};
use canhgac_serve::{AuditLog, Limits, ServerState};
use fantoccini::Locator;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::{auth, call, NATIONAL};

fn golden_path(name: &str) -> std::path::PathBuf {
    canhgac_testsupport::repo("tests/golden").join(name)
}

fn cli_golden(name: &str) -> String {
    std::fs::read_to_string(golden_path(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (written by the root crate's report_cli test)"))
}

struct Served {
    base: String,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn serve_bulletin() -> Served {
    serve_bulletin_with(None).await
}

/// The bulletin corpus served, with the agencies of `registry` in the report when given.
async fn serve_bulletin_with(registry: Option<&str>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut ix = Indexer::open(
        &dir.path().join("index"),
        IndexerOptions {
            threads: 1,
            heap_bytes: 30 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    for d in bulletin::corpus() {
        ix.process(&serde_json::to_vec(&d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    drop(ix);
    let mut state = ServerState::new(index, None, auth(), AuditLog::disabled(), Limits::default());
    if let Some(r) = registry {
        let registry = canhgac_core::registry::Registry::load(std::path::Path::new(r)).unwrap();
        state = state.with_agencies(canhgac_index::Agencies::from_registry(&registry));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let task = tokio::spawn(async move {
        canhgac_serve::serve(listener, state, c).await.unwrap();
    });
    Served {
        base,
        cancel,
        task,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_renders_the_cli_golden_files() {
    let s = serve_bulletin().await;
    for lang in ["vi", "en"] {
        let json_text = cli_golden(&format!("report-2022-04.{lang}.json"));
        let model = figures::from_json(&json_text);
        assert_eq!(model["headline.national.current"], 938);
        for (format, ext) in [("json", "json"), ("csv", "csv"), ("html", "html")] {
            let r = call(
                &format!(
                    "{}/api/v1/reports/2022-04?format={format}&lang={lang}",
                    s.base
                ),
                "GET",
                Some(NATIONAL),
                None,
                &[],
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
            let body = r.text();
            assert_eq!(
                body,
                cli_golden(&format!("report-2022-04.{lang}.{ext}")),
                "the API's {format} ({lang}) differs from the CLI's"
            );
            let f = match format {
                "json" => figures::from_json(&body),
                "csv" => figures::from_csv(&body),
                _ => figures::from_html(&body),
            };
            assert_eq!(f, model, "{lang} {format}");
        }
    }
    // A quarter, as the CLI renders it.
    let r = call(
        &format!("{}/api/v1/reports/2022-Q2?format=json&lang=en", s.base),
        "GET",
        Some(NATIONAL),
        None,
        &[],
    )
    .await;
    assert_eq!(r.text(), cli_golden("report-2022-Q2.en.json"));
    s.cancel.cancel();
    s.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_registry_the_api_names_agencies_as_the_cli_does() {
    let registry = canhgac_testsupport::repo("rules/agencies.example.toml");
    let s = serve_bulletin_with(Some(registry.to_str().unwrap())).await;
    let r = call(
        &format!("{}/api/v1/reports/2022-04?format=json&lang=en", s.base),
        "GET",
        Some(NATIONAL),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(body.contains("Ministry of Health"), "{body}");
    assert_eq!(body, cli_golden("report-2022-04-registry.en.json"));
    // Searches name agencies and rules too: in hits and in facets, never bare ids.
    let r = call(
        &format!("{}/api/v1/incidents?facets=true&limit=50", s.base),
        "GET",
        Some(NATIONAL),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let byt = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["agency"] == "byt")
        .expect("a byt incident");
    assert_eq!(byt["agency_name"], "Bộ Y tế");
    assert!(byt["rule_titles"][0].is_string());
    let agencies = v["facets"]["agency"].as_array().unwrap();
    let byt = agencies.iter().find(|f| f["value"] == "byt").unwrap();
    assert_eq!(byt["label"], "Bộ Y tế");
    assert!(byt["count"].as_u64().unwrap() > 0);
    for rule in v["facets"]["rule"].as_array().unwrap() {
        let (id, title) = (
            rule["value"].as_str().unwrap(),
            rule["label"].as_str().unwrap(),
        );
        assert_ne!(id, title, "rule {id} has its title");
        assert!(!title.is_empty());
    }
    s.cancel.cancel();
    s.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The heavy-test guard is held for the whole test on purpose (see browser.rs).
#[allow(clippy::await_holding_lock)]
async fn the_web_ui_report_page_shows_the_same_figures_in_chromium() {
    let _heavy = canhgac_testsupport::heavy();
    let s = serve_bulletin().await;
    let browser = crate::support::browser::chromium(&[]).await;
    let c = browser.client.clone();
    for lang in ["en", "vi"] {
        // Log in with the token in the fragment, in this language, and open the report page.
        c.goto(&format!("{}/", s.base)).await.unwrap();
        c.execute(
            &format!("localStorage.setItem('cg.lang', '{lang}'); return true;"),
            vec![],
        )
        .await
        .unwrap();
        c.goto(&format!("{}/#token={NATIONAL}", s.base))
            .await
            .unwrap();
        // The page reads its language when it loads.
        c.refresh().await.unwrap();
        c.goto(&format!("{}/#report/2022-04", s.base))
            .await
            .unwrap();
        let started = Instant::now();
        let article = loop {
            let v = c
                .execute(
                    "const a = document.querySelector('#report article.report'); \
                     return a && a.querySelectorAll('[data-fig]').length > 60 ? a.outerHTML : null;",
                    vec![],
                )
                .await
                .unwrap();
            if let Value::String(html) = v {
                break html;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the report page did not render: {}",
                c.source()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(2000)
                    .collect::<String>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let shown: Value = c
            .execute(
                "return Object.fromEntries([...document.querySelectorAll('#report [data-fig]')]\
                 .map(e => [e.dataset.fig, e.textContent]));",
                vec![],
            )
            .await
            .unwrap();
        let mut ui = figures::Figures::new();
        for (k, v) in shown.as_object().unwrap() {
            let n: String = v
                .as_str()
                .unwrap()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            ui.insert(k.clone(), n.parse().unwrap());
        }
        let model = figures::from_json(&cli_golden(&format!("report-2022-04.{lang}.json")));
        assert_eq!(
            ui, model,
            "the UI's figures ({lang}) differ from the model's"
        );
        assert_eq!(figures::from_html(&article), model);
        assert!(
            article.starts_with(&format!("<article class=\"report\" lang=\"{lang}\"")),
            "the page shows the report in {lang}"
        );
        assert!(c.find(Locator::Css("#report svg.trend")).await.is_ok());
        if lang == "en" {
            canhgac_testsupport::golden(&golden_path("report-2022-04.en.ui.html"), &article);
        }
    }
    c.close().await.unwrap();
    s.cancel.cancel();
    s.task.await.unwrap();
}
