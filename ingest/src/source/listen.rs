//! Network listeners: syslog over UDP (one message per datagram, RFC 5426) and TCP (RFC 6587:
//! octet counting or LF-delimited), and an HTTP endpoint accepting NDJSON.
//!
//! Network input cannot be re-read, so it has no checkpoints; a message's id hashes the
//! listener, the peer, the listener's start time and the message's sequence number with its
//! bytes. The HTTP source answers a request only once every record of it is acked by the
//! transport (`200` with counts), so a client that gets `200` knows its records are durable;
//! with an `Idempotency-Key` header, a retried request gives the same event ids.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use canhgac_core::event::{SourceKind, SourceRef};
use canhgac_core::IdHasher;

use super::{AckGroup, OutKind, Outgoing, SourceError};
use crate::decode::{decoder, CefDecoder, Decoder, DecoderOptions, SyslogDecoder};
use crate::detect::classify_json;
use crate::encode::Identity;
use crate::format::Format;

/// Settings shared by the listeners.
#[derive(Clone)]
pub struct ListenContext {
    pub ident: Identity,
    pub decoder: DecoderOptions,
    pub max_record_len: usize,
}

/// Per-listener id material: a start time and a sequence number make every message unique.
struct Sequence {
    start: [u8; 16],
    next: AtomicU64,
}

impl Sequence {
    fn new(what: &str, addr: SocketAddr) -> Self {
        let start = IdHasher::new("listener")
            .part(what)
            .part(addr.to_string())
            .part(
                Utc::now()
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_le_bytes(),
            )
            .finish();
        Sequence {
            start: start.0,
            next: AtomicU64::new(0),
        }
    }

    fn key(&self, peer: &SocketAddr) -> (Vec<u8>, u64) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (
            IdHasher::new("peer")
                .part(self.start)
                .part(peer.to_string())
                .finish()
                .0
                .to_vec(),
            n,
        )
    }
}

/// Decodes one syslog message (CEF when it carries `CEF:`) into an outgoing message.
fn syslog_outgoing(
    cx: &ListenContext,
    seq: &Sequence,
    peer: &SocketAddr,
    kind: SourceKind,
    raw: &[u8],
) -> Option<Outgoing> {
    let raw = trim_newline(raw);
    if raw.is_empty() {
        return None;
    }
    let (key, n) = seq.key(peer);
    let source = SourceRef {
        kind,
        name: peer.to_string(),
        offset: Some(n),
        line: None,
    };
    let is_cef = memchr::memmem::find(raw, b"CEF:").is_some();
    let result = if is_cef {
        CefDecoder::new(&cx.decoder).decode(raw)
    } else {
        SyslogDecoder::new(&cx.decoder).decode(raw)
    };
    let format = if is_cef { Format::Cef } else { Format::Syslog };
    Some(match result {
        Ok(Some(decoded)) => {
            let (_, message) = cx
                .ident
                .event_message(source, &key, raw, decoded, Utc::now());
            Outgoing {
                message,
                kind: OutKind::Event,
                checkpoint: None,
                bytes: raw.len() as u64,
                notify: None,
            }
        }
        Ok(None) => return None,
        Err(e) => Outgoing {
            message: cx.ident.dlq_message(&source, Some(format), &e, raw),
            kind: OutKind::Dlq,
            checkpoint: None,
            bytes: raw.len() as u64,
            notify: None,
        },
    })
}

fn trim_newline(mut raw: &[u8]) -> &[u8] {
    while let Some((&last, rest)) = raw.split_last() {
        if last == b'\n' || last == b'\r' || last == 0 {
            raw = rest;
        } else {
            break;
        }
    }
    raw
}

/// Binds a UDP syslog listener; the returned future runs it until `cancel`.
pub async fn syslog_udp(
    addr: SocketAddr,
    cx: ListenContext,
) -> Result<
    (
        SocketAddr,
        impl FnOnce(mpsc::Sender<Outgoing>, CancellationToken) -> tokio::task::JoinHandle<()>,
    ),
    SourceError,
> {
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|e| SourceError::Listen(format!("syslog udp {addr}: {e}")))?;
    let local = socket
        .local_addr()
        .map_err(|e| SourceError::Listen(e.to_string()))?;
    tracing::info!(addr = %local, "syslog udp listening");
    Ok((
        local,
        move |tx: mpsc::Sender<Outgoing>, cancel: CancellationToken| {
            tokio::spawn(async move {
                let seq = Sequence::new("syslog-udp", local);
                let mut buf = vec![0u8; 65536];
                loop {
                    let (n, peer) = tokio::select! {
                        r = socket.recv_from(&mut buf) => match r { Ok(x) => x, Err(e) => { tracing::warn!(error = %e, "syslog udp receive"); continue } },
                        _ = cancel.cancelled() => return,
                    };
                    if let Some(out) =
                        syslog_outgoing(&cx, &seq, &peer, SourceKind::Syslog, &buf[..n])
                    {
                        if tx.send(out).await.is_err() {
                            return;
                        }
                    }
                }
            })
        },
    ))
}

/// Binds a TCP syslog listener (RFC 6587 framing, detected per message).
pub async fn syslog_tcp(
    addr: SocketAddr,
    cx: ListenContext,
) -> Result<
    (
        SocketAddr,
        impl FnOnce(mpsc::Sender<Outgoing>, CancellationToken) -> tokio::task::JoinHandle<()>,
    ),
    SourceError,
> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::Listen(format!("syslog tcp {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| SourceError::Listen(e.to_string()))?;
    tracing::info!(addr = %local, "syslog tcp listening");
    Ok((
        local,
        move |tx: mpsc::Sender<Outgoing>, cancel: CancellationToken| {
            tokio::spawn(async move {
                let seq = Arc::new(Sequence::new("syslog-tcp", local));
                let cx = Arc::new(cx);
                let mut conns = tokio::task::JoinSet::new();
                loop {
                    let (stream, peer) = tokio::select! {
                        r = listener.accept() => match r { Ok(x) => x, Err(e) => { tracing::warn!(error = %e, "syslog tcp accept"); continue } },
                        _ = cancel.cancelled() => break,
                    };
                    let (tx, cancel, seq, cx) =
                        (tx.clone(), cancel.clone(), seq.clone(), cx.clone());
                    conns.spawn(async move {
                    tokio::select! {
                        r = tcp_connection(stream, peer, &cx, &seq, &tx) => if let Err(e) = r { tracing::debug!(peer = %peer, error = %e, "syslog tcp connection ended") },
                        _ = cancel.cancelled() => {}
                    }
                });
                }
                while conns.join_next().await.is_some() {}
            })
        },
    ))
}

async fn tcp_connection(
    stream: TcpStream,
    peer: SocketAddr,
    cx: &ListenContext,
    seq: &Sequence,
    tx: &mpsc::Sender<Outgoing>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    let mut msg = Vec::new();
    loop {
        let first = match r.fill_buf().await? {
            [] => return Ok(()),
            b => b[0],
        };
        msg.clear();
        if first.is_ascii_digit() {
            // Octet counting: "LEN SP MSG".
            let mut len = Vec::new();
            r.read_until(b' ', &mut len).await?;
            let n: usize = std::str::from_utf8(trim_newline(&len))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            if n == 0 || n > cx.max_record_len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad octet count {:?}", String::from_utf8_lossy(&len)),
                ));
            }
            msg.resize(n, 0);
            r.read_exact(&mut msg).await?;
        } else {
            // Non-transparent framing: up to LF, bounded.
            let mut limited = (&mut r).take(cx.max_record_len as u64 + 1);
            limited.read_until(b'\n', &mut msg).await?;
            if msg.len() > cx.max_record_len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "message exceeds the maximum record length",
                ));
            }
        }
        if let Some(out) = syslog_outgoing(cx, seq, &peer, SourceKind::Syslog, &msg) {
            if tx.send(out).await.is_err() {
                return Ok(());
            }
        }
    }
}

#[derive(Clone)]
struct HttpState {
    cx: Arc<ListenContext>,
    tx: mpsc::Sender<Outgoing>,
    requests: Arc<AtomicU64>,
    start: [u8; 16],
}

#[derive(serde::Deserialize)]
struct IngestQuery {
    format: Option<String>,
}

/// Binds the HTTP NDJSON endpoint: `POST /v1/ndjson[?format=json|windows|suricata|zeek|…]`.
pub async fn http(
    addr: SocketAddr,
    cx: ListenContext,
) -> Result<
    (
        SocketAddr,
        impl FnOnce(mpsc::Sender<Outgoing>, CancellationToken) -> tokio::task::JoinHandle<()>,
    ),
    SourceError,
> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::Listen(format!("http {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| SourceError::Listen(e.to_string()))?;
    tracing::info!(addr = %local, "ndjson http listening");
    Ok((
        local,
        move |tx: mpsc::Sender<Outgoing>, cancel: CancellationToken| {
            let state = HttpState {
                cx: Arc::new(cx),
                tx,
                requests: Arc::default(),
                start: Sequence::new("http", local).start,
            };
            let app = Router::new()
                .route("/v1/ndjson", post(ingest_ndjson))
                .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
                .with_state(state);
            tokio::spawn(async move {
                let serve = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { cancel.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "http listener");
                }
            })
        },
    ))
}

async fn ingest_ndjson(
    State(st): State<HttpState>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let err = |code: StatusCode, message: String| {
        (code, Json(serde_json::json!({"error": message}))).into_response()
    };
    let requested = match q.format.as_deref().map(str::parse::<Format>) {
        None => None,
        Some(Ok(f)) if f != Format::Evtx && f != Format::Eml => Some(f),
        Some(_) => {
            return err(
                StatusCode::BAD_REQUEST,
                format!(
                    "unsupported format {:?} for NDJSON",
                    q.format.unwrap_or_default()
                ),
            )
        }
    };
    // Deterministic ids for retries of the same request, unique ids otherwise.
    let request_key = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(k) => IdHasher::new("http-request").part(k).finish(),
        None => IdHasher::new("http-request")
            .part(st.start)
            .part_u64(st.requests.fetch_add(1, Ordering::Relaxed))
            .finish(),
    };
    let group = Arc::new(AckGroup::default());
    let (mut events, mut rejected) = (0u64, 0u64);
    let mut dec: Option<Box<dyn Decoder>> = None;
    let mut offset = 0u64;
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let start = offset;
        offset += line.len() as u64 + 1;
        let line = trim_newline(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let source = SourceRef {
            kind: SourceKind::Http,
            name: format!("http:{request_key}"),
            offset: Some(start),
            line: Some(i as u64 + 1),
        };
        let format = match requested {
            Some(f) => f,
            None => serde_json::from_slice::<serde_json::Value>(line)
                .map(|v| classify_json(&v))
                .unwrap_or(Format::Json),
        };
        let d = match &mut dec {
            Some(d) if d.format() == format => d,
            _ => match decoder(format, &st.cx.decoder) {
                Ok(d) => dec.insert(d),
                Err(e) => return err(StatusCode::BAD_REQUEST, e.to_string()),
            },
        };
        let out = if line.len() > st.cx.max_record_len {
            let e = crate::decode::DecodeError::new(
                crate::decode::ErrorKind::TooLong,
                format!("line {} exceeds {} bytes", i + 1, st.cx.max_record_len),
            );
            rejected += 1;
            Outgoing {
                message: st.cx.ident.dlq_message(&source, Some(format), &e, line),
                kind: OutKind::Dlq,
                checkpoint: None,
                bytes: line.len() as u64,
                notify: Some(group.clone()),
            }
        } else {
            match d.decode(line) {
                Ok(Some(decoded)) => {
                    events += 1;
                    let (_, message) = st.cx.ident.event_message(
                        source,
                        &request_key.0,
                        line,
                        decoded,
                        Utc::now(),
                    );
                    Outgoing {
                        message,
                        kind: OutKind::Event,
                        checkpoint: None,
                        bytes: line.len() as u64,
                        notify: Some(group.clone()),
                    }
                }
                Ok(None) => continue,
                Err(e) => {
                    rejected += 1;
                    Outgoing {
                        message: st.cx.ident.dlq_message(&source, Some(format), &e, line),
                        kind: OutKind::Dlq,
                        checkpoint: None,
                        bytes: line.len() as u64,
                        notify: Some(group.clone()),
                    }
                }
            }
        };
        group.add();
        if st.tx.send(out).await.is_err() {
            group.settle(false);
            return err(
                StatusCode::SERVICE_UNAVAILABLE,
                "the sensor is shutting down".into(),
            );
        }
    }
    if group.wait().await {
        (
            StatusCode::OK,
            Json(serde_json::json!({"accepted": events, "rejected": rejected})),
        )
            .into_response()
    } else {
        err(
            StatusCode::SERVICE_UNAVAILABLE,
            "some records were not acknowledged by the broker; retry the request".into(),
        )
    }
}
