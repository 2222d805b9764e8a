//! Test harness: a real server on 127.0.0.1 (random port) over an index of synthetic
//! detections for eight agencies, with its indexer loop running (so status changes work), and
//! a small HTTP client.
#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request};
use canhgac_core::detection::Detection;
use canhgac_core::transport::{Bus, TopicFilter};
use canhgac_index::synth::incident_detections;
use canhgac_index::{run, IncidentIndex, Indexer, IndexerHandle, IndexerOptions, RunOptions};
use canhgac_serve::{AuditLog, Auth, Limits, Role, ServerState, TlsConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

pub const NATIONAL: &str = "cg_test_national";
pub const BYT: &str = "cg_test_agency_byt";
pub const BCA: &str = "cg_test_agency_bca";
pub const MANAGER: &str = "cg_test_manager";
pub const MANAGER_BYT: &str = "cg_test_manager_byt";

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
    ])
}

/// Starts a server; `writable` runs the indexer loop and hands the server its handle.
pub async fn start(limits: Limits, writable: bool) -> Server {
    start_with(limits, writable, None).await
}

/// As [`start`], serving HTTPS when `tls` is given (`base` is then `https://…`).
pub async fn start_with(limits: Limits, writable: bool, tls: Option<TlsConfig>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let opts = IndexerOptions {
        threads: 1,
        heap_bytes: 30 << 20,
        ..Default::default()
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
    let (writer, indexer): (Option<IndexerHandle>, _) = if writable {
        let (handle, rx) = IndexerHandle::channel();
        let sub = bus.subscribe(TopicFilter::Exact(vec!["test.detections".into()]));
        let c = cancel.clone();
        let task = tokio::spawn(async move {
            run::run(
                ix,
                sub,
                RunOptions {
                    track_offsets: false,
                },
                Some(rx),
                c,
            )
            .await
            .unwrap();
        });
        (Some(handle), Some(task))
    } else {
        drop(ix);
        (None, None)
    };
    let audit_path = dir.path().join("audit.jsonl");
    let state = ServerState::new(
        index,
        writer,
        auth(),
        AuditLog::open(&audit_path).unwrap(),
        limits,
    );
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
