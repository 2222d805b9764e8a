//! `canhgac rules check PATH…`: load Sigma rule files and trees, report what loaded and what
//! was rejected (grouped by reason, each naming the file and the construct).

use std::path::PathBuf;
use std::process::ExitCode;

use canhgac_sigma::{EngineBuilder, LoadReport, Mappings, Placeholders};

use super::UsageError;

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Load rule files and directories; print how many loaded and every rejection by reason
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files or directories (searched recursively for *.yml / *.yaml)
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Exit with status 1 if any rule was rejected
    #[arg(long)]
    pub strict: bool,
    /// YAML map of placeholder values for the `expand` modifier (`Servers: [srv*, dc1]`)
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Directory of mapping files (default: the mappings built into the binary)
    #[arg(long, value_name = "DIR")]
    pub mappings: Option<PathBuf>,
    /// Also reject rules naming fields only enriching sensors (Aurora, EDRs) add to their
    /// logsource, e.g. `ParentImage` on network connections: for plain-Sysmon deployments,
    /// where such a selection never matches and such a filter never applies (they load with a
    /// warning otherwise)
    #[arg(long)]
    pub strict_fields: bool,
}

pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::Check(a) => check(a),
    }
}

/// Mappings from `--mappings` or the built-in ones.
pub fn load_mappings(dir: Option<&std::path::Path>) -> anyhow::Result<Mappings> {
    match dir {
        Some(d) => Mappings::from_dir(d).map_err(|e| UsageError(e.to_string()).into()),
        None => Ok(Mappings::builtin()),
    }
}

/// Placeholder values from `--placeholders`, or none.
pub fn load_placeholders(file: Option<&std::path::Path>) -> anyhow::Result<Placeholders> {
    let Some(f) = file else {
        return Ok(Placeholders::new());
    };
    let text =
        std::fs::read_to_string(f).map_err(|e| UsageError(format!("{}: {e}", f.display())))?;
    Placeholders::from_yaml(&text, &f.display().to_string())
        .map_err(|e| UsageError(e.to_string()).into())
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut b = EngineBuilder::new(load_mappings(a.mappings.as_deref())?)
        .placeholders(load_placeholders(a.placeholders.as_deref())?)
        .strict_fields(a.strict_fields);
    for p in &a.paths {
        b.add_path(p).map_err(|e| UsageError(e.to_string()))?;
    }
    let (_, report) = b.build();
    print!("{}", render_report(&report));
    if a.strict && !report.rejections.is_empty() {
        return Ok(ExitCode::from(super::EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable load report (also printed by `hunt` on stderr).
pub fn render_report(r: &LoadReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "loaded {} rules, {} correlations and {} filters from {} files ({} documents) in {:.2}s",
        r.rules,
        r.correlations,
        r.filters,
        r.files,
        r.documents,
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "rejected {}", r.rejections.len());
    for (reason, list) in r.by_reason() {
        let _ = writeln!(out, "  {reason} ({}):", list.len());
        for rej in list {
            let _ = writeln!(out, "    {rej}");
        }
    }
    if !r.unrouted.is_empty() {
        let n: usize = r.unrouted.iter().map(|(_, n)| n).sum();
        let _ = writeln!(
            out,
            "unrouted {n} rules in {} logsources (loaded; no mapping sends events to them):",
            r.unrouted.len()
        );
        for (ls, n) in &r.unrouted {
            let _ = writeln!(out, "    {ls} ({n})");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
