//! A real webhook receiver on 127.0.0.1 for the notifier's tests: `POST /hook/{agency}` checks
//! the HMAC-SHA256 signature with the agency's secret, answers 503 to the first `fail_first`
//! requests, then records the alert and answers 200 after `delay` (so that a notifier is often
//! killed with a request in flight); `POST /gone/{agency}` always answers 410 (a permanent
//! failure).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// The secret a test gives the notifier for `agency` (environment [`secret_env`]).
pub fn secret(agency: &str) -> String {
    format!("s3cret-{agency}-{}", agency.len())
}

/// The environment variable holding `agency`'s secret.
pub fn secret_env(agency: &str) -> String {
    format!(
        "CANHGAC_TEST_SECRET_{}",
        agency.to_ascii_uppercase().replace('-', "_")
    )
}

/// One request or message a receiver accepted.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub channel: String,
    pub key: String,
    pub body: String,
}

#[derive(Default)]
pub struct Receiver {
    pub requests: AtomicU64,
    pub arrivals: Mutex<Vec<Arrival>>,
    pub bad_signatures: AtomicU64,
    /// Requests accepted and not answered yet.
    pub in_flight: AtomicU64,
    fail_first: u64,
    delay: Duration,
}

impl Receiver {
    pub fn new(fail_first: u64, delay: Duration) -> Arc<Receiver> {
        Arc::new(Receiver {
            fail_first,
            delay,
            ..Default::default()
        })
    }

    /// Waits (up to `timeout`) until a request was accepted and is not answered yet.
    pub fn wait_in_flight(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }
}

async fn hook(
    State(r): State<Arc<Receiver>>,
    UrlPath(agency): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = r.requests.fetch_add(1, Ordering::SeqCst);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret(&agency).as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let got = headers
        .get("x-canhgac-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if got != expected {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if n < r.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    r.arrivals.lock().unwrap().push(Arrival {
        channel: format!("webhook:{agency}"),
        key,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    r.in_flight.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(r.delay).await;
    r.in_flight.fetch_sub(1, Ordering::SeqCst);
    StatusCode::OK
}

async fn gone() -> StatusCode {
    StatusCode::GONE
}

/// Starts the receiver on `rt`; returns its port. It stops when `stop` is cancelled.
pub fn start(
    rt: &tokio::runtime::Runtime,
    receiver: Arc<Receiver>,
    stop: CancellationToken,
) -> u16 {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route("/hook/{agency}", axum::routing::post(hook))
        .route("/gone/{agency}", axum::routing::post(gone))
        .with_state(receiver);
    rt.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    port
}
