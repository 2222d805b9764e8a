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
