//! `canhgac serve`: the HTTP API and web UI over an index; `canhgac serve token new`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::path::Path;

use anyhow::Context;
use canhgac_core::lifecycle::Policy;
use canhgac_core::transport::{Bus, TopicFilter};
use canhgac_index::{run, IncidentIndex, Indexer, IndexerOptions, RunOptions};
use canhgac_kafka::KafkaPublisher;
use canhgac_serve::{
    AuditLog, Auth, Limits, Outbox, PublisherOutbox, Role, ServerState, TlsConfig,
};
use clap::{Args, Subcommand};

use super::start::{self, ConfigArgs, KafkaArgs, RoleContext, TelemetryArgs};
use super::UsageError;
use crate::lifecycle::{LocalLifecycle, LOCAL_LOG};

const EXAMPLES: &str = "\
Roles: national (every agency), agency:<id> (that agency only: other agencies' incidents are
404), manager (statistics and reports only), manager:<id> (one agency's statistics).

Examples:
  canhgac serve token new --role agency:byt --name soc-byt >> /etc/canhgac/tokens.toml
  canhgac serve --index /srv/index --tokens /etc/canhgac/tokens.toml --audit /var/log/canhgac/audit.jsonl
  canhgac serve --index /srv/index --listen 0.0.0.0:8443 --tokens t.toml --tls-cert c.pem --tls-key k.pem
  canhgac serve --index /srv/index            (no tokens file: prints a one-off national token)

Changes to incidents (acknowledge, assign, comment, resolve with a reason, merge, split,
suppress) are records on <prefix>.incident-events: with --brokers (or kafka.brokers in the
configuration) serve publishes them there and the `canhgac index` process applies them, so
this server reads the index read-only and a second server sees the same changes. Without a
broker the index is read-only and changes answer 503 read_only; --writable instead opens the
index writer here (only when no other process holds it) and keeps the records in the local log
incident-events.jsonl beside the index directory.

People: each token names a person (`--name`); that name is who in every record and in the
audit log, and \"assigned to me\". The tokens file is re-read when it changes (within 2 s) and
on SIGHUP: revoked tokens stop working and new ones work without a restart.

Acknowledge links in alerts (`canhgac notify --public-url`) work when CANHGAC_ACK_SECRET holds
the same secret here as in notify: GET shows the incident and a button, the POST acknowledges.

API: GET /api/v1/openapi.json. UI: http://LISTEN/.

Metrics: /metrics on --listen needs a national or manager token; --metrics-listen also serves
them without a token, for a scraper on a private port.";

/// Options of `canhgac serve`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,

    /// Index directory (built by `canhgac index`)
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,

    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Tokens file (TOML, see `canhgac serve token new`); without it a one-off national token
    /// is printed
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,

    /// Audit log (JSON lines, appended): who searched what, who changed which incident
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,

    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Open the index writer in this process (no `canhgac index` running), with the lifecycle
    /// records in incident-events.jsonl beside the index directory
    #[arg(long, conflicts_with = "brokers")]
    writable: bool,

    /// Agency registry (TOML): agency names in the UI, the API and the reports
    /// [config: registry.path]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// The incident lifecycle policy (TOML: transitions, close reasons, who may do what)
    /// [default: rules/lifecycle.toml, embedded]
    #[arg(long, value_name = "FILE")]
    lifecycle: Option<PathBuf>,

    /// Longest accepted query, in characters
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_query_chars)]
    max_query_chars: usize,

    /// Largest page of results
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_page_size)]
    max_page_size: usize,

    /// Requests per second per token (sustained)
    #[arg(long, value_name = "R", default_value_t = Limits::default().rate_per_sec)]
    rate: f64,

    /// Requests per token at once before --rate applies
    #[arg(long, value_name = "N", default_value_t = Limits::default().burst)]
    burst: u32,

    #[command(flatten)]
    kafka: KafkaArgs,

    #[command(flatten)]
    telemetry: TelemetryArgs,

    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
enum ServeCommand {
    /// API tokens
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token: prints it once (stderr) and the line for the tokens file (stdout)
    New {
        /// national, agency:<id>, manager or manager:<id>
        #[arg(long)]
        role: String,
        /// Who holds it (shown in the audit log)
        #[arg(long)]
        name: String,
    },
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(ServeCommand::Token(TokenCommand::New { role, name })) = &args.command {
        let role = Role::parse(role).map_err(|e| UsageError(e.to_string()))?;
        let token = canhgac_serve::new_token()?;
        eprintln!("token for {name} ({role}), shown once — give it to its holder:\n  {token}\nadd to the tokens file:");
        print!("{}", canhgac_serve::token_entry(name, &role, &token));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = args.index.clone() else {
        return Err(UsageError("--index DIR is required (see canhgac serve --help)".into()).into());
    };
    let cfg = start::configure(
        &args.config,
        Some(&args.kafka),
        Some(&args.telemetry),
        |raw| {
            start::override_registry(raw, args.registry.as_deref());
        },
    )?;
    let role = start::Role::configured(&cfg.telemetry)?;
    let limits = Limits {
        max_query_chars: args.max_query_chars,
        max_page_size: args.max_page_size,
        rate_per_sec: args.rate,
        burst: args.burst,
    };
    let people = ApiPeople::load(args.tokens.as_deref(), args.lifecycle.as_deref())?;
    let audit = match &args.audit {
        Some(p) => AuditLog::open(p)?,
        None => AuditLog::disabled(),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            Some(TlsConfig::from_pem_files(c, k).map_err(|e| UsageError(e.to_string()))?)
        }
        _ => None,
    };
    let agencies = super::run::report_agencies(cfg.registry_path.as_deref())?;
    let topics = cfg.kafka.topics.clone();
    let brokers =
        start::brokers_given(&args.kafka, &cfg).then(|| start::client_settings(&cfg.kafka));
    if brokers.is_some() && args.writable {
        return Err(UsageError("--writable and a broker exclude each other: with a broker, `canhgac index` writes the index".into()).into());
    }
    role.run(|RoleContext { cancel, registry }| async move {
        let mut writer_task = None;
        let (index, outbox): (IncidentIndex, Option<Arc<dyn Outbox>>) = if args.writable {
            let indexer = Indexer::open(&dir, IndexerOptions::default())?;
            let index = IncidentIndex::of(&indexer)?;
            // The writer in this process applies the records, read back from the local log.
            let bus = Bus::new(16);
            let sub = bus.subscribe(TopicFilter::Exact(vec![topics.incident_events()]));
            let c = cancel.clone();
            writer_task = Some(tokio::spawn(async move {
                run::run(indexer, sub, RunOptions { track_offsets: false }, c).await
            }));
            let log = dir
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(LOCAL_LOG);
            let (local, records) = LocalLifecycle::open(&log, &topics, vec![bus.publisher()])?;
            local.replay(records).await?;
            (index, Some(Arc::new(local)))
        } else {
            let index = IncidentIndex::open(&dir)
                .with_context(|| format!("cannot open the index at {}", dir.display()))?;
            let outbox: Option<Arc<dyn Outbox>> = match &brokers {
                Some(settings) => {
                    let publisher = KafkaPublisher::new(settings)?;
                    start::ensure_lifecycle_topic(&publisher, &topics).await?;
                    Some(Arc::new(PublisherOutbox::new(publisher, &topics)))
                }
                None => None,
            };
            (index, outbox)
        };
        let writes = match (&outbox, args.writable) {
            (None, _) => "read-only",
            (Some(_), true) => "local log",
            (Some(_), false) => "kafka",
        };
        let state = people
            .apply(ServerState::new(index, outbox, people.auth.clone(), audit, limits))
            .with_registry(registry)?
            .with_agencies(agencies)
            .with_snapshots(canhgac_index::snapshot::Snapshots::beside(&dir));
        reload_tokens_on_sighup(people.auth.clone());
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, changes = writes, "serving the API and web UI");
        match &people.one_off {
            Some(t) => eprintln!("open {scheme}://{addr}/#token={t}\n(one-off national token; use --tokens FILE for real tokens)"),
            None => eprintln!("open {scheme}://{addr}/"),
        }
        match tls {
            Some(tls) => canhgac_serve::serve_tls(listener, tls, state, cancel.clone()).await?,
            None => canhgac_serve::serve(listener, state, cancel.clone()).await?,
        }
        cancel.cancel();
        if let Some(t) = writer_task {
            let (indexer, _) = t.await??;
            indexer.close()?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `serve` and `run` share for the API: who may log in (a tokens file, followed, or a
/// one-off national token), the lifecycle policy and the acknowledge links' secret.
pub(crate) struct ApiPeople {
    pub auth: Auth,
    /// The one-off national token when there is no tokens file.
    pub one_off: Option<String>,
    policy: Policy,
    ack_secret: Option<Vec<u8>>,
}

impl ApiPeople {
    pub fn load(tokens: Option<&Path>, lifecycle: Option<&Path>) -> anyhow::Result<ApiPeople> {
        let (auth, one_off) = match tokens {
            Some(p) => (Auth::load(p).map_err(|e| UsageError(e.to_string()))?, None),
            None => {
                let (a, t) = Auth::ephemeral_national()?;
                (a, Some(t))
            }
        };
        let policy = match lifecycle {
            Some(p) => Policy::load(p).map_err(|e| UsageError(e.to_string()))?,
            None => Policy::default(),
        };
        let ack_secret = std::env::var(canhgac_notify::ACK_SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes);
        Ok(ApiPeople {
            auth,
            one_off,
            policy,
            ack_secret,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn apply(&self, state: ServerState) -> ServerState {
        let state = state.with_policy(self.policy.clone());
        match &self.ack_secret {
            Some(s) => state.with_ack_secret(s.clone()),
            None => state,
        }
    }
}

/// Re-reads the tokens file on each SIGHUP (it is also re-read when it changes).
pub(crate) fn reload_tokens_on_sighup(auth: Auth) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match auth.reload() {
                Ok(n) => tracing::info!(tokens = n, "SIGHUP: tokens file re-read"),
                Err(e) => tracing::error!("SIGHUP: tokens file kept as it was: {e}"),
            }
        }
    });
}
