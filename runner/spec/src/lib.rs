//! batchlabel-spec: the job spec. It owns the YAML types (with their JSON Schema), loading a
//! spec with positions, diagnostics (all at once, with file:line:col, a caret and a hint), and
//! resolving a spec into a validated [`Job`] with its output schemas and fingerprint.
//!
//! It does not read input rows, render requests or talk to providers: `resolve` is pure
//! apart from reading the spec and the template files it names, and checking that the input
//! file exists.

mod diagnostic;
pub mod examples;
mod files;
mod job;
mod job_spec;
mod label_schema;
mod numbers;
mod raw_schema;
mod resolve;
mod schema_check;
mod strict_subset;
mod templates;
mod wording;
mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Severity, Span, did_you_mean};
pub use job::{
    BatchLimits, Batching, Database, Input, InputFormat, Job, Label, LabelField, LabelKind, Model,
    Output, OutputFormat, PROVENANCE_COLUMNS, PluginUse, Prompt, StructuredOutput, Template,
    WriteBack,
};
pub use job_spec::{
    AnthropicOutput, AnthropicSpec, AzureSpec, BatchSpec, BudgetSpec, ExampleSelect,
    ExampleSimilarity, ExamplesSpec, InputSpec, JobSpec, LabelFieldSpec, LabelSetSpec, ModelSpec,
    OpenaiDialect, OutputSpec, PackAnswer, PluginUseSpec, PluginsSpec, PromptSpec, ProviderKind,
    ReasoningEffort, WriteBackSpec,
};
pub use resolve::{LoadedSpec, diagnostic_at, load, resolve_text};
pub use schema_check::job_spec_schema;
pub use templates::{
    MAX_RENDERED_BYTES, TEMPLATE_FUEL, TEMPLATE_VARIABLES, job_context, labels_context,
    render_bounded, template_environment,
};
