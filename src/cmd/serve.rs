//! `canhgac serve`: the HTTP API and web UI over an index; `canhgac serve token new`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use canhgac_core::transport::{Bus, TopicFilter};
use canhgac_index::{run, IncidentIndex, Indexer, IndexerHandle, IndexerOptions, RunOptions};
use canhgac_serve::{
    AuditLog, Auth, Limits, Outbox, PublisherOutbox, Role, ServerState, TlsConfig,
};
use clap::{Args, Subcommand};

use super::start::{self, ConfigArgs, RoleContext, TelemetryArgs};
use super::UsageError;

const EXAMPLES: &str = "\
Roles: national (every agency), agency:<id> (that agency only: other agencies' incidents are
404), manager (statistics and reports only), manager:<id> (one agency's statistics).

Examples:
  canhgac serve token new --role agency:byt --name soc-byt >> /etc/canhgac/tokens.toml
  canhgac serve --index /srv/index --tokens /etc/canhgac/tokens.toml --audit /var/log/canhgac/audit.jsonl
  canhgac serve --index /srv/index --listen 0.0.0.0:8443 --tokens t.toml --tls-cert c.pem --tls-key k.pem
  canhgac serve --index /srv/index            (no tokens file: prints a one-off national token)

Without --writable the index is read-only here (a `canhgac index` process writes it) and
status changes answer 503 read_only; --writable opens the index writer itself (only when no
other process holds it). API: GET /api/v1/openapi.json. UI: http://LISTEN/.

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

    /// Open the index writer in this process, so that status changes work
    #[arg(long)]
    writable: bool,

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
    let cfg = start::configure(&args.config, None, Some(&args.telemetry), |_| {})?;
    let role = start::Role::configured(&cfg.telemetry)?;
    let limits = Limits {
        max_query_chars: args.max_query_chars,
        max_page_size: args.max_page_size,
        rate_per_sec: args.rate,
        burst: args.burst,
    };
    let (auth, one_off) = match &args.tokens {
        Some(p) => (Auth::load(p).map_err(|e| UsageError(e.to_string()))?, None),
        None => {
            let (a, t) = Auth::ephemeral_national()?;
            (a, Some(t))
        }
    };
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
    role.run(|RoleContext { cancel, registry }| async move {
        let mut writer_task = None;
        let mut _bus = None;
        let (index, writer): (IncidentIndex, Option<Arc<dyn Outbox>>) = if args.writable {
            let indexer = Indexer::open(&dir, IndexerOptions::default())?;
            let index = IncidentIndex::of(&indexer)?;
            let (_handle, rx) = IndexerHandle::channel();
            // The writer in this process reads the changes the API publishes.
            let bus = Bus::new(16);
            let sub = bus.subscribe(TopicFilter::Exact(vec![topics.incident_events()]));
            let outbox: Arc<dyn Outbox> = Arc::new(PublisherOutbox::new(bus.publisher(), &topics));
            _bus = Some(bus);
            let c = cancel.clone();
            writer_task = Some(tokio::spawn(async move {
                run::run(
                    indexer,
                    sub,
                    RunOptions {
                        track_offsets: false,
                    },
                    Some(rx),
                    c,
                )
                .await
            }));
            (index, Some(outbox))
        } else {
            (IncidentIndex::open(&dir)?, None)
        };
        let state = ServerState::new(index, writer, auth, audit, limits)
            .with_registry(registry)?
            .with_agencies(agencies)
            .with_snapshots(canhgac_index::snapshot::Snapshots::beside(&dir));
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, writable = args.writable, "serving the API and web UI");
        match &one_off {
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
