//! Load a spec file and resolve it into a [`Job`]: parse, check the structure against the
//! schema, then check what the schema cannot say (exactly-one-of choices, files that must
//! exist, templates, label sets, provider limits). Every problem is collected; the caller
//! gets a `Job` only when there is no error. No network, no secrets, no input rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::job::{Job, LabelField, LabelKind, Prompt};
use crate::job_spec::{JobSpec, PromptSpec};
use crate::yaml::SpanIndex;

mod examples;
mod io;
mod labels;
mod packing;
mod provider;
mod sections;
mod write_back;

/// A resolved job plus the warnings found on the way.
#[derive(Debug)]
pub struct LoadedSpec {
    /// The job.
    pub job: Job,
    /// Warnings only (errors prevent a `LoadedSpec`).
    pub diagnostics: Diagnostics,
}

/// Read, check and resolve the spec at `spec_path`. On any error, every diagnostic found.
pub fn load(spec_path: &Path) -> Result<LoadedSpec, Diagnostics> {
    let bytes = match crate::files::read_limited(spec_path, crate::files::MAX_SPEC_BYTES) {
        Ok(bytes) => bytes,
        Err(error) => {
            let mut diagnostics = Diagnostics::new(spec_path, "");
            diagnostics.push(
                Diagnostic::error(
                    error.code(),
                    error.describe("spec", spec_path),
                    Span::point(1, 1),
                )
                .with_help("pass the path of a job spec, e.g. `specs/tweet-sentiment.yaml`"),
            );
            return Err(diagnostics);
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => resolve_text(spec_path, &text),
        Err(error) => {
            let mut diagnostics = Diagnostics::new(spec_path, "");
            diagnostics.push(Diagnostic::error(
                "invalid-utf8",
                format!(
                    "the spec is not valid UTF-8 (byte {})",
                    error.utf8_error().valid_up_to()
                ),
                Span::point(1, 1),
            ));
            Err(diagnostics)
        }
    }
}

/// Resolve spec `text` as if read from `spec_path` (relative paths are taken from its folder).
pub fn resolve_text(spec_path: &Path, text: &str) -> Result<LoadedSpec, Diagnostics> {
    let text = crate::files::without_bom(text);
    let mut diagnostics = Diagnostics::new(spec_path, text);
    let document = match crate::yaml::parse(text) {
        Ok(document) => document,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Err(diagnostics);
        }
    };
    for diagnostic in crate::schema_check::check(&document) {
        diagnostics.push(diagnostic);
    }
    let base_dir = spec_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if diagnostics.has_errors() {
        // Structure is broken somewhere; still check the templates when their section is
        // sound, so a typo in a key and a typo in a template show up in the same run.
        for diagnostic in template_checks_only(text, &document, &base_dir, &mut diagnostics) {
            diagnostics.push(diagnostic);
        }
        return Err(diagnostics);
    }
    let spec: JobSpec = match serde_json::from_value(document.value.clone()) {
        Ok(spec) => spec,
        Err(error) => {
            diagnostics.push(Diagnostic::error(
                "invalid-spec",
                error.to_string(),
                Span::point(1, 1),
            ));
            return Err(diagnostics);
        }
    };
    let mut resolver = Resolver {
        text,
        spans: &document.spans,
        base_dir: &base_dir,
        found: Vec::new(),
        extra_sources: Vec::new(),
    };
    let job = resolver.job(spec_path, &spec, &document.value);
    for (path, source) in &resolver.extra_sources {
        diagnostics.add_source(path, source);
    }
    for diagnostic in resolver.found {
        diagnostics.push(diagnostic);
    }
    match job {
        Some(job) if !diagnostics.has_errors() => Ok(LoadedSpec { job, diagnostics }),
        _ => Err(diagnostics),
    }
}

fn template_checks_only(
    text: &str,
    document: &crate::yaml::YamlDocument,
    base_dir: &Path,
    diagnostics: &mut Diagnostics,
) -> Vec<Diagnostic> {
    let Ok(prompt) = serde_json::from_value::<PromptSpec>(document.value["prompt"].clone()) else {
        return Vec::new();
    };
    let fields: Vec<LabelField> = document.value["labels"]
        .as_object()
        .map(|labels| {
            labels
                .keys()
                .map(|name| LabelField {
                    name: name.clone(),
                    description: None,
                    kind: LabelKind::OneOf { labels: Vec::new() },
                })
                .collect()
        })
        .unwrap_or_default();
    let has_text_column = document.value["input"]["text"].is_string();
    let mut resolver = Resolver {
        text,
        spans: &document.spans,
        base_dir,
        found: Vec::new(),
        extra_sources: Vec::new(),
    };
    resolver.prompt(&prompt, &fields, has_text_column);
    for (path, source) in &resolver.extra_sources {
        diagnostics.add_source(path, source);
    }
    resolver.found
}

struct Resolver<'a> {
    text: &'a str,
    spans: &'a SpanIndex,
    base_dir: &'a Path,
    found: Vec<Diagnostic>,
    extra_sources: Vec<(PathBuf, String)>,
}

impl Resolver<'_> {
    fn error(&mut self, code: &'static str, message: String, span: Span, help: &str) {
        let mut diagnostic = Diagnostic::error(code, message, span);
        if !help.is_empty() {
            diagnostic = diagnostic.with_help(help);
        }
        self.found.push(diagnostic);
    }

    fn job(&mut self, spec_path: &Path, spec: &JobSpec, value: &serde_json::Value) -> Option<Job> {
        let input = self.input(spec);
        let labels = self.labels(spec);
        let prompt = self.prompt(
            &spec.prompt,
            &labels,
            // From the spec, so an input that failed to resolve adds no false problem here.
            spec.input.text.is_some(),
        );
        let model = self.model(&spec.model);
        let output = self.output(spec, input.as_ref());
        let limits = self.limits(spec);
        let pack = self.pack(spec, &labels, prompt.as_ref());
        let output_schema = crate::label_schema::validation_schema(&labels);
        let structured_output = crate::label_schema::structured_output(&spec.name, &labels);
        if !labels
            .iter()
            .any(|field| matches!(field.kind, LabelKind::Schema { .. }))
        {
            // Built-in fields are small, but 150 intents × long names can still hit limits.
            for violation in crate::strict_subset::violations(&structured_output.schema, "") {
                if violation.message.contains("limit") {
                    let span = self.spans.key("/labels");
                    self.error("schema-too-large", violation.message, span, &violation.help);
                }
            }
        }
        let (request_plugin, validator_plugins) = self.plugins(spec);
        let examples = self.examples(spec, &labels, input.as_ref());
        let prompt = prompt?;
        let mut fingerprint = fingerprint(value, &prompt);
        if let Some((_, Some(pool_digest))) = &examples {
            // A changed pool changes the examples shown: a new run.
            let mut hasher = Sha256::new();
            hasher.update(fingerprint.as_bytes());
            hasher.update(b"\n--examples--\n");
            hasher.update(pool_digest.as_bytes());
            fingerprint = hex(&hasher.finalize());
        }
        if request_plugin.is_some() || !validator_plugins.is_empty() {
            // The plugins' bytes decide the requests and outputs as much as the spec does.
            let mut hasher = Sha256::new();
            hasher.update(fingerprint.as_bytes());
            for plugin in request_plugin.iter().chain(&validator_plugins) {
                hasher.update(b"\n--plugin--\n");
                hasher.update(plugin.pointer.as_bytes());
                hasher.update(plugin.sha256.as_bytes());
            }
            fingerprint = hex(&hasher.finalize());
        }
        Some(Job {
            name: spec.name.clone(),
            description: spec.description.clone(),
            spec_path: spec_path.to_path_buf(),
            input: input?,
            prompt,
            labels,
            model: model?,
            output: output.ok()?,
            limits: limits?,
            batching: crate::job::Batching {
                pack: pack?,
                pack_answer: spec
                    .batch
                    .as_ref()
                    .and_then(|batch| batch.pack_answer)
                    .unwrap_or_default(),
                max_enqueued_tokens: spec
                    .batch
                    .as_ref()
                    .and_then(|batch| batch.max_enqueued_tokens),
                remote_cleanup: spec
                    .batch
                    .as_ref()
                    .and_then(|batch| batch.remote_cleanup)
                    .unwrap_or(true),
            },
            budget_usd: spec.budget.as_ref().and_then(|budget| budget.max_usd),
            request_plugin,
            validator_plugins,
            output_schema,
            structured_output,
            examples: match examples {
                Some((examples, _)) => Some(examples?),
                None => None,
            },
            fingerprint,
        })
    }

    fn path(&self, relative: &str) -> PathBuf {
        let path = Path::new(relative);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// sha256 over the spec (as JSON, key order kept) and the template texts it loads. The
/// budget, the queue cap and remote cleanup are left out: they limit spending, pace or
/// housekeeping, they do not change a result, so changing them resumes the same run.
fn fingerprint(value: &serde_json::Value, prompt: &Prompt) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"batchlabel-spec-v1\n");
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("budget");
        if let Some(batch) = object
            .get_mut("batch")
            .and_then(|batch| batch.as_object_mut())
        {
            batch.remove("max_enqueued_tokens");
            batch.remove("remote_cleanup");
            if batch.is_empty() {
                object.remove("batch");
            }
        }
    }
    hasher.update(value.to_string().as_bytes());
    for template in prompt.system.iter().chain(std::iter::once(&prompt.user)) {
        hasher.update(b"\n--template--\n");
        hasher.update(template.text.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// A diagnostic at the spot `pointer` names in the spec at `spec_path`, for problems found
/// after resolving (e.g. an input column that does not exist). Falls back to line 1.
pub fn diagnostic_at(
    spec_path: &Path,
    pointer: &str,
    code: &'static str,
    message: String,
    help: Vec<String>,
) -> Diagnostics {
    let text = crate::files::read_limited(spec_path, crate::files::MAX_SPEC_BYTES)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    let text = crate::files::without_bom(&text);
    let span = crate::yaml::parse(text)
        .map_or(Span::point(1, 1), |document| document.spans.value(pointer));
    let mut diagnostics = Diagnostics::new(spec_path, text);
    let mut diagnostic = Diagnostic::error(code, message, span);
    diagnostic.help = help;
    diagnostics.push(diagnostic);
    diagnostics
}

#[cfg(test)]
mod tests;
