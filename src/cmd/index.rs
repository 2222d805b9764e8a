//! `canhgac index`: consume `<prefix>.detections` and `<prefix>.incident-events` into the
//! tantivy incident index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use canhgac_index::{CommitPolicy, IndexMetrics, Indexer, IndexerOptions, Retention, RunOptions};
use canhgac_kafka::{KafkaSubscription, SubscribeTo, SubscriptionOptions};
use clap::{Args, Subcommand};

use super::start::{self, KafkaRoleArgs, Role, RoleContext};
use super::UsageError;

const EXAMPLES: &str = "\
Examples:
  # Index the detections of the local broker into /var/lib/canhgac/index:
  canhgac index --brokers 127.0.0.1:9092 --index /var/lib/canhgac/index

  # Keep two years, commit every 5 s or 100,000 detections, expose metrics:
  canhgac index --brokers kafka1:9093 --index /srv/index --retention-months 24 \\
      --commit-interval-ms 5000 --commit-docs 100000 --metrics-listen 127.0.0.1:9465 \\
      -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 ...

Delivery: every commit stores the consumed offsets in the index (tantivy's commit payload),
and partitions resume from there, not from the group's committed offsets (a hint only).
Messages are acked to Kafka after the commit that contains them. A crash (even kill -9) loses
at most the batch since the last commit; it is read again and upserted by id, so incident
counts stay exact. An empty index is built from the beginning of both topics, detections and
incident-events (every status, assignment, comment, merge and suppression), so removing the
index directory and starting again rebuilds it.

Invalid messages (not JSON, not a detection, another schema version) are logged with the
reason and counted in canhgac_index_rejected_total{reason}; indexing goes on.

One process writes an index; a second `canhgac index` on the same directory fails to start.";

/// Options of `canhgac index`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct IndexArgs {
    #[command(subcommand)]
    command: Option<IndexCommand>,

    /// Index directory (created when missing)
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,

    /// Consumer group id
    #[arg(long, value_name = "ID", default_value = "canhgac-index")]
    group: String,

    /// Commit at most this long after the first uncommitted detection
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    commit_interval_ms: u64,

    /// Commit once this many detections (and status changes) are pending
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    commit_docs: usize,

    /// Keep incidents of the last N calendar months (the current one included) and drop
    /// older ones with their detections; applied at the first commit and hourly. Default: keep all
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    retention_months: Option<u32>,

    /// tantivy indexing threads [default: cores, at most 4]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// tantivy indexing memory budget, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    heap_mib: usize,

    /// The incident lifecycle policy the records are folded under (TOML; the same file as
    /// `serve --lifecycle`) [default: rules/lifecycle.toml, embedded]
    #[arg(long, value_name = "FILE")]
    lifecycle: Option<PathBuf>,

    #[command(flatten)]
    common: KafkaRoleArgs,
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Publish the statuses and notes of an index built by a previous version as lifecycle
    /// records, so that the index rebuilt from the topics keeps them
    #[command(after_long_help = UPGRADE)]
    Upgrade(UpgradeArgs),
}

const UPGRADE: &str = "\
Before version 3 an incident's status and notes lived only in the index. This reads them from
the old index DIR (read-only) and publishes each change as a lifecycle record (who: the person
named, else \"unknown\"), then you rebuild:

  # Kafka layout: publish, move the old index aside, start the indexer on an empty directory
  canhgac index upgrade --index /srv/index --brokers kafka1:9092
  mv /srv/index /srv/index.v2 && canhgac index --index /srv/index --brokers kafka1:9092

  # canhgac run: append to its local log, then remove the index and the checkpoints
  canhgac index upgrade --index canhgac-data/index --local-log canhgac-data/incident-events.jsonl
  rm -r canhgac-data/index canhgac-data/checkpoints && canhgac run

Record ids are deterministic: running the upgrade twice publishes the same records, which
count once.";

/// Options of `canhgac index upgrade`.
#[derive(Debug, Args)]
struct UpgradeArgs {
    /// The index built by the previous version
    #[arg(long, value_name = "DIR")]
    index: PathBuf,

    /// Append the records to this local log (`canhgac run`'s <data_dir>/incident-events.jsonl)
    /// instead of publishing them to Kafka
    #[arg(long, value_name = "FILE")]
    local_log: Option<PathBuf>,

    #[command(flatten)]
    common: KafkaRoleArgs,
}

fn upgrade(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.common.configure(|_| {})?;
    let records = canhgac_index::upgrade::legacy_records(&args.index)
        .with_context(|| format!("cannot read the old index at {}", args.index.display()))?;
    if let Some(log) = &args.local_log {
        let (journal, existing) = canhgac_core::journal::Journal::open(log)?;
        let mut seen = std::collections::HashSet::new();
        for line in &existing {
            if let Ok(r) = canhgac_core::lifecycle::IncidentEvent::from_json(line) {
                seen.insert(r.id);
            }
        }
        let mut added = 0;
        for r in &records {
            if seen.insert(r.id) {
                journal.append(&r.to_json())?;
                added += 1;
            }
        }
        eprintln!(
            "{} records from {} ({} new) in {}; now remove the index and the checkpoints of \
             that data directory and start `canhgac run` again: it rebuilds the index and \
             replays the log",
            records.len(),
            args.index.display(),
            added,
            log.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !start::brokers_given(&args.common.kafka, &cfg) {
        return Err(UsageError(
            "give --brokers (publish to <prefix>.incident-events) or --local-log FILE".into(),
        )
        .into());
    }
    let role = Role::configured(&cfg.telemetry)?;
    let settings = start::client_settings(&cfg.kafka);
    let topics = cfg.kafka.topics.clone();
    role.run(|_| async move {
        let publisher = canhgac_kafka::KafkaPublisher::new(&settings)?;
        start::ensure_lifecycle_topic(&publisher, &topics).await?;
        let outbox = canhgac_serve::PublisherOutbox::new(publisher, &topics);
        for r in &records {
            canhgac_serve::Outbox::publish(&outbox, r.clone())
                .await
                .map_err(anyhow::Error::msg)?;
        }
        eprintln!(
            "{} records from {} published to {}; now move that index aside and start \
             `canhgac index` on an empty directory: it rebuilds from the detections and the \
             incident events",
            records.len(),
            args.index.display(),
            topics.incident_events()
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run(args: IndexArgs) -> anyhow::Result<ExitCode> {
    if let Some(IndexCommand::Upgrade(u)) = args.command {
        return upgrade(u);
    }
    let Some(index_dir) = args.index.clone() else {
        return Err(UsageError("--index DIR is required (see canhgac index --help)".into()).into());
    };
    let cfg = args.common.configure(|_| {})?;
    if args.commit_docs == 0 {
        return Err(UsageError("--commit-docs must be at least 1".into()).into());
    }
    let role = Role::configured(&cfg.telemetry)?;
    let mut options = IndexerOptions {
        commit: CommitPolicy {
            max_docs: args.commit_docs,
            max_interval: Duration::from_millis(args.commit_interval_ms.max(1)),
        },
        heap_bytes: args.heap_mib.max(16) << 20,
        ..Default::default()
    };
    if let Some(p) = &args.lifecycle {
        options.policy =
            canhgac_core::lifecycle::Policy::load(p).map_err(|e| UsageError(e.to_string()))?;
    }
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    let topic = cfg.kafka.topics.detections();
    let lifecycle_topic = cfg.kafka.topics.incident_events();
    let topics = cfg.kafka.topics.clone();
    let settings = start::client_settings(&cfg.kafka);
    role.run(|RoleContext { cancel, registry }| async move {
        let metrics = IndexMetrics::new(&registry)?;
        let dir = index_dir.clone();
        let mut indexer = tokio::task::spawn_blocking(move || Indexer::open(&dir, options))
            .await?
            .with_context(|| format!("cannot open the index at {}", index_dir.display()))?
            .with_metrics(metrics);
        if let Some(months) = args.retention_months {
            indexer = indexer.with_retention(Retention {
                months,
                every: Duration::from_secs(3600),
            });
        }
        tracing::info!(
            index = %index_dir.display(),
            topic,
            resume = ?indexer.committed_offsets().get(&topic),
            "indexer starting"
        );
        // The indexer publishes nothing: a producer only to create the lifecycle topic.
        let publisher = canhgac_kafka::KafkaPublisher::new(&settings)?;
        start::ensure_lifecycle_topic(&publisher, &topics).await?;
        drop(publisher);
        let subscription = KafkaSubscription::with_options(
            &settings,
            &args.group,
            SubscribeTo::Topics(vec![topic, lifecycle_topic]),
            SubscriptionOptions {
                start_offsets: Some(indexer.start_offsets()),
                ..Default::default()
            },
        )?;
        let (indexer, summary) = canhgac_index::run::run(
            indexer,
            subscription,
            RunOptions {
                track_offsets: true,
            },
            cancel,
        )
        .await
        .context("indexer stopped")?;
        tokio::task::spawn_blocking(move || indexer.close())
            .await?
            .context("closing the index")?;
        tracing::info!(
            messages = summary.messages,
            indexed = summary.indexed,
            duplicates = summary.duplicates,
            skipped = summary.skipped,
            rejected = summary.rejected,
            commits = summary.commits,
            "indexer finished"
        );
        Ok(ExitCode::SUCCESS)
    })
}
