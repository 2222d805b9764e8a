//! `canhgac run`: every stage in one process on the in-process transport (no Kafka).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use canhgac_core::config::{Config, RawConfig};
use canhgac_core::runconfig::RunSettings;
use canhgac_detect::worker::{Ruleset, RulesetSpec};
use canhgac_ingest::decode::DecoderOptions;
use canhgac_ingest::sensor::Identity;
use canhgac_ingest::source::file::FileOptions;
use canhgac_ingest::Format;
use canhgac_sim::Simulator;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::start::{self, ConfigArgs, Role, RoleContext, TelemetryArgs};
use super::{UsageError, EXIT_PARTIAL};
use crate::pipeline::{Pipeline, PipelineSpec, PipelineSummary, SourceSpec};

const EXAMPLES: &str = "\
Examples:
  # Everything on this machine, reading the shared test data once, then exit:
  canhgac run --once --source byt:ids-01:../shared/data/network/suricata/alerts.ndjson \\
      --rules rules/sigma --rules ../shared/data/sigma/rules/rules

  # A configuration file with followed sources ([[run.sources]]), the web UI on loopback:
  canhgac run --config /etc/canhgac/run.toml

Configuration ([run] section; every key may also be set as CANHGAC_RUN__KEY):
  [run]
  data_dir = \"canhgac-data\"      # index, checkpoints, dlq.jsonl
  listen = \"127.0.0.1:8080\"      # web UI and API (empty: none)
  rules = [\"rules/sigma\"]
  [[run.sources]]
  agency = \"byt\"
  sensor = \"web-01\"
  format = \"auto\"
  paths = [\"/var/log/nginx\"]
  follow = true
  local_offset = \"+07:00\"        # zone-less timestamps (default: sensor.local_offset)

Zone-less timestamps (RFC 3164 syslog, Apache error logs, CEF, …) are read in +07:00
(Asia/Ho_Chi_Minh) unless [sensor] local_offset, a source's local_offset or --local-offset
says otherwise; the simulator's records always state their zone.

Stages are joined by bounded in-process channels and acknowledge end to end: a source's
checkpoint moves only past events whose detections the index has committed, so a crash
re-reads at most the uncommitted tail and the index upserts it by id. Records that do not
decode are appended to <data_dir>/dlq.jsonl with the reason.";

/// Options of `canhgac run`; each overrides the `[run]` section of `--config`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,

    /// Directory of the index, checkpoints and DLQ file [config: run.data_dir]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Address of the web UI and API; "" for none [config: run.listen] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,

    /// Sigma rule files or directories (repeatable; replaces run.rules) [default: rules/sigma]
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,

    /// IOC list definitions (rules/ioc/*.yaml), directories of them, or raw list files
    /// (repeatable; replaces run.ioc). ${CANHGAC_DATA} in definitions comes from the environment
    #[arg(long = "ioc", value_name = "PATH")]
    ioc: Vec<PathBuf>,

    /// Agency registry (TOML) [config: registry.path] [default: rules/agencies.example.toml
    /// when present]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// A source read by an in-process sensor, AGENCY:SENSOR:PATH (repeatable; adds to
    /// [[run.sources]]; format detected per file)
    #[arg(long = "source", value_name = "AGENCY:SENSOR:PATH")]
    sources: Vec<String>,

    /// Feed simulated agency traffic with injected phishing, defacement and malware attacks
    /// for these months (YYYY-MM or YYYY-MM..YYYY-MM) for the agencies of the registry
    #[arg(long, value_name = "MONTHS")]
    simulate: Option<String>,

    /// Benign records per agency on a working day for --simulate (weekends carry a third)
    #[arg(long, value_name = "N", default_value_t = 500, requires = "simulate")]
    simulate_scale: u32,

    /// Seed for --simulate: the same seed gives the same records (and event ids) as
    /// `canhgac simulate --seed`
    #[arg(long, value_name = "N", default_value_t = 1, requires = "simulate")]
    simulate_seed: u64,

    /// Offset of timestamps that state no zone (RFC 3164 syslog, Apache error log, CEF, NXLog
    /// EventTime) in the sources: +07:00, -05:30, UTC [config: sensor.local_offset; a
    /// [[run.sources]] entry may set its own local_offset] [default: +07:00, Asia/Ho_Chi_Minh]
    #[arg(long, value_name = "OFFSET", value_parser = canhgac_core::config::parse_local_offset)]
    local_offset: Option<chrono::FixedOffset>,

    /// Read every source once, wait until the index committed everything, print a summary
    /// and exit (without it, sources are followed and the process runs until SIGINT/SIGTERM)
    #[arg(long)]
    once: bool,

    #[command(flatten)]
    telemetry: TelemetryArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let sources = parse_sources(&args)?;
    let cfg = start::configure(&args.config, None, Some(&args.telemetry), |raw| {
        apply_options(&args, sources, raw)
    })?;
    let role = Role::configured(&cfg.telemetry)?;
    check(&args, &cfg.run)?;
    let rules = load_rules(&cfg)?;
    let spec = PipelineSpec {
        topics: cfg.kafka.topics.clone(),
        data_dir: cfg.run.data_dir.clone(),
        rules,
        commit_interval: cfg.run.commit_interval,
        capacity: cfg.run.channel_capacity,
        sources: source_specs(&cfg)?,
        checkpoint_interval: cfg.sensor.checkpoint_interval,
        max_in_flight: cfg.sensor.max_in_flight,
    };
    let sim = simulator(&args, &cfg)?;
    role.run(|RoleContext { cancel, registry }| async move {
        let started = Instant::now();
        let mut pipeline = Pipeline::start(spec, registry)
            .await
            .context("cannot start the pipeline")?;
        if let Some(addr) = cfg.run.listen {
            serve_ui(&pipeline, addr, &cfg.run, cfg.registry_path.as_deref(), cancel.clone()).await?;
        }
        tracing::info!(data_dir = %cfg.run.data_dir.display(), sources = cfg.run.sources.len(), "pipeline started");
        feed(&args, &mut pipeline, sim, &cfg, &cancel, started).await?;
        if !args.once {
            cancel.cancelled().await;
        }
        let summary = pipeline.shutdown().await?;
        report(&summary, args.once, &cfg.run, started);
        Ok(if summary.failed_sources > 0 {
            ExitCode::from(EXIT_PARTIAL)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// `--source AGENCY:SENSOR:PATH`, as `[[run.sources]]` entries.
fn parse_sources(args: &RunArgs) -> anyhow::Result<Vec<canhgac_core::runconfig::RawRunSource>> {
    args.sources
        .iter()
        .map(|s| {
            let mut parts = s.splitn(3, ':');
            let (Some(agency), Some(sensor), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(UsageError(format!(
                    "--source {s:?}: expected AGENCY:SENSOR:PATH, e.g. byt:web-01:/var/log/nginx"
                ))
                .into());
            };
            Ok(canhgac_core::runconfig::RawRunSource {
                agency: agency.into(),
                sensor: sensor.into(),
                format: "auto".into(),
                paths: vec![path.into()],
                follow: !args.once,
                local_offset: None,
            })
        })
        .collect()
}

/// The command line over the `[run]` and `[registry]` sections.
fn apply_options(
    args: &RunArgs,
    sources: Vec<canhgac_core::runconfig::RawRunSource>,
    raw: &mut RawConfig,
) {
    if let Some(d) = &args.data_dir {
        raw.run.data_dir = d.display().to_string();
    }
    if let Some(l) = &args.listen {
        raw.run.listen = l.clone();
    }
    if !args.rules.is_empty() {
        raw.run.rules = args.rules.iter().map(|p| p.display().to_string()).collect();
    }
    if !args.ioc.is_empty() {
        raw.run.ioc = args.ioc.iter().map(|p| p.display().to_string()).collect();
    }
    if let Some(o) = args.local_offset {
        raw.sensor.local_offset = canhgac_core::config::format_local_offset(o);
    }
    start::override_registry(raw, args.registry.as_deref());
    if raw.registry.path.is_empty() && std::path::Path::new("rules/agencies.example.toml").exists()
    {
        raw.registry.path = "rules/agencies.example.toml".into();
    }
    raw.run.sources.extend(sources);
}

/// What the checked configuration cannot know: `--once` against followed sources, and rule
/// paths that do not exist.
fn check(args: &RunArgs, run: &RunSettings) -> anyhow::Result<()> {
    if args.once && run.sources.iter().any(|s| s.follow) {
        return Err(UsageError(
            "--once reads sources to their end, but the configuration follows some ([[run.sources]] follow = true)".into(),
        )
        .into());
    }
    for p in &run.rules {
        if !p.exists() {
            return Err(UsageError(format!(
                "rules path {} does not exist (run from the repository root, or give --rules)",
                p.display()
            ))
            .into());
        }
    }
    Ok(())
}

fn load_rules(cfg: &Config) -> anyhow::Result<Ruleset> {
    let spec = RulesetSpec {
        rules: cfg.run.rules.clone(),
        mappings: None,
        placeholders: None,
        taxonomy: cfg.run.taxonomy.clone(),
        registry: cfg.registry_path.clone(),
        ioc: cfg.run.ioc.clone(),
        ioc_vars: Vec::new(),
    };
    let rules = spec.load(1).map_err(|e| UsageError(e.to_string()))?;
    tracing::info!(
        rules = rules.engine.len(),
        rejected = rules.report.rejections.len(),
        agencies = rules.registry.len(),
        "rules loaded"
    );
    Ok(rules)
}

/// One in-process sensor per `[[run.sources]]` entry.
fn source_specs(cfg: &Config) -> anyhow::Result<Vec<SourceSpec>> {
    cfg.run
        .sources
        .iter()
        .map(|s| {
            let format: Format = s
                .format
                .parse()
                .map_err(|e: canhgac_ingest::decode::IngestError| UsageError(e.to_string()))?;
            Ok(SourceSpec {
                ident: Identity {
                    agency: s.agency.clone(),
                    sensor: s.sensor.clone(),
                    topics: cfg.kafka.topics.clone(),
                },
                file: FileOptions {
                    format,
                    max_record_len: cfg.sensor.max_record_bytes,
                    follow: s.follow,
                    poll_interval: cfg.sensor.poll_interval,
                    decoder: DecoderOptions::default().local_offset(s.local_offset),
                },
                paths: s.paths.clone(),
            })
        })
        .collect()
}

/// The simulator of `--simulate MONTHS`, over the agencies of the registry.
fn simulator(args: &RunArgs, cfg: &Config) -> anyhow::Result<Option<Arc<Simulator>>> {
    let Some(months) = &args.simulate else {
        return Ok(None);
    };
    let (from, to) = months.split_once("..").unwrap_or((months, months));
    let parse = |m: &str| {
        m.parse::<canhgac_sim::Month>()
            .map_err(|e| UsageError(format!("--simulate {months:?}: {e}")))
    };
    let path = cfg.registry_path.clone().ok_or_else(|| {
        UsageError("--simulate needs an agency registry (--registry FILE)".into())
    })?;
    let registry =
        canhgac_core::registry::Registry::load(&path).map_err(|e| UsageError(e.to_string()))?;
    let mut config = canhgac_sim::SimConfig::new(registry, parse(from)?, parse(to)?);
    config.events_per_day = args.simulate_scale;
    config.seed = args.simulate_seed;
    Ok(Some(Arc::new(
        Simulator::new(config).map_err(|e| UsageError(e.to_string()))?,
    )))
}

/// The web UI and API on `addr` over the pipeline's index, with a one-off national token.
async fn serve_ui(
    pipeline: &Pipeline,
    addr: std::net::SocketAddr,
    run: &RunSettings,
    registry: Option<&std::path::Path>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let (auth, token) = canhgac_serve::Auth::ephemeral_national()?;
    let audit = canhgac_serve::AuditLog::open(&run.data_dir.join("audit.jsonl"))?;
    let state = canhgac_serve::ServerState::new(
        pipeline.index.clone(),
        Some(pipeline.outbox.clone()),
        auth,
        audit,
        canhgac_serve::Limits::default(),
    )
    .with_registry(pipeline.registry.clone())?
    .with_agencies(report_agencies(registry)?)
    .with_snapshots(canhgac_index::snapshot::Snapshots::new(
        run.data_dir.join("reports"),
    ));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (run.listen / --listen)"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = canhgac_serve::serve(listener, state, cancel).await {
            tracing::error!("web server stopped: {e}");
        }
    });
    eprintln!("canhgac: web UI and API at http://{local}/  (open http://{local}/#token={token} ; national token, valid until this process stops)");
    Ok(())
}

/// Publishes the simulator's traffic (if any) and, with `--once`, waits until the sources are
/// read and everything they produced is indexed.
async fn feed(
    args: &RunArgs,
    pipeline: &mut Pipeline,
    sim: Option<Arc<Simulator>>,
    cfg: &Config,
    cancel: &CancellationToken,
    started: Instant,
) -> anyhow::Result<()> {
    // The simulator's publishing future is not Send: run it beside the wait, not spawned.
    let publisher = pipeline.publisher();
    let topics = cfg.kafka.topics.clone();
    let sim_cancel = cancel.clone();
    let simulated = async move {
        match sim {
            Some(sim) => Some(
                canhgac_sim::publish::publish(sim, publisher, topics, None, 20_000, sim_cancel)
                    .await,
            ),
            None => None,
        }
    };
    let sources = async {
        if args.once {
            pipeline.sources_done(cancel).await;
        }
    };
    let (simulated, ()) = tokio::join!(simulated, sources);
    if let Some(stats) = simulated {
        let stats = stats.context("simulator")?;
        eprintln!(
            "canhgac: simulated {} records ({} rejected), all indexed after {:.1} s",
            stats.records,
            stats.dlq,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Logs the summary; with `--once` also prints it on stdout.
fn report(summary: &PipelineSummary, once: bool, run: &RunSettings, started: Instant) {
    tracing::info!(
        events = summary.events,
        rejected = summary.rejected,
        detections = summary.detections,
        indexed = summary.indexed,
        duplicates = summary.duplicates,
        dlq = summary.dlq_records,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "pipeline stopped"
    );
    if once {
        println!(
            "{} events read, {} rejected (see {}), {} detections, {} indexed ({} already present) in {:.1} s",
            summary.events,
            summary.rejected,
            run.data_dir.join("dlq.jsonl").display(),
            summary.detections,
            summary.indexed,
            summary.duplicates,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Agency names and kinds for the report pages, from the registry when there is one.
pub(crate) fn report_agencies(
    registry: Option<&std::path::Path>,
) -> anyhow::Result<canhgac_index::Agencies> {
    Ok(match registry {
        Some(p) => canhgac_index::Agencies::from_registry(
            &canhgac_core::registry::Registry::load(p).map_err(|e| UsageError(e.to_string()))?,
        ),
        None => canhgac_index::Agencies::default(),
    })
}
