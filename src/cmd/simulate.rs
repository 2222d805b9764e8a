//! `canhgac simulate`: agency traffic with known ground truth, to files, to Kafka, or scored
//! against the detection rules (the accuracy harness).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use canhgac_detect::worker::RulesetSpec;
use canhgac_detect::IocLoader;
use canhgac_kafka::KafkaPublisher;
use canhgac_sim::out::{write_truth, FileSink, Pacer};
use canhgac_sim::{score, AttackMix, Month, SimConfig, Simulator};

use super::start::{self, ConfigArgs, KafkaArgs, Role, RoleContext};
use super::UsageError;

/// Generate simulated agency traffic with injected attacks and their ground truth.
///
/// Benign background (web access, DNS, Windows logons and process starts, mail, syslog, IDS
/// noise, and near misses: administrators' PowerShell, genuine uploads, mail about passwords
/// that is no lure, DNS to popular login domains) and attacks of the three national classes
/// (defacement of portals, phishing waves with look-alike .gov.vn domains, malware infections
/// with C2 traffic) for every agency of the registry, deterministic for a seed. Attacks come in
/// campaigns: each spans one to four days, trips several rules, hits several hosts or
/// mailboxes, and a campaign may hit several agencies (one attack per agency, linked by a
/// campaign id in the truth). Records are raw logs in the formats sensors read.
///
/// Examples:
///
///   # One month to files (one per agency and format) plus truth.jsonl:
///   canhgac simulate --registry rules/agencies.example.toml --from 2026-10 --out /tmp/sim
///
///   # Check it with the shipped rules:
///   canhgac hunt --rules rules/sigma /tmp/sim/*/*.log /tmp/sim/*/*.json*
///
///   # Publish events to Kafka (<prefix>.events.<agency>) as the sensors would, instead of
///   # writing files, at 2000 records/s:
///   canhgac simulate --registry rules/agencies.example.toml --from 2026-10 \
///       --brokers 127.0.0.1:9092 --rate 2000
///
///   # Accuracy, attack by attack: replay a year with 100 attacks per national class through
///   # the rules into an in-memory index and score its incidents against the truth (add
///   # --rules ../shared/data/sigma/rules/rules --ioc rules/ioc, with
///   # CANHGAC_DATA=../shared/data, for the SigmaHQ corpus and the IOC lists; --json for JSON):
///   canhgac simulate --registry rules/agencies.example.toml --from 2026-01 --to 2026-12 \
///       --attacks-per-class 100 --scale 60 --score --rules rules/sigma
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SimulateArgs {
    /// Agency registry (TOML)
    #[arg(long, value_name = "FILE")]
    pub registry: PathBuf,
    /// First month (YYYY-MM)
    #[arg(long, value_name = "YYYY-MM")]
    pub from: String,
    /// Last month, inclusive (default: --from)
    #[arg(long, value_name = "YYYY-MM")]
    pub to: Option<String>,
    /// Seed: the same seed gives the same records and truth
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Benign records per agency on a working day (weekends carry a third)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub scale: u32,
    /// Mean phishing waves per agency and month
    #[arg(long, value_name = "N", default_value_t = AttackMix::default().phishing)]
    pub phishing: f64,
    /// Mean defacements per agency (with a portal) and month
    #[arg(long, value_name = "N", default_value_t = AttackMix::default().deface)]
    pub deface: f64,
    /// Mean malware infections per agency and month
    #[arg(long, value_name = "N", default_value_t = AttackMix::default().malware)]
    pub malware: f64,
    /// Exactly N attacks of each national class over the whole range, instead of the mean
    /// numbers above (attacks of one class on one agency never overlap: a range too short
    /// gives fewer; the truth says how many)
    #[arg(long, value_name = "N")]
    pub attacks_per_class: Option<u32>,
    /// Records per second (default: as fast as possible)
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Write files here: <agency>/{access.log,windows.jsonl,eve.json,dns.json,syslog.log,mail/*.eml}
    #[arg(long, value_name = "DIR", conflicts_with = "brokers")]
    pub out: Option<PathBuf>,
    // --brokers publishes events to Kafka instead of writing files (see the examples).
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Ground-truth file (JSON lines; default <out>/truth.jsonl with --out)
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Replay the records through the rules (decode, detect, index in memory) and score the
    /// index's incidents against the attacks of the truth, per national class
    #[arg(long, requires = "rules")]
    pub score: bool,
    /// Sigma rule file or directory for --score (repeatable)
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// IOC list definitions or files for --score (repeatable)
    #[arg(long = "ioc", value_name = "PATH")]
    pub ioc: Vec<PathBuf>,
    /// Print the score as JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let usage = |e: &dyn std::fmt::Display| UsageError(e.to_string());
    let registry = canhgac_core::registry::Registry::load(&args.registry).map_err(|e| usage(&e))?;
    let from: Month = args.from.parse().map_err(|e| usage(&e))?;
    let to: Month = match &args.to {
        Some(t) => t.parse().map_err(|e| usage(&e))?,
        None => from,
    };
    let mut cfg = SimConfig::new(registry, from, to);
    cfg.seed = args.seed;
    cfg.events_per_day = args.scale;
    cfg.mix = AttackMix {
        phishing: args.phishing,
        deface: args.deface,
        malware: args.malware,
    };
    cfg.attacks_per_class = args.attacks_per_class;
    let sim = Simulator::new(cfg).map_err(|e| usage(&e))?;
    if args.out.is_none() && args.kafka.brokers.is_none() && !args.score {
        return Err(UsageError("give --out DIR, --brokers HOST:PORT or --score".into()).into());
    }
    let truth = sim.truth();
    let truth_path = args
        .truth
        .clone()
        .or_else(|| args.out.as_ref().map(|d| d.join("truth.jsonl")));
    if let Some(p) = &truth_path {
        write_truth(p, &truth)?;
    }
    if let Some(dir) = &args.out {
        let mut sink = FileSink::new(dir)?;
        let mut pacer = Pacer::new(args.rate);
        for r in sim.records() {
            pacer.wait();
            sink.write(&r)?;
        }
        let (records, bytes) = (sink.records, sink.bytes);
        sink.finish()?;
        eprintln!(
            "{records} records ({} MiB), {} injected attacks, in {}",
            bytes / (1 << 20),
            truth.len(),
            dir.display()
        );
    }
    if args.kafka.brokers.is_some() {
        let cfg = start::configure(&args.config, Some(&args.kafka), None, |_| {})?;
        let settings = start::client_settings(&cfg.kafka);
        let topics = cfg.kafka.topics.clone();
        let sim = Arc::new(sim);
        let s = sim.clone();
        let rate = args.rate;
        Role::configured(&cfg.telemetry)?.run(|RoleContext { cancel, .. }| async move {
            let publisher = KafkaPublisher::new(&settings)?;
            let stats =
                canhgac_sim::publish::publish(s, publisher, topics, rate, 10_000, cancel).await?;
            eprintln!(
                "{} records, {} messages delivered ({} to the DLQ), {} injected attacks",
                stats.records,
                stats.delivered,
                stats.dlq,
                truth.len()
            );
            Ok(ExitCode::SUCCESS)
        })?;
        if args.score {
            return score_sim(&sim, &args.rules, &args.ioc, &args.registry, args.json);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.score {
        return score_sim(&sim, &args.rules, &args.ioc, &args.registry, args.json);
    }
    Ok(ExitCode::SUCCESS)
}

fn score_sim(
    sim: &Simulator,
    rules: &[PathBuf],
    ioc: &[PathBuf],
    registry: &std::path::Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let spec = RulesetSpec {
        rules: rules.to_vec(),
        registry: Some(registry.to_path_buf()),
        ..Default::default()
    };
    let ruleset = spec.load(1).map_err(|e| UsageError(e.to_string()))?;
    let iocs = if ioc.is_empty() {
        None
    } else {
        let mut loader = IocLoader::new();
        for p in ioc {
            loader.add_path(p).map_err(|e| UsageError(e.to_string()))?;
        }
        Some(loader.build().0)
    };
    let replay = score::replay(sim.records(), &ruleset, iocs.as_ref())?;
    let truth = sim.truth();
    let result = score::score(&replay.incidents, &truth);
    let cfg = sim.config();
    if json {
        let out = serde_json::json!({
            "seed": cfg.seed,
            "from": cfg.from.to_string(),
            "to": cfg.to.to_string(),
            "scale": cfg.events_per_day,
            "rules": rules,
            "ioc": ioc,
            "records": replay.records,
            "events": replay.events,
            "undecodable": replay.undecodable,
            "detections": replay.detections,
            "attack_detections": replay.attack_detections,
            "benign_detections": replay.benign_detections,
            "incidents": replay.incidents.len(),
            "attack_detections_by_rule": by_rule(&replay.attack_by_rule),
            "benign_detections_by_rule": by_rule(&replay.benign_by_rule),
            "score": result,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "seed {}, {}..{}, {} attacks, {} incidents",
            cfg.seed,
            cfg.from,
            cfg.to,
            truth.len(),
            replay.incidents.len()
        );
        print!("{}", score::render(&result));
        eprintln!(
            "{} records, {} events, {} undecodable, {} detections ({} on attack records, {} on benign records), {} incidents",
            replay.records,
            replay.events,
            replay.undecodable,
            replay.detections,
            replay.attack_detections,
            replay.benign_detections,
            replay.incidents.len()
        );
        for ((id, title), n) in &replay.attack_by_rule {
            eprintln!("attack records matched by {id} ({title}): {n}");
        }
        for ((id, title), n) in &replay.benign_by_rule {
            eprintln!("benign records matched by {id} ({title}): {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Detections per rule as JSON objects, most first.
fn by_rule(m: &std::collections::BTreeMap<(String, String), u64>) -> Vec<serde_json::Value> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .map(|((id, title), n)| serde_json::json!({"rule_id": id, "title": title, "detections": n}))
        .collect()
}
