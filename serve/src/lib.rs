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
//! # Changes are records
//!
//! `serve` never writes the index. Every change to an incident (PATCH, `POST
//! /api/v1/incidents/{id}/events`, a suppression's revocation, an acknowledge link) is checked
//! (scope, then the lifecycle [`Policy`](canhgac_core::lifecycle::Policy): role and status) and
//! published as a [`canhgac_core::lifecycle::IncidentEvent`] through an [`Outbox`]
//! (`<prefix>.incident-events`); the index applies it, and the answer waits up to 5 s to show
//! it (200), else says it is on its way (202). Without an outbox the server is read-only.
//!
//! # Use from `canhgac run`
//!
//! ```no_run
//! # async fn f(index: canhgac_index::IncidentIndex, bus: canhgac_core::transport::Bus) -> Result<(), canhgac_serve::ServeError> {
//! use std::sync::Arc;
//! use canhgac_serve::{Auth, AuditLog, Limits, PublisherOutbox, ServerState};
//! let (auth, token) = Auth::ephemeral_national()?;
//! let topics = canhgac_core::topics::Topics::new("canhgac").unwrap();
//! let outbox = Arc::new(PublisherOutbox::new(bus.publisher(), &topics));
//! let state = ServerState::new(index, Some(outbox), auth, AuditLog::disabled(), Limits::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| canhgac_serve::ServeError::Io { context: "bind".into(), source: e })?;
//! println!("open http://{}/#token={token}", listener.local_addr().unwrap());
//! canhgac_serve::serve(listener, state, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod ack;
pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
mod guard;
mod handling;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod tls;
mod ui;
mod view;

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use canhgac_core::lifecycle::Policy;
use canhgac_index::IncidentIndex;
use tokio_util::sync::CancellationToken;

pub use audit::{AuditLog, AuditRecord};
pub use auth::{hash_token, new_token, token_entry, Access, Auth, Principal, Role};
pub use error::{ApiError, Result, ServeError};
pub use limits::Limits;
pub use metrics::ServeMetrics;
pub use outbox::{Outbox, PublisherOutbox};
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
    route!(PATCH "/api/v1/incidents/{id}", Access::Incidents, handling::set_status),
    route!(POST "/api/v1/incidents/{id}/events", Access::Incidents, handling::event),
    route!(GET "/api/v1/inbox", Access::Incidents, handling::inbox),
    route!(GET "/api/v1/suppressions", Access::Incidents, handling::suppressions),
    route!(DELETE "/api/v1/suppressions/{id}", Access::Incidents, handling::unsuppress),
    route!(GET "/ack/{token}", Access::Public, ack::page),
    route!(POST "/ack/{token}", Access::Public, ack::acknowledge),
    route!(GET "/api/v1/stats/monthly", Access::Stats, api::monthly),
    route!(GET "/api/v1/reports/{period}", Access::Stats, api::report),
];

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub(crate) index: IncidentIndex,
    pub(crate) outbox: Option<Arc<dyn Outbox>>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) ack_secret: Option<Arc<[u8]>>,
    pub(crate) names: view::Names,
    pub(crate) apply_wait: std::time::Duration,
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
    /// `outbox`: where changes to incidents are published (`<prefix>.incident-events`); `None`
    /// serves read-only (changes answer 503 `read_only`). The lifecycle policy is the default
    /// one ([`ServerState::with_policy`]). Metrics go to a registry of their own (see
    /// [`ServerState::with_registry`]).
    pub fn new(
        index: IncidentIndex,
        outbox: Option<Arc<dyn Outbox>>,
        auth: Auth,
        audit: AuditLog,
        limits: Limits,
    ) -> Self {
        #[allow(clippy::expect_used)]
        let metrics = ServeMetrics::new(prometheus::Registry::new())
            .expect("fresh registry has no duplicate metrics");
        ServerState {
            index,
            outbox,
            policy: Arc::new(Policy::default()),
            ack_secret: None,
            names: view::Names::default(),
            apply_wait: handling::APPLY_WAIT,
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
        self.names = view::Names::new(self.agencies.clone());
        self
    }

    /// The lifecycle policy (`rules/lifecycle.toml`, `--lifecycle FILE`): who may do what, from
    /// which status.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// How long a change waits for the index to show it before answering 202 (default 5 s).
    pub fn with_apply_wait(mut self, wait: std::time::Duration) -> Self {
        self.apply_wait = wait;
        self
    }

    /// The secret of acknowledge links (`CANHGAC_ACK_SECRET`, shared with notify): without it
    /// `/ack/{token}` answers 404.
    pub fn with_ack_secret(mut self, secret: Vec<u8>) -> Self {
        self.ack_secret = Some(secret.into());
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

    /// Whether changes can be published (an outbox is configured).
    pub fn writable(&self) -> bool {
        self.outbox.is_some()
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
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
