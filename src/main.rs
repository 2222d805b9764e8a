//! `canhgac`: one binary, many roles (brief §2). Each role is a subcommand in `src/cmd/`; the
//! stage logic lives in the library crates, this binary only parses arguments and wires them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod lifecycle;
mod metrics_http;

/// mimalloc rather than glibc's allocator: the detect worker allocates payload buffers on the
/// consumer thread and frees them on the evaluation threads, which glibc handles with arena
/// locks and `malloc_consolidate` on every buffer over 1 KB; measured, the worker drains
/// 20–25 % more events per second with it (BENCHMARKS.md, "Detect worker").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod pipeline;

/// canh gác — national cyber-incident monitoring pipeline.
///
/// Agency sensors publish security events to Kafka; detector workers match Sigma rules and IOC
/// lists and classify incidents; the results are indexed for search and monthly statistics.
///
/// Exit codes: 0 success; 1 failure (broker, delivery, I/O); 2 invalid usage or configuration;
/// 3 finished, but some inputs could not be read (they are named in the log and the DLQ).
#[derive(Debug, Parser)]
#[command(
    name = "canhgac",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every stage in one process, no Kafka: sources → detect → index → web UI on 127.0.0.1
    Run(Box<cmd::run::RunArgs>),
    /// Read an agency's security logs and publish them as events to Kafka
    Sensor(Box<cmd::sensor::SensorArgs>),
    /// Check Sigma rules: what loads, what is rejected and why
    Rules(cmd::rules::RulesArgs),
    /// Evaluate Sigma rules offline over event files, one match per line
    Hunt(cmd::hunt::HuntArgs),
    /// Match events from Kafka against Sigma rules, classify them, publish detections
    Detect(Box<cmd::detect::DetectArgs>),
    /// Build the incident index from the detections topic (tantivy)
    Index(Box<cmd::index::IndexArgs>),
    /// Search incidents and detections in the index
    Search(Box<cmd::search::SearchArgs>),
    /// Monthly incident statistics from the index (table, CSV, JSON)
    Stats(Box<cmd::stats::StatsArgs>),
    /// Simulated agency traffic with injected attacks and ground truth (files, Kafka, score)
    Simulate(Box<cmd::simulate::SimulateArgs>),
    /// Deliver alerts to the agencies (Kafka topic, signed webhook, e-mail)
    Notify(Box<cmd::notify::NotifyArgs>),
    /// The printable monthly report (HTML, Markdown, CSV; Vietnamese or English)
    Report(Box<cmd::report::ReportArgs>),
    /// HTTP API and web UI over the index, with per-agency tokens (and `serve token new`)
    Serve(Box<cmd::serve::ServeArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(*args),
        Command::Sensor(args) => cmd::sensor::run(*args),
        Command::Rules(args) => cmd::rules::run(args),
        Command::Hunt(args) => cmd::hunt::run(args),
        Command::Detect(args) => cmd::detect::run(*args),
        Command::Index(args) => cmd::index::run(*args),
        Command::Search(args) => cmd::search::run(*args),
        Command::Stats(args) => cmd::stats::run(*args),
        Command::Simulate(args) => cmd::simulate::run(*args),
        Command::Notify(args) => cmd::notify::run(*args),
        Command::Report(args) => cmd::report::run(*args),
        Command::Serve(args) => cmd::serve::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("canhgac: error: {err:#}");
            let code = if err.downcast_ref::<cmd::UsageError>().is_some() {
                cmd::EXIT_USAGE
            } else {
                cmd::EXIT_FAILURE
            };
            ExitCode::from(code)
        }
    }
}
