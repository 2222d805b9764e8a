//! `/metrics` (Prometheus text format) and `/healthz` for roles that have no other HTTP server.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

/// Serves the registry on `addr` until `cancel`. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    registry: prometheus::Registry,
    cancel: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics listener {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        canhgac_core::telemetry::render(&registry),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
    });
    tracing::info!(addr = %local, "metrics listening");
    Ok(local)
}
