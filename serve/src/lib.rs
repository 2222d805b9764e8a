//! canhgac-serve: the HTTP API and web UI over the incident index.
//!
//! # Routes
//!
//! Every route is listed once in [`ROUTES`] with its method, path, the [`Access`] it needs and
//! its handler; the router is built from that table and a guard checks it on every request, so
//! a route cannot exist without an access rule (deny by default) nor a path without its
//! handler, and the OpenAPI document (`/api/v1/openapi.json`) is tested against the same table.
//!
//! # Tenancy
//!
//! A token's [`Role`] gives the [`canhgac_index::Scope`] of its requests; the scope is part of
//! every index query (search, facets, detail, statistics, reports, status changes), so an
//! agency token cannot see another agency's incident even by id: it gets 404, not 403, so the
//! existence of another agency's incident is not disclosed.
//!
//! # Use from `canhgac run`
//!
//! ```no_run
//! # async fn f(index: canhgac_index::IncidentIndex, writer: canhgac_index::IndexerHandle) -> Result<(), canhgac_serve::ServeError> {
//! use canhgac_serve::{Auth, AuditLog, Limits, ServerState};
//! let (auth, token) = Auth::ephemeral_national()?;
//! let state = ServerState::new(index, Some(writer), auth, AuditLog::disabled(), Limits::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| canhgac_serve::ServeError::Io { context: "bind".into(), source: e })?;
//! println!("open http://{}/#token={token}", listener.local_addr().unwrap());
//! canhgac_serve::serve(listener, state, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
mod guard;
pub mod limits;
pub mod metrics;
pub mod tls;
mod ui;

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use canhgac_index::{IncidentIndex, IndexerHandle};
use tokio_util::sync::CancellationToken;

pub use audit::{AuditLog, AuditRecord};
pub use auth::{hash_token, new_token, token_entry, Access, Auth, Principal, Role};
pub use error::{ApiError, Result, ServeError};
pub use limits::Limits;
pub use metrics::ServeMetrics;
pub use tls::TlsConfig;

/// One route: method, path pattern (axum syntax), the access it needs, its handler.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// The handler, on `method` only.
    pub handler: fn() -> MethodRouter<ServerState>,
}

/// `route!(GET "/path", access, handler)`: the method is written once, for the table and for
/// the handler's method filter.
macro_rules! route {
    ($method:ident $path:literal, $access:expr, $handler:path) => {
        RouteSpec {
            method: stringify!($method),
            path: $path,
            access: $access,
            handler: || axum::routing::on(MethodFilter::$method, $handler),
        }
    };
}

/// Every route of the server.
pub const ROUTES: &[RouteSpec] = &[
    route!(GET "/", Access::Public, ui::index),
    route!(GET "/assets/{file}", Access::Public, ui::asset),
    route!(GET "/healthz", Access::Public, api::healthz),
    route!(GET "/readyz", Access::Public, api::readyz),
    route!(GET "/metrics", Access::Metrics, api::metrics),
    route!(GET "/api/v1/openapi.json", Access::Any, api::openapi),
    route!(GET "/api/v1/whoami", Access::Any, api::whoami),
    route!(GET "/api/v1/incidents", Access::Incidents, api::search),
    route!(GET "/api/v1/incidents/{id}", Access::Incidents, api::incident),
    route!(PATCH "/api/v1/incidents/{id}", Access::Incidents, api::set_status),
    route!(GET "/api/v1/stats/monthly", Access::Stats, api::monthly),
    route!(GET "/api/v1/reports/{period}", Access::Stats, api::report),
];

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub(crate) index: IncidentIndex,
    pub(crate) writer: Option<IndexerHandle>,
    pub(crate) auth: Auth,
    pub(crate) audit: AuditLog,
    pub(crate) limits: Limits,
    pub(crate) rate: Arc<limits::RateLimiter>,
    pub(crate) metrics: ServeMetrics,
    /// Agency names and kinds for the report (the registry), and the issued snapshots.
    pub(crate) agencies: Arc<canhgac_index::Agencies>,
    pub(crate) snapshots: Option<canhgac_index::snapshot::Snapshots>,
}

impl ServerState {
    /// `writer`: the running indexer loop, for status changes; `None` serves read-only (PATCH
    /// answers 503 `read_only`). Metrics go to a registry of their own (see
    /// [`ServerState::with_registry`]).
    pub fn new(
        index: IncidentIndex,
        writer: Option<IndexerHandle>,
        auth: Auth,
        audit: AuditLog,
        limits: Limits,
    ) -> Self {
        #[allow(clippy::expect_used)]
        let metrics = ServeMetrics::new(prometheus::Registry::new())
            .expect("fresh registry has no duplicate metrics");
        ServerState {
            index,
            writer,
            auth,
            audit,
            limits,
            rate: Arc::default(),
            metrics,
            agencies: Arc::default(),
            snapshots: None,
        }
    }

    /// Names and kinds of the agencies in the report (from the registry), as `canhgac report
    /// --registry` shows them.
    pub fn with_agencies(mut self, agencies: canhgac_index::Agencies) -> Self {
        self.agencies = Arc::new(agencies);
        self
    }

    /// The folder of issued reports: a report of an issued period says what changed since.
    pub fn with_snapshots(mut self, snapshots: canhgac_index::snapshot::Snapshots) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    /// Registers the HTTP metrics in `registry` instead, so that `/metrics` shows everything
    /// registered there (the pipeline's metrics in `canhgac run`).
    pub fn with_registry(mut self, registry: prometheus::Registry) -> Result<Self> {
        self.metrics = ServeMetrics::new(registry).map_err(|e| ServeError::Io {
            context: "register HTTP metrics".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(self)
    }

    pub fn index(&self) -> &IncidentIndex {
        &self.index
    }

    pub fn writable(&self) -> bool {
        self.writer.is_some()
    }
}

/// The router: every route of [`ROUTES`] behind the access guard, JSON 404s elsewhere.
pub fn router(state: ServerState) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, spec| {
            router.route(spec.path, (spec.handler)())
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .fallback(api::no_route)
        .with_state(state)
}

/// Serves plain HTTP on `listener` until `shutdown` fires, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: CancellationToken,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|source| ServeError::Io {
            context: "HTTP server".into(),
            source,
        })
}

/// Serves HTTPS (rustls) on `listener` until `shutdown` fires.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: TlsConfig,
    state: ServerState,
    shutdown: CancellationToken,
) -> Result<()> {
    let listener = tls::TlsListener::new(listener, tls, shutdown.clone());
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|source| ServeError::Io {
            context: "HTTPS server".into(),
            source,
        })
}
