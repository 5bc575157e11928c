//! Command-line arguments (clap only; no behaviour here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Label millions of short texts with LLMs through batch APIs.
#[derive(Debug, Parser)]
#[command(name = "batchlabel", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but results and errors (no progress).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec: its structure, its input's columns, and the first rows' requests.
    Check(CheckArgs),
    /// Compile a spec's rows into sharded JSONL batch files.
    Compile(CompileArgs),
    /// Estimate tokens and cost of a spec's batch run, per batch file and in total.
    Estimate(EstimateArgs),
}

/// `batchlabel check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    /// How many input rows to render as a test.
    #[arg(long, default_value_t = 5)]
    pub rows: usize,
    /// Print the first rendered request.
    #[arg(long)]
    pub show_request: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    /// Output folder for the batch files (replaced if it holds an earlier compile).
    #[arg(long)]
    pub out: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
