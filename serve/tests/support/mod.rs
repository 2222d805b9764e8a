//! Test harness: a real server on 127.0.0.1 (random port) over an index of synthetic
//! detections for eight agencies and a small HTTP client. A writable server publishes its
//! changes through a `PublisherOutbox` on an in-process `Bus` whose `test.incident-events`
//! topic the indexer loop reads (`canhgac_index::run::run`), as in `canhgac run`; with
//! [`Setup::tap`] the test reads the published records itself instead.
#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request};
use canhgac_core::detection::Detection;
use std::sync::Arc;
use std::time::Duration;

use canhgac_core::lifecycle::{IncidentEvent, Policy};
use canhgac_core::topics::Topics;
use canhgac_core::transport::{Bus, BusSubscription, Subscription, TopicFilter};
use canhgac_index::synth::incident_detections;
use canhgac_index::{run, CommitPolicy, IncidentIndex, Indexer, IndexerOptions, RunOptions};
use canhgac_serve::{AuditLog, Auth, Limits, PublisherOutbox, Role, ServerState, TlsConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

pub const NATIONAL: &str = "cg_test_national";
pub const BYT: &str = "cg_test_agency_byt";
pub const BCA: &str = "cg_test_agency_bca";
pub const MANAGER: &str = "cg_test_manager";
pub const MANAGER_BYT: &str = "cg_test_manager_byt";
/// A person: Lan, an analyst of byt.
pub const LAN: &str = "cg_test_lan";
pub const EVENTS_TOPIC: &str = "test.incident-events";

/// 240 incidents over the eight synthetic agencies and twelve months of 2022.
pub fn corpus() -> Vec<Detection> {
    (0..240)
        .flat_map(|i| incident_detections(i, 1 + i % 3, 202201, 12))
        .collect()
}

pub struct Server {
    pub base: String,
    pub corpus: Vec<Detection>,
    pub audit_path: PathBuf,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    indexer: Option<tokio::task::JoinHandle<()>>,
    /// With [`Setup::tap`]: the published records, for the test to read (and ack).
    pub tap: Option<tokio::sync::Mutex<BusSubscription>>,
    _bus: Bus,
    _dir: tempfile::TempDir,
}

pub fn auth() -> Auth {
    Auth::from_tokens([
        ("soc-national", Role::National, NATIONAL),
        ("soc-byt", Role::Agency("byt".into()), BYT),
        ("soc-bca", Role::Agency("bca".into()), BCA),
        ("manager", Role::Manager(None), MANAGER),
        (
            "manager-byt",
            Role::Manager(Some("byt".into())),
            MANAGER_BYT,
        ),
        ("Lan", Role::Agency("byt".into()), LAN),
    ])
}

/// What a test server has.
pub struct Setup {
    pub limits: Limits,
    /// An outbox on the bus (changes possible); without it the server is read-only.
    pub writable: bool,
    /// The test reads `test.incident-events` itself; the indexer reads detections only.
    pub tap: bool,
    pub tls: Option<TlsConfig>,
    /// Tokens from this file (followed) instead of [`auth`].
    pub tokens_file: Option<PathBuf>,
    pub policy: Option<Policy>,
    pub ack_secret: Option<Vec<u8>>,
    /// How long a change waits for the index.
    pub apply_wait: Option<Duration>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            limits: Limits {
                burst: 1_000_000,
                ..Limits::default()
            },
            writable: true,
            tap: false,
            tls: None,
            tokens_file: None,
            policy: None,
            ack_secret: None,
            apply_wait: None,
        }
    }
}

/// Starts a server; `writable` gives it an outbox onto the bus the indexer loop reads.
pub async fn start(limits: Limits, writable: bool) -> Server {
    start_with(limits, writable, None).await
}

/// As [`start`], serving HTTPS when `tls` is given (`base` is then `https://…`).
pub async fn start_with(limits: Limits, writable: bool, tls: Option<TlsConfig>) -> Server {
    start_setup(Setup {
        limits,
        writable,
        tls,
        ..Setup::default()
    })
    .await
}

pub async fn start_setup(setup: Setup) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let opts = IndexerOptions {
        threads: 1,
        heap_bytes: 30 << 20,
        commit: CommitPolicy {
            max_docs: 50_000,
            max_interval: Duration::from_millis(200),
        },
        policy: setup.policy.clone().unwrap_or_default(),
    };
    let mut ix = Indexer::open(&dir.path().join("index"), opts).unwrap();
    for d in &corpus {
        ix.process(&serde_json::to_vec(d).unwrap(), None).unwrap();
    }
    ix.commit().unwrap();
    let index = IncidentIndex::of(&ix).unwrap();
    index.reload().unwrap();
    let cancel = CancellationToken::new();
    let bus = Bus::new(16);
    let topics = Topics::new("test").unwrap();
    assert_eq!(topics.incident_events(), EVENTS_TOPIC);
    let mut tap = None;
    let mut read = vec!["test.detections".to_string()];
    if setup.tap {
        tap = Some(tokio::sync::Mutex::new(
            bus.subscribe(TopicFilter::Exact(vec![EVENTS_TOPIC.into()])),
        ));
    } else {
        read.push(EVENTS_TOPIC.into());
    }
    let (outbox, indexer) = if setup.writable {
        let sub = bus.subscribe(TopicFilter::Exact(read));
        let c = cancel.clone();
        let task = tokio::spawn(async move {
            run::run(
                ix,
                sub,
                RunOptions {
                    track_offsets: true,
                },
                c,
            )
            .await
            .unwrap();
        });
        let outbox: Arc<dyn canhgac_serve::Outbox> =
            Arc::new(PublisherOutbox::new(bus.publisher(), &topics));
        (Some(outbox), Some(task))
    } else {
        drop(ix);
        (None, None)
    };
    let audit_path = dir.path().join("audit.jsonl");
    let auth = match &setup.tokens_file {
        Some(p) => Auth::load_checking(p, Duration::ZERO).unwrap(),
        None => auth(),
    };
    let mut state = ServerState::new(
        index,
        outbox,
        auth,
        AuditLog::open(&audit_path).unwrap(),
        setup.limits,
    );
    if let Some(p) = setup.policy {
        state = state.with_policy(p);
    }
    if let Some(secret) = setup.ack_secret {
        state = state.with_ack_secret(secret);
    }
    if let Some(w) = setup.apply_wait {
        state = state.with_apply_wait(w);
    }
    let tls = setup.tls;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    let c = cancel.clone();
    let server = tokio::spawn(async move {
        match tls {
            Some(tls) => canhgac_serve::serve_tls(listener, tls, state, c)
                .await
                .unwrap(),
            None => canhgac_serve::serve(listener, state, c).await.unwrap(),
        }
    });
    Server {
        base,
        corpus,
        audit_path,
        cancel,
        server,
        indexer,
        tap,
        _bus: bus,
        _dir: dir,
    }
}

impl Server {
    pub async fn stop(self) {
        self.cancel.cancel();
        self.server.await.unwrap();
        if let Some(t) = self.indexer {
            t.await.unwrap();
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        call(&format!("{}{path}", self.base), method, token, body, &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None).await
    }

    /// The next record published (with [`Setup::tap`]), acked; `None` after `wait`.
    pub async fn next_record(&self, wait: Duration) -> Option<IncidentEvent> {
        let mut tap = self.tap.as_ref().expect("a tapped server").lock().await;
        let m = tokio::time::timeout(wait, tap.recv()).await.ok()??.unwrap();
        assert_eq!(m.topic, EVENTS_TOPIC);
        let r = IncidentEvent::from_json(&m.payload).unwrap();
        assert_eq!(
            m.key.as_deref(),
            Some(r.id.to_hex().as_bytes()),
            "key = record id"
        );
        m.ack.ack();
        Some(r)
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn call(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}
