//! The raw job spec as written in YAML: serde + schemars types, one per section.
//!
//! These types say *what* a job is. They are deliberately flat (optional fields instead of
//! data-carrying enums) so that schema validation can point at the exact key that is wrong;
//! [`crate::resolve`] checks the combinations ("exactly one of …") and builds a [`crate::Job`].
//! The doc comments are user documentation: they become `schemas/job-spec.schema.json`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A batchlabel job: where the rows come from, how each row becomes a request, which labels
/// the model must return, and where results go. A spec fully determines a run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Name of the job: letters, digits, `-` and `_`. Used in file names and batch metadata.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    pub name: String,
    /// Free-text description of the job, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rows to label.
    pub input: InputSpec,
    /// How each row becomes the messages sent to the model.
    pub prompt: PromptSpec,
    /// The fields the model must return, by name (e.g. `sentiment`, `themes`). Each field is
    /// one of: `one_of` (exactly one label), `any_of` (a set of labels) or `schema` (raw JSON
    /// Schema). Names: letters, digits and `_`, not starting with a digit.
    #[schemars(extend("minProperties" = 1))]
    pub labels: IndexMap<String, LabelFieldSpec>,
    /// The model and provider that answer the requests.
    pub model: ModelSpec,
    /// Where results are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    /// Batch file limits and retry policy. Limits default to the provider's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSpec>,
    /// Spending limit for a run of this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// WebAssembly plugins that build requests or check outputs (see `plugins/README.md`).
    /// Swap a plugin by pointing at another `.wasm`; no rebuild of batchlabel is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<PluginsSpec>,
    /// Labeled examples shown to the model before each row, as earlier turns of the
    /// conversation (few-shot): written here or read from a labeled file, `k` per row, chosen
    /// `fixed`, `random` or `similar`. A row never gets itself as an example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<ExamplesSpec>,
}

/// How each row's examples are chosen from the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExampleSelect {
    /// The same `k` examples for every row (drawn once with `seed`): one shared prompt prefix,
    /// which the provider's prompt cache (and the local model) reuse.
    #[default]
    Fixed,
    /// `k` examples drawn per row, reproducibly (from `seed` and the row's id).
    Random,
    /// The `k` examples most similar to the row (BM25 over lower-cased words), the most
    /// similar last, next to the row.
    Similar,
}

/// How `select: similar` measures how alike a row and an example are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExampleSimilarity {
    /// BM25 over lower-cased words: fast at any pool size, with any provider.
    #[default]
    Words,
    /// Cosine similarity of the embedded local model's embeddings (the mean of its hidden
    /// states): finds examples that share meaning but no words. Needs the local model
    /// (`batchlabel model fetch`), with any provider; costs one short model pass per row and
    /// per pool example at compile.
    Embeddings,
}

/// Few-shot examples: give exactly one of `inline` and `file`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExamplesSpec {
    /// Examples written in the spec: each a mapping with `text`, a value for every label
    /// field (e.g. `sentiment: POSITIVE`, `themes: [price]`) and optionally `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<Vec<IndexMap<String, serde_json::Value>>>,
    /// A labeled file, CSV or JSON Lines (by its extension), relative to the spec file. Its
    /// hash is part of the spec fingerprint: a changed pool starts a new run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The file's id column (default `id`, if the file has one): an example with a row's id
    /// is never shown to that row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The file's text column (default `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Label field → the file's column that holds it (default: the column named like the
    /// field). `any_of` values are JSON lists or labels separated by `;` or `|`; raw `schema`
    /// values are JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<IndexMap<String, String>>,
    /// Examples per row, 1 to 32 (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub k: Option<u32>,
    /// How examples are chosen: `fixed` (default), `random` or `similar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<ExampleSelect>,
    /// How `similar` compares texts: `words` (default, BM25) or `embeddings` (the embedded
    /// local model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<ExampleSimilarity>,
    /// Seed of `fixed` and `random` draws (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Show at least one example of each label of the first `one_of` field that the pool has,
    /// when `k` allows (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<bool>,
}

/// The job's plugins.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginsSpec {
    /// A request builder: turns each row (and the messages the templates render) into the
    /// messages that are sent (and, if it says so, other request body fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<PluginUseSpec>,
    /// Validators, run in order after the built-in JSON Schema check of each output; each
    /// may normalize the output or reject it (a rejected output is asked again, with the
    /// plugin's message, up to `batch.max_attempts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validate: Vec<PluginUseSpec>,
}

/// One plugin and its configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginUseSpec {
    /// Path to the plugin's `.wasm` component, relative to the spec file.
    pub uses: String,
    /// The plugin's configuration; `batchlabel check` validates it against the schema the
    /// plugin declares.
    #[serde(default, rename = "with", skip_serializing_if = "Option::is_none")]
    pub with: Option<serde_json::Value>,
}

/// The input rows. Name exactly one source (`csv`, `jsonl`, `parquet`, `sqlite` or
/// `postgres`); paths are relative to the spec file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// A CSV file with a header row (RFC 4180 quoting; fields may span lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// A JSON Lines file: one JSON object per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<String>,
    /// Parquet: a file, a folder of `.parquet` files, or a glob (`data/part-*.parquet`), read
    /// in name order. Only the columns the job uses are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<String>,
    /// An SQLite database file, read (never written) with `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<String>,
    /// The NAME of the environment variable that holds a PostgreSQL connection string
    /// (`postgres://user:password@host:5432/db` or `host=… user=…`), e.g. `DATABASE_URL`;
    /// rows come from `query`, streamed through a cursor. The connection string itself never
    /// belongs in the spec: the spec lives in git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    /// The SQL query that selects the rows of a `sqlite` or `postgres` input; its result
    /// columns are the row's columns (`id`, `text` and `row.*` name them). Add an `ORDER BY`
    /// for a stable order. A run resumes only while the query returns the same rows: a digest
    /// of them is taken while streaming, so a changed table starts a new run (whose unchanged
    /// requests are reused, not paid again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The column (CSV, query) or key (JSONL) holding each row's unique id. Results are keyed
    /// by it.
    pub id: String,
    /// The column holding the text to label. Optional, but when given it is checked to exist
    /// and templates can use it as `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// CSV field delimiter, one ASCII character (default `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
}

/// The prompt: minijinja templates for the system and user messages, inline or from files.
/// Templates see `row` (the row's columns), `text` (the `input.text` column), `id`, `labels`
/// (per field: a list of `{name, description}`) and `job` (name, description). Using an
/// undefined variable is an error, never an empty string.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// The system message template, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The system message template, from a file (relative to the spec file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_file: Option<String>,
    /// The user message template, inline (e.g. `"{{ row.comment_text }}"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user message template, from a file (relative to the spec file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_file: Option<String>,
}

/// One field the model returns. Give exactly one of `one_of`, `any_of` or `schema`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelFieldSpec {
    /// What this field means; shown to the model in the output schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Single-label: the model picks exactly one of these labels. Write a mapping of label to
    /// its definition (recommended: definitions improve accuracy) or a list of labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<LabelSetSpec>,
    /// Multi-label: the model picks any number of these labels (see `min` and `max`). A mapping
    /// of label to definition, or a list of labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_of: Option<LabelSetSpec>,
    /// For `any_of`: the fewest labels the model must pick (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// For `any_of`: the most labels the model may pick (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Escape hatch: a raw JSON Schema for this field. It must stay within OpenAI's strict
    /// structured-output subset (no `allOf`, `not`, `if`, `default`; objects need
    /// `additionalProperties: false` and every property required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

/// A set of labels: a mapping of label name to its definition, or a plain list of names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LabelSetSpec {
    /// Label name → definition shown to the model and to templates.
    Defined(IndexMap<String, String>),
    /// Label names without definitions.
    Names(Vec<String>),
}

/// The provider that serves the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The OpenAI Batch API, or any server speaking its Files + Batches protocol.
    Openai,
    /// Azure OpenAI's Global Batch (or Data Zone Batch) deployments: OpenAI's protocol under
    /// your resource's endpoint. Key from `$AZURE_OPENAI_API_KEY`; see `model.azure`.
    AzureOpenai,
    /// Anthropic's Message Batches API. Key from `$ANTHROPIC_API_KEY`; see `model.anthropic`.
    Anthropic,
    /// Google's Gemini API batch mode. Key from `$GEMINI_API_KEY` (or `$GOOGLE_API_KEY`).
    Gemini,
    /// Mistral's batch API. Key from `$MISTRAL_API_KEY`.
    Mistral,
    /// The embedded local model (llama.cpp, CPU): offline, no key. `name` is
    /// `smollm2-135m-instruct` (fetched by `batchlabel model fetch`) or a path to a `.gguf`
    /// file, relative to the spec.
    Local,
}

/// How an OpenAI-compatible host differs from OpenAI's own batch API (with `provider: openai`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenaiDialect {
    /// OpenAI's own protocol; also Groq (`https://api.groq.com/openai/v1`), vLLM, litellm and
    /// `batchlabel serve`.
    #[default]
    Openai,
    /// Together AI (`https://api.together.xyz/v1`): lines `{custom_id, body}`, uploads with
    /// `purpose=batch-api`, batches without metadata (a lost create is found by its input
    /// file). Chosen by default when `base_url` is on `together.xyz` or `together.ai`.
    Together,
}

impl OpenaiDialect {
    /// The dialect of the host at `url`: `together` on Together AI's hosts, else `openai`.
    pub fn of_url(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        // The authority, then without its user info (which may hold a `:`), then its port.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let host = host.split(':').next().unwrap_or_default();
        let on = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if on("together.xyz") || on("together.ai") {
            Self::Together
        } else {
            Self::Openai
        }
    }
}

/// Azure OpenAI settings (with `provider: azure_openai`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureSpec {
    /// The resource endpoint, e.g. `https://my-resource.openai.azure.com`. Default:
    /// `$AZURE_OPENAI_ENDPOINT`. `model.base_url` (or `--base-url`) overrides both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The batch deployment's name, written as `model` on every request line (Azure requires
    /// the same deployment on every line). Default: `model.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// An `api-version` such as `2025-04-01-preview`, for the dated API
    /// (`/openai/batches?api-version=…`). Default: none, which uses the v1 API (`/openai/v1/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// How Anthropic is asked for structured output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnthropicOutput {
    /// `output_config.format` with the label schema (Claude 4.5 models and later).
    #[default]
    OutputFormat,
    /// A forced tool whose `input_schema` is the label schema (every Claude model with tools).
    Tool,
}

/// Anthropic settings (with `provider: anthropic`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnthropicSpec {
    /// How the labels' schema is asked for: `output_format` (default) or `tool` (for models
    /// without structured outputs).
    #[serde(default)]
    pub structured_output: AnthropicOutput,
}

/// Reasoning effort for reasoning models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEffort {
    /// No reasoning tokens.
    None,
    /// Minimal reasoning.
    Minimal,
    /// Low reasoning effort.
    Low,
    /// Medium reasoning effort.
    Medium,
    /// High reasoning effort.
    High,
}

/// The model, its provider and its sampling parameters.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Who serves the model.
    pub provider: ProviderKind,
    /// The model name as the provider knows it, e.g. `gpt-4o-mini`.
    pub name: String,
    /// Sampling temperature, 0 to 2. Use 0 for labeling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Nucleus sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f64>,
    /// Cap on generated tokens per request, reasoning included. Bounds the output cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_completion_tokens: Option<u32>,
    /// Seed for best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Reasoning effort, for reasoning models only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Extra request-body fields passed through unchanged (e.g. `service_tier`). They may not
    /// override `model`, `messages` or `response_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<IndexMap<String, serde_json::Value>>,
    /// Base URL of the provider's API. `openai`: e.g. `http://127.0.0.1:8089/v1` for
    /// `batchlabel serve` (default `$OPENAI_BASE_URL`, else `https://api.openai.com/v1`);
    /// `azure_openai`: the resource endpoint (overrides `azure.endpoint`); `anthropic`: e.g.
    /// `http://127.0.0.1:8089` (default `$ANTHROPIC_BASE_URL`, else
    /// `https://api.anthropic.com`); `gemini`: default `$GEMINI_BASE_URL`, else
    /// `https://generativelanguage.googleapis.com`; `mistral`: default `$MISTRAL_BASE_URL`,
    /// else `https://api.mistral.ai`. The `--base-url` flag overrides it for one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The OpenAI-compatible host's dialect (only with `provider: openai`). Default: from
    /// `base_url` (`together` on Together AI's hosts), else `openai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<OpenaiDialect>,
    /// Azure OpenAI settings (only with `provider: azure_openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSpec>,
    /// Anthropic settings (only with `provider: anthropic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic: Option<AnthropicSpec>,
}

/// Where results go. Name exactly one sink (`csv`, `jsonl`, `parquet`, `sqlite` or `postgres`), and/or
/// `write_back` into the input's own table; paths are relative to the spec file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Write results to this CSV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// Write results to this JSON Lines file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<String>,
    /// Upsert results into this SQLite database (table `results`, keyed by the row id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<String>,
    /// Write results to this Parquet file: `id`, a column per label field (a string for
    /// `one_of`, a list of strings for `any_of`, JSON text for raw-schema fields), `labels`
    /// (the whole answer, JSON) and typed provenance columns; written atomically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<String>,
    /// Upsert results into a PostgreSQL table (`table`, default `batchlabel_results`, created
    /// when missing: `id text primary key`, a text column per label field, `labels jsonb` and
    /// the provenance columns). The NAME of the environment variable holding the connection
    /// string, e.g. `DATABASE_URL`. Written in one transaction: readers see all of a run's
    /// results or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    /// The PostgreSQL results table (only with `postgres`; default `batchlabel_results`). May
    /// be schema-qualified (`analytics.labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Update the input's own table in place (`sqlite` or `postgres` input): for each labeled
    /// row of this run, only the named columns of the row whose `id_column` equals its id.
    /// Checked before anything is sent: the table and columns must exist with text-compatible
    /// types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_back: Option<WriteBackSpec>,
    /// Where rows that failed go (JSON Lines). Default: next to the results, `*.errors.jsonl`
    /// (for database outputs, `out/<job name>.errors.jsonl` beside the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,
}

/// Labels written back into the user's own table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteBackSpec {
    /// The table to update (schema-qualified if needed, e.g. `public.comments`).
    pub table: String,
    /// Its column holding the row id (default: the input's `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,
    /// Label field → the table's column that receives it (`sentiment: sentiment_label`). A
    /// text column gets a string label as it is and any other value as JSON; a `json` /
    /// `jsonb` column gets JSON.
    pub columns: IndexMap<String, String>,
    /// Provenance → the table's column that receives it (`model: labeled_by`, `labeled_at:
    /// labeled_at`). Names: model, model_snapshot, spec_fingerprint, batch_id, custom_id,
    /// attempt, input_tokens, output_tokens, cost_usd, labeled_at, source, run.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub provenance: IndexMap<String, String>,
}

/// Limits of each batch file and the retry policy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// Most requests per batch file (default: the provider's limit: 50,000 for OpenAI,
    /// 100,000 for Azure OpenAI and Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_requests_per_file: Option<u64>,
    /// Most bytes per batch file (default: the provider's limit: 200 MB for OpenAI and Azure
    /// OpenAI, 256 MB for Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024))]
    pub max_bytes_per_file: Option<u64>,
    /// How many times a row is sent before it is reported as failed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub max_attempts: Option<u32>,
    /// Rows per request (default 1: no packing). Up to this many rows share one request —
    /// one system prompt, one schema — as numbered items, and the model answers, per label,
    /// the numbers of the items it applies to. Each item is validated on its own; an item
    /// that is missing or invalid, and every item of a refused or cut-off pack, is asked again
    /// alone. Cuts the per-request overhead (see `bench/cost.sh`); measure its effect on
    /// accuracy with `pilot --pack N` and `eval --compare`. Needs `one_of` / `any_of` labels
    /// and a system prompt that reads no row data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub pack: Option<u32>,
    /// How a packed request's answer gives `one_of` labels (with `pack` above 1): `lists`
    /// (default) — per label, the numbers of its rows, about two output tokens per row, and a
    /// row the model skips is seen and asked again; `codes` — one character per row, in row
    /// order, about a third of a token per row, but the model must keep the rows' order (an
    /// answer of the wrong length is asked again row by row). `any_of` fields always use
    /// lists. Compare their accuracy with `pilot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_answer: Option<PackAnswer>,
    /// Most input tokens this job keeps queued at the provider at once (default: the
    /// provider's documented queue, see the README). Shards are submitted in waves that stay
    /// under it; a refusal for a full queue lowers it and waits for running batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_enqueued_tokens: Option<u64>,
    /// Delete each shard's uploaded input and result files at the provider once its results
    /// are in the ledger (default true). Set false to keep them (they count against the
    /// provider's file storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_cleanup: Option<bool>,
}

/// How a packed answer gives `one_of` labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackAnswer {
    /// Per label, the numbers of the rows it applies to.
    #[default]
    Lists,
    /// One character per row, in row order.
    Codes,
}

/// Spending limits.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Refuse to submit work whose estimated cost exceeds this many US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_usd: Option<f64>,
}
