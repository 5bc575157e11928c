//! The validated job: what [`crate::resolve`] makes of a spec once every check has passed.
//! Paths are absolute, templates loaded, combinations settled, schemas derived.

use std::path::PathBuf;

use serde::Serialize;

use crate::job_spec::ProviderKind;

/// A job ready to compile and run.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's name.
    pub name: String,
    /// The job's description, if any.
    pub description: Option<String>,
    /// The spec file this job came from.
    pub spec_path: PathBuf,
    /// The rows to label.
    pub input: Input,
    /// The message templates.
    pub prompt: Prompt,
    /// The fields the model returns, in spec order.
    pub labels: Vec<LabelField>,
    /// Model, provider and request parameters.
    pub model: Model,
    /// Where results go, if the spec says.
    pub output: Option<Output>,
    /// Per-file limits and retries, provider defaults applied.
    pub limits: BatchLimits,
    /// How requests are packed, queued and cleaned up.
    pub batching: Batching,
    /// Spending limit in US dollars.
    pub budget_usd: Option<f64>,
    /// The request builder plugin, if any.
    pub request_plugin: Option<PluginUse>,
    /// Validator plugins, in order.
    pub validator_plugins: Vec<PluginUse>,
    /// JSON Schema every model output is validated against.
    pub output_schema: serde_json::Value,
    /// The strict structured output each request asks for.
    pub structured_output: StructuredOutput,
    /// Few-shot examples, if the spec gives them.
    pub examples: Option<crate::examples::Examples>,
    /// sha256 (hex) of everything that determines the requests: spec and template texts.
    pub fingerprint: String,
}

/// The strict structured output of every request: a name and a JSON Schema in the subset
/// strict structured outputs accept. Each provider's codec puts it in its own form.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredOutput {
    /// `[a-zA-Z0-9_-]{1,64}`, from the job name.
    pub name: String,
    /// The schema.
    pub schema: serde_json::Value,
}

/// A plugin the job uses.
#[derive(Debug, Clone)]
pub struct PluginUse {
    /// Absolute path of the `.wasm` file.
    pub path: PathBuf,
    /// sha256 of the file (hex); part of the spec fingerprint.
    pub sha256: String,
    /// Its configuration (`with:`; `{}` when absent).
    pub config: serde_json::Value,
    /// Where it is in the spec (JSON pointer, e.g. `/plugins/validate/0`), for diagnostics.
    pub pointer: String,
}

/// The input and its key columns.
#[derive(Debug, Clone)]
pub struct Input {
    /// Absolute path of the input file (an SQLite input: the database); a PostgreSQL input,
    /// which has no file, `postgres:$VARIABLE` for messages.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
    /// The id column.
    pub id_column: String,
    /// The text column, if named.
    pub text_column: Option<String>,
}

/// The format of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    /// CSV with a header row and this delimiter.
    Csv {
        /// Field delimiter.
        delimiter: u8,
    },
    /// JSON Lines.
    Jsonl,
    /// Parquet: a file, a folder of files or a glob.
    Parquet,
    /// An SQLite database (the input's path), read with a query.
    Sqlite {
        /// The SQL query.
        query: String,
    },
    /// A PostgreSQL database, read with a query.
    Postgres {
        /// The environment variable holding the connection string.
        url_env: String,
        /// The SQL query.
        query: String,
    },
}

impl InputFormat {
    /// Whether rows come from a query (their identity is a digest of the rows, not a file's
    /// size and time).
    pub fn is_query(&self) -> bool {
        matches!(self, Self::Sqlite { .. } | Self::Postgres { .. })
    }
}

/// The message templates.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The system message template, if any.
    pub system: Option<Template>,
    /// The user message template.
    pub user: Template,
    /// The `row.*` columns the templates read, sorted, each once.
    pub row_columns: Vec<String>,
    /// Whether a template reads `row` as a whole (so every column is needed).
    pub whole_row: bool,
}

/// One template and where it came from (for error positions).
#[derive(Debug, Clone)]
pub struct Template {
    /// `system` or `user`.
    pub role: &'static str,
    /// The template text.
    pub text: String,
    /// The file it was read from, or `None` when inline in the spec.
    pub file: Option<PathBuf>,
}

/// One output field.
#[derive(Debug, Clone, Serialize)]
pub struct LabelField {
    /// Field name in the output object.
    pub name: String,
    /// What the field means.
    pub description: Option<String>,
    /// What values it takes.
    pub kind: LabelKind,
}

/// The values a field takes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Exactly one label.
    OneOf {
        /// The allowed labels.
        labels: Vec<Label>,
    },
    /// A set of labels.
    AnyOf {
        /// The allowed labels.
        labels: Vec<Label>,
        /// Fewest labels.
        min: Option<u32>,
        /// Most labels.
        max: Option<u32>,
    },
    /// Anything a raw JSON Schema allows.
    Schema {
        /// The schema.
        schema: serde_json::Value,
    },
}

/// A label and its definition.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    /// The label as the model must write it.
    pub name: String,
    /// Its definition (empty when the spec gave none).
    pub description: String,
}

/// The model and its request parameters.
#[derive(Debug, Clone)]
pub struct Model {
    /// Who serves it.
    pub provider: ProviderKind,
    /// Model name.
    pub name: String,
    /// Request-body parameters besides `model`, `messages` and `response_format`, in order.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Cap on output tokens per request, if set.
    pub max_completion_tokens: Option<u32>,
    /// Base URL of the API, if the spec names one.
    pub base_url: Option<String>,
    /// The OpenAI-compatible host's dialect (`provider: openai` only).
    pub dialect: crate::job_spec::OpenaiDialect,
    /// Azure OpenAI settings (`provider: azure_openai` only).
    pub azure: crate::job_spec::AzureSpec,
    /// Anthropic settings (`provider: anthropic` only).
    pub anthropic: crate::job_spec::AnthropicSpec,
}

impl Model {
    /// The model name written into each request: Azure's deployment, else the model name.
    pub fn request_model(&self) -> &str {
        match (self.provider, &self.azure.deployment) {
            (ProviderKind::AzureOpenai, Some(deployment)) => deployment,
            _ => &self.name,
        }
    }
}

/// Where results go.
#[derive(Debug, Clone)]
pub struct Output {
    /// Results file (a PostgreSQL sink: `postgres:$VARIABLE/table`, for messages; write-back
    /// only: none is written).
    pub path: PathBuf,
    /// Its format.
    pub format: OutputFormat,
    /// Failed rows file.
    pub errors_path: PathBuf,
    /// The input's own table to update, if asked.
    pub write_back: Option<WriteBack>,
}

impl Output {
    /// Whether results go to a file at [`Output::path`] (CSV, JSONL, SQLite).
    pub fn writes_file(&self) -> bool {
        matches!(
            self.format,
            OutputFormat::Csv | OutputFormat::Jsonl | OutputFormat::Parquet | OutputFormat::Sqlite
        )
    }
}

/// A results format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    /// CSV.
    Csv,
    /// JSON Lines.
    Jsonl,
    /// Parquet.
    Parquet,
    /// SQLite database.
    Sqlite,
    /// A PostgreSQL table.
    Postgres {
        /// The environment variable holding the connection string.
        url_env: String,
        /// The results table (maybe schema-qualified).
        table: String,
    },
    /// No results sink: only the write-back.
    WriteBackOnly,
}

/// The database a write-back updates: the input's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// PostgreSQL, its connection string in this environment variable.
    Postgres(String),
}

/// The provenance a sink writes after the labels, in order (and the names `write_back`'s
/// `provenance` may use).
pub const PROVENANCE_COLUMNS: [&str; 13] = [
    "model",
    "model_snapshot",
    "spec_fingerprint",
    "batch_id",
    "custom_id",
    "attempt",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "labeled_at",
    "source",
    "run",
    "packed_in",
];

/// Labels written into the user's own table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    /// Where the table is.
    pub database: Database,
    /// The table.
    pub table: String,
    /// Its id column.
    pub id_column: String,
    /// (label field, column), in spec order.
    pub columns: Vec<(String, String)>,
    /// (provenance name, column), in spec order.
    pub provenance: Vec<(String, String)>,
}

/// How requests are packed, queued and cleaned up (`batch.pack`,
/// `batch.max_enqueued_tokens`, `batch.remote_cleanup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Batching {
    /// Rows per request (1: no packing).
    pub pack: u32,
    /// How a packed answer gives `one_of` labels.
    pub pack_answer: crate::job_spec::PackAnswer,
    /// The spec's cap on queued input tokens, if it sets one.
    pub max_enqueued_tokens: Option<u64>,
    /// Delete remote inputs and results once ingested.
    pub remote_cleanup: bool,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            pack: 1,
            pack_answer: crate::job_spec::PackAnswer::Lists,
            max_enqueued_tokens: None,
            remote_cleanup: true,
        }
    }
}

/// Limits of one batch file and the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchLimits {
    /// Most requests per file.
    pub max_requests_per_file: u64,
    /// Most bytes per file.
    pub max_bytes_per_file: u64,
    /// Sends per row before it counts as failed.
    pub max_attempts: u32,
}

impl ProviderKind {
    /// The provider's own per-file limits.
    pub fn limits(self) -> BatchLimits {
        match self {
            // OpenAI takes at most 50,000 requests and 200 MB per batch input file.
            ProviderKind::Openai => BatchLimits {
                max_requests_per_file: 50_000,
                max_bytes_per_file: 200_000_000,
                max_attempts: 3,
            },
            // Small files keep the work a killed local run redoes small (a batch restarts
            // from its first line).
            // Azure takes at most 100,000 requests and 200 MB per file; Anthropic at most
            // 100,000 requests and 256 MB per batch.
            ProviderKind::AzureOpenai => BatchLimits {
                max_requests_per_file: 100_000,
                max_bytes_per_file: 200_000_000,
                max_attempts: 3,
            },
            ProviderKind::Anthropic => BatchLimits {
                max_requests_per_file: 100_000,
                max_bytes_per_file: 256_000_000,
                max_attempts: 3,
            },
            // Gemini takes input files up to 2 GB and does not cap requests per batch
            // (100,000 keeps a shard's retry and download small); Mistral takes up to 1M
            // requests per job and files up to 512 MB.
            ProviderKind::Gemini => BatchLimits {
                max_requests_per_file: 100_000,
                max_bytes_per_file: 2_000_000_000,
                max_attempts: 3,
            },
            ProviderKind::Mistral => BatchLimits {
                max_requests_per_file: 1_000_000,
                max_bytes_per_file: 512_000_000,
                max_attempts: 3,
            },
            ProviderKind::Local => BatchLimits {
                max_requests_per_file: 200,
                max_bytes_per_file: 200_000_000,
                max_attempts: 3,
            },
        }
    }

    /// The name used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure_openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Mistral => "mistral",
            ProviderKind::Local => "local",
        }
    }
}
