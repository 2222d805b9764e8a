//! Headless Chromium driven over WebDriver (Debian `chromium` + `chromium-driver`), for the
//! browser tests. Fails, never skips, when Chromium is missing: `scripts/test.sh` installs it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// `$ENV`, else the first of `names` on `PATH` or in /usr/bin.
fn find_bin(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Stops chromedriver (the process this harness started) however the test ends.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session in headless Chromium; chromedriver stops when it is dropped.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

/// Starts chromedriver on a free loopback port and opens a headless Chromium session (1280×1000
/// window) with `extra_args` added to Chromium's command line.
pub async fn chromium(extra_args: &[&str]) -> Browser {
    let chromium = find_bin("CHROMIUM", &["chromium", "chromium-browser"]).expect(
        "chromium is not installed: run scripts/test.sh (apt-get install chromium chromium-driver)",
    );
    let driver = find_bin("CHROMEDRIVER", &["chromedriver"]).expect(
        "chromedriver is not installed: run scripts/test.sh (apt-get install chromium-driver)",
    );
    let port = canhgac_testsupport::free_port();
    let child = std::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ];
    args.extend_from_slice(extra_args);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");
    Browser {
        client,
        _driver: driver,
    }
}

/// Where a browser test keeps its screenshots: `$CARGO_TARGET_DIR/screenshots/<test>/`
/// (default `target/`), emptied first so a run leaves only its own.
pub fn screenshots(test: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("screenshots").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test's screenshots, `<step>.png` in its directory.
pub struct Shots {
    pub dir: PathBuf,
    pub saved: Vec<PathBuf>,
}

impl Shots {
    pub fn new(test: &str) -> Shots {
        Shots {
            dir: screenshots(test),
            saved: Vec::new(),
        }
    }

    pub async fn take(&mut self, c: &Client, step: &str) {
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let p = self.dir.join(format!("{step}.png"));
        std::fs::write(&p, png).unwrap();
        self.saved.push(p);
    }

    /// Checks every screenshot is a real image and prints where it is.
    pub fn report(&self) {
        for p in &self.saved {
            assert!(
                std::fs::metadata(p).unwrap().len() > 1000,
                "{}",
                p.display()
            );
            println!("screenshot: {}", p.display());
        }
    }
}

/// Polls a JavaScript expression until it is truthy (20 s at most); returns its value.
pub async fn until(c: &Client, what: &str, expr: &str) -> serde_json::Value {
    use serde_json::Value;
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
            let msg = c
                .execute(
                    "const m = document.querySelector('#act-msg, .error:not([hidden])'); return m ? m.textContent : '';",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!(
                "timed out waiting for {what} ({expr}); message on the page: {msg}; page:\n{}",
                &src[..src.len().min(3000)]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a JavaScript expression and returns its value.
pub async fn js(c: &Client, expr: &str) -> serde_json::Value {
    c.execute(&format!("return ({expr});"), vec![])
        .await
        .unwrap()
}

/// Clicks the element `css`.
pub async fn click(c: &Client, css: &str) {
    c.find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .click()
        .await
        .unwrap();
}
