//! `canhgac detect`: the detector worker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canhgac_detect::worker::state::{state_key, Assignments};
use canhgac_detect::worker::{
    self, DetectMetrics, DetectStage, PartitionState, RulesHandle, RulesetSpec, StageOptions,
    StateBackend, StateOptions,
};
use canhgac_kafka::{
    read_latest, ClientSettings, KafkaPublisher, KafkaSubscription, Revoked, StartOffsets,
    SubscribeTo, SubscriptionOptions,
};
use clap::Args;

use super::start::{self, KafkaRoleArgs, Role, RoleContext};
use super::UsageError;

const EXAMPLES: &str = "\
Examples:
  canhgac detect --brokers 10.0.0.5:9092 --rules /etc/canhgac/sigma/rules \\
      --rules rules/ --registry /etc/canhgac/agencies.toml --metrics-listen 127.0.0.1:9465

  # with IOC lists: the project's definitions, their data under /srv/intel
  CANHGAC_DATA=/srv/intel canhgac detect --brokers 10.0.0.5:9092 --rules rules/sigma \\
      --ioc rules/ioc/maltrail-malicious.yaml --ioc rules/ioc/misp-warninglists.yaml

Workers started with the same --group share the partitions of every <prefix>.events.<agency>
topic (a pattern subscription: a new agency's topic is picked up without a restart). The agency
of an event is taken from its topic, never from its payload. An event is acked only after every
detection it produced reached <prefix>.detections; events that cannot be read go to
<prefix>.dlq.<agency> with the reason.

Every event is also checked against the IOC lists given with --ioc (definition files such as
rules/ioc/*.yaml, directories of them, or raw list files): one detection per list and indicator
that matched, its category from the list's kind through the taxonomy (c2 and malware lists:
malware; phishing lists: phishing). Sigma correlation rules found in the --rules trees run per
events partition (one agency's topic, one partition: events of one host share a partition).
Their windows are saved on the compacted topic <prefix>.state.detect, one record per events
partition holding the windows and the offset they cover, acknowledged by the broker before the
events it covers are committed; a worker that starts or is assigned a partition restores its
record and reads on from that offset, so a window that straddles a restart or a rebalance
still fires, once.

Send SIGHUP (or edit a rule file) to reload rules, taxonomy, registry and IOC lists; a reload
that fails keeps the previous set, logs why and counts canhgac_detect_reloads_total.";

/// Options of `canhgac detect`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES)]
pub struct DetectArgs {
    /// Sigma rule files or directories (repeatable); e.g. the SigmaHQ corpus and rules/
    #[arg(long = "rules", value_name = "PATH", required = true)]
    rules: Vec<PathBuf>,

    /// IOC list definitions (rules/ioc/*.yaml), directories of them, or raw list files (repeatable)
    #[arg(long = "ioc", value_name = "PATH")]
    ioc: Vec<PathBuf>,

    /// Directory that ${CANHGAC_DATA} stands for in IOC definitions [env: CANHGAC_DATA]
    #[arg(long, value_name = "DIR")]
    ioc_data: Option<PathBuf>,

    /// Agency registry (TOML) to attribute events to information systems and their security
    /// levels [config: registry.path]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,

    /// Consumer group: workers with the same group share the work
    #[arg(long, value_name = "ID", default_value = "canhgac-detect")]
    group: String,

    /// Taxonomy (categories, priorities, incident grouping) [default: the built-in rules/taxonomy.yaml]
    #[arg(long, value_name = "FILE")]
    taxonomy: Option<PathBuf>,

    /// Directory of Sigma logsource mapping files [default: the built-in rules/mappings]
    #[arg(long, value_name = "DIR")]
    mappings: Option<PathBuf>,

    /// Values for Sigma `expand` placeholders (YAML); rules needing unconfigured ones are rejected
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,

    /// Events evaluated together (in parallel across cores)
    #[arg(long, value_name = "N", default_value_t = 512)]
    batch: usize,

    /// How often rule files are checked for changes, in seconds (0: only on SIGHUP)
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    reload_interval: u64,

    #[command(flatten)]
    common: KafkaRoleArgs,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.common.configure(|raw| {
        start::override_registry(raw, args.registry.as_deref());
    })?;
    let role = Role::configured(&cfg.telemetry)?;
    if args.batch == 0 {
        return Err(UsageError("--batch must be at least 1".into()).into());
    }
    let spec = RulesetSpec {
        rules: args.rules.clone(),
        mappings: args.mappings.clone(),
        placeholders: args.placeholders.clone(),
        taxonomy: args.taxonomy.clone(),
        registry: cfg.registry_path.clone(),
        ioc: args.ioc.clone(),
        ioc_vars: args
            .ioc_data
            .iter()
            .map(|d| ("CANHGAC_DATA".to_string(), d.display().to_string()))
            .collect(),
    };
    let rules = spec.load(1).map_err(|e| UsageError(e.to_string()))?;
    log_loaded(&rules);
    let settings = start::client_settings(&cfg.kafka);
    let topics = cfg.kafka.topics.clone();
    role.run(|RoleContext { cancel, registry }| async move {
        let metrics = DetectMetrics::new(&registry)?;
        metrics.loaded(&rules);
        let handle = RulesHandle::new(rules);
        let every = if args.reload_interval == 0 {
            Duration::from_secs(365 * 86_400)
        } else {
            Duration::from_secs(args.reload_interval)
        };
        let (m, h) = (metrics.clone(), handle.clone());
        tokio::spawn(worker::watch(
            spec,
            handle.clone(),
            every,
            reload_on_sighup(),
            move |outcome| m.reloaded(outcome, &h),
            cancel.clone(),
        ));
        let publisher = KafkaPublisher::new(&settings)?;
        let state_topic = topics.state("detect");
        publisher
            .ensure_state_topic(&state_topic)
            .await
            .context("cannot prepare the correlation state topic")?;
        let state = StateOptions::new(StateBackend::Topic(state_topic.clone()), &registry)?;
        let assignments = state.assignments.clone();
        let stage = DetectStage::new(
            publisher.clone(),
            topics.clone(),
            handle,
            metrics.clone(),
            StageOptions {
                batch: args.batch,
                ..Default::default()
            },
        )
        .with_state(state)?;
        // Suppressions: the whole lifecycle topic, from its beginning, for this worker.
        start::ensure_lifecycle_topic(&publisher, &topics).await?;
        let suppressions = worker::suppress::SuppressionsHandle::new();
        let (follow, caught_up) =
            start::follow_lifecycle_topic(&settings, &topics, "canhgac-detect-suppressions")
                .await?;
        tokio::spawn(worker::suppress::follow_suppressions(
            follow,
            suppressions.clone(),
            cancel.clone(),
        ));
        caught_up.await;
        let stage = stage.with_suppressions(suppressions);
        stage
            .prepare()
            .await
            .context("cannot prepare the detections topic")?;
        let revoked: Revoked = {
            let a = assignments.clone();
            Arc::new(move |parts: &[(String, i32)]| a.revoked(parts))
        };
        let options = SubscriptionOptions {
            buffer: args.batch * 8,
            start_offsets: Some(restore_on_assign(settings.clone(), state_topic, assignments)),
            revoked: Some(revoked),
            ..Default::default()
        };
        let mut sub = KafkaSubscription::with_options(
            &settings,
            &args.group,
            SubscribeTo::Pattern(topics.events_pattern()),
            options,
        )?;
        let lag = sub.lag();
        let gauge = metrics.consumer_lag.clone();
        tokio::spawn(async move {
            loop {
                gauge.set(lag.load(Ordering::Relaxed));
                tokio::time::sleep(worker::stage::LAG_INTERVAL).await;
            }
        });
        tracing::info!(group = %args.group, pattern = %topics.events_pattern(), "detect worker started");
        let result = stage.run(&mut sub, cancel).await;
        sub.close().await;
        publisher.flush(Duration::from_secs(10)).await.ok();
        let stats = result.context("detect worker stopped")?;
        tracing::info!(
            events = stats.events,
            detections = stats.detections,
            dlq = stats.dlq,
            acked = stats.acked,
            "detect worker finished"
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn log_loaded(rules: &worker::Ruleset) {
    tracing::info!(
        rules = rules.engine.len(),
        rejected = rules.report.rejections.len(),
        correlations = rules.correlations.len(),
        ioc_lists = rules.ioc.lists().len(),
        indicators = rules.ioc.stats().indicators,
        agencies = rules.registry.len(),
        elapsed_ms = rules.report.elapsed.as_millis() as u64,
        "rules loaded"
    );
    for r in &rules.report.rejections {
        tracing::warn!("rule rejected: {r}");
    }
    for r in &rules.ioc_reports {
        tracing::info!(list = %r.id, indicators = r.distinct, skipped = r.skipped, "ioc list loaded");
    }
}

/// On assignment: the latest saved correlation state of each assigned partition (read from the
/// state topic) goes to the stage, and the partition starts at the offset it covers; a
/// partition without one starts at the group's committed offset with empty windows (nothing
/// before that offset ever entered a window: its acks would have waited for a state).
fn restore_on_assign(
    settings: ClientSettings,
    topic: String,
    assignments: Arc<Assignments>,
) -> StartOffsets {
    Arc::new(move |parts: &[(String, i32)]| {
        let keys: Vec<String> = parts.iter().map(|(t, p)| state_key(t, *p)).collect();
        let mut latest = None;
        for attempt in 1..=3 {
            match read_latest(&settings, &topic, &keys, Duration::from_secs(20)) {
                Ok(m) => {
                    latest = Some(m);
                    break;
                }
                Err(e) => tracing::warn!(error = %e, attempt, "cannot read the correlation state"),
            }
        }
        let Some(latest) = latest else {
            tracing::error!(
                topic,
                partitions = parts.len(),
                "correlation state unreadable: the assigned partitions start with empty windows"
            );
            for p in parts {
                assignments.unreadable(p.clone());
            }
            return Vec::new();
        };
        let mut starts = Vec::new();
        for ((t, p), key) in parts.iter().zip(&keys) {
            let Some(bytes) = latest.get(key).filter(|b| !b.is_empty()) else {
                assignments.assigned((t.clone(), *p), None);
                continue;
            };
            match PartitionState::from_json(&format!("{topic} key {key}"), bytes) {
                Ok(saved) => {
                    if let Some(o) = saved.next_offset {
                        starts.push((t.clone(), *p, o));
                    }
                    assignments.assigned((t.clone(), *p), Some(saved));
                }
                Err(e) => {
                    tracing::error!(error = %e, "saved correlation state ignored: the partition starts with empty windows");
                    assignments.unreadable((t.clone(), *p));
                }
            }
        }
        starts
    })
}

/// A channel that gets a message on each SIGHUP (a reload request; at most one pending).
fn reload_on_sighup() -> tokio::sync::mpsc::Receiver<()> {
    let (hup_tx, hup_rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading rules");
            let _ = hup_tx.try_send(());
        }
    });
    hup_rx
}
