//! `canhgac`: one binary, many roles (brief §2). The roles arrive with their issues.

use clap::Parser;

/// canh gác — national cyber-incident monitoring pipeline.
#[derive(Debug, Parser)]
#[command(name = "canhgac", version)]
struct Cli {}

fn main() {
    Cli::parse();
}
