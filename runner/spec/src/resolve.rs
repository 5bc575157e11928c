//! Load a spec file and resolve it into a [`Job`]: parse, check the structure against the
//! schema, then check what the schema cannot say (exactly-one-of choices, files that must
//! exist, templates, label sets, provider limits). Every problem is collected; the caller
//! gets a `Job` only when there is no error. No network, no secrets, no input rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::job::{
    BatchLimits, Input, InputFormat, Job, Label, LabelField, LabelKind, Model, Output,
    OutputFormat, Prompt, Template,
};
use crate::job_spec::{JobSpec, LabelFieldSpec, LabelSetSpec, ModelSpec, PromptSpec, ProviderKind};
use crate::templates::{TemplatePlace, check_template, read_template_file};
use crate::yaml::{SpanIndex, pointer_segment};

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
    let text = match std::fs::read(spec_path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
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
                return Err(diagnostics);
            }
        },
        Err(error) => {
            let mut diagnostics = Diagnostics::new(spec_path, "");
            diagnostics.push(
                Diagnostic::error(
                    "file-not-found",
                    format!("cannot read spec `{}`: {error}", spec_path.display()),
                    Span::point(1, 1),
                )
                .with_help("pass the path of a job spec, e.g. `specs/tweet-sentiment.yaml`"),
            );
            return Err(diagnostics);
        }
    };
    resolve_text(spec_path, &text)
}

/// Resolve spec `text` as if read from `spec_path` (relative paths are taken from its folder).
pub fn resolve_text(spec_path: &Path, text: &str) -> Result<LoadedSpec, Diagnostics> {
    let mut diagnostics = Diagnostics::new(spec_path, text);
    let document = match crate::yaml::parse(text) {
        Ok(document) => document,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Err(diagnostics);
        }
    };
    for diagnostic in crate::schema_check::check(&document.value, &document.spans) {
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
            input
                .as_ref()
                .is_some_and(|input| input.text_column.is_some()),
        );
        let model = self.model(&spec.model);
        let output = self.output(spec);
        let limits = self.limits(spec);
        let output_schema = crate::label_schema::validation_schema(&labels);
        let response_format = crate::label_schema::response_format(&spec.name, &labels);
        if !labels
            .iter()
            .any(|field| matches!(field.kind, LabelKind::Schema { .. }))
        {
            // Built-in fields are small, but 150 intents × long names can still hit limits.
            for violation in
                crate::strict_subset::violations(&response_format["json_schema"]["schema"], "")
            {
                if violation.message.contains("limit") {
                    let span = self.spans.key("/labels");
                    self.error("schema-too-large", violation.message, span, &violation.help);
                }
            }
        }
        let prompt = prompt?;
        let fingerprint = fingerprint(value, &prompt);
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
            budget_usd: spec.budget.as_ref().and_then(|budget| budget.max_usd),
            output_schema,
            response_format,
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

    fn input(&mut self, spec: &JobSpec) -> Option<Input> {
        let input = &spec.input;
        let (key, file, format) = match (&input.csv, &input.jsonl) {
            (Some(csv), None) => {
                let delimiter = match input.delimiter.as_deref() {
                    None => b',',
                    Some(text) if text.len() == 1 && text.is_ascii() => text.as_bytes()[0],
                    Some("\\t") => b'\t',
                    Some(_) => {
                        let span = self.spans.value("/input/delimiter");
                        self.error(
                            "invalid-value",
                            "`input.delimiter` must be one ASCII character".into(),
                            span,
                            "e.g. `delimiter: \";\"` or `delimiter: \"\\t\"`",
                        );
                        b','
                    }
                };
                ("csv", csv, InputFormat::Csv { delimiter })
            }
            (None, Some(jsonl)) => ("jsonl", jsonl, InputFormat::Jsonl),
            (Some(_), Some(_)) => {
                let span = self.spans.key("/input/jsonl");
                self.error(
                    "conflicting-fields",
                    "`input` names both `csv` and `jsonl`".into(),
                    span,
                    "name exactly one input file",
                );
                return None;
            }
            (None, None) => {
                let span = self.spans.key("/input");
                self.error(
                    "missing-field",
                    "`input` names no file".into(),
                    span,
                    "add `csv: path/to/rows.csv` or `jsonl: path/to/rows.jsonl`",
                );
                return None;
            }
        };
        if input.delimiter.is_some() && format == InputFormat::Jsonl {
            let span = self.spans.key("/input/delimiter");
            self.error(
                "conflicting-fields",
                "`input.delimiter` only applies to `csv` input".into(),
                span,
                "remove it",
            );
        }
        let path = self.path(file);
        if path.is_dir() {
            let span = self.spans.value(&format!("/input/{key}"));
            self.error(
                "not-a-file",
                format!("input `{}` is a folder, not a file", path.display()),
                span,
                "name the CSV or JSONL file itself",
            );
            return None;
        }
        if !path.is_file() {
            let span = self.spans.value(&format!("/input/{key}"));
            self.error(
                "file-not-found",
                format!("input file `{}` does not exist", path.display()),
                span,
                "paths are relative to the folder of the spec file",
            );
            return None;
        }
        Some(Input {
            path,
            format,
            id_column: input.id.clone(),
            text_column: input.text.clone(),
        })
    }

    fn template(
        &mut self,
        role: &'static str,
        inline: Option<&String>,
        file: Option<&String>,
    ) -> Option<(Template, String)> {
        match (inline, file) {
            (Some(text), None) => Some((
                Template {
                    role,
                    text: text.clone(),
                    file: None,
                },
                format!("/prompt/{role}"),
            )),
            (None, Some(file)) => {
                let pointer = format!("/prompt/{role}_file");
                let path = self.path(file);
                match read_template_file(&path, self.spans.value(&pointer)) {
                    Ok(text) => {
                        self.extra_sources.push((path.clone(), text.clone()));
                        Some((
                            Template {
                                role,
                                text,
                                file: Some(path),
                            },
                            pointer,
                        ))
                    }
                    Err(diagnostic) => {
                        self.found.push(diagnostic);
                        None
                    }
                }
            }
            (Some(_), Some(_)) => {
                let span = self.spans.key(&format!("/prompt/{role}_file"));
                self.error(
                    "conflicting-fields",
                    format!("`prompt` has both `{role}` and `{role}_file`"),
                    span,
                    "keep one of them",
                );
                None
            }
            (None, None) => None,
        }
    }

    fn prompt(
        &mut self,
        prompt: &PromptSpec,
        fields: &[LabelField],
        has_text_column: bool,
    ) -> Option<Prompt> {
        let system = self.template(
            "system",
            prompt.system.as_ref(),
            prompt.system_file.as_ref(),
        );
        let user = self.template("user", prompt.user.as_ref(), prompt.user_file.as_ref());
        if user.is_none() && prompt.user.is_none() && prompt.user_file.is_none() {
            let span = self.spans.key("/prompt");
            self.error(
                "missing-field",
                "`prompt` has no user message".into(),
                span,
                "add `user: \"{{ row.text }}\"` (inline) or `user_file: prompts/user.j2`",
            );
        }
        let mut row_columns = Vec::new();
        for (template, pointer) in system.iter().chain(user.iter()) {
            let place = TemplatePlace {
                spec_text: self.text,
                spans: self.spans,
                pointer: pointer.clone(),
            };
            row_columns.extend(check_template(
                template,
                &place,
                fields,
                has_text_column,
                &mut self.found,
            ));
        }
        row_columns.sort();
        row_columns.dedup();
        Some(Prompt {
            system: system.map(|(template, _)| template),
            user: user?.0,
            row_columns,
        })
    }

    fn labels(&mut self, spec: &JobSpec) -> Vec<LabelField> {
        let mut fields = Vec::new();
        for (name, field) in &spec.labels {
            let pointer = format!("/labels/{}", pointer_segment(name));
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
                && name
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_');
            if !valid_name {
                let span = self.spans.key(&pointer);
                self.error(
                    "invalid-name",
                    format!("label field name `{name}` is not a valid identifier"),
                    span,
                    "use letters, digits and `_`, not starting with a digit, e.g. `sentiment`",
                );
            }
            if let Some(kind) = self.label_kind(field, &pointer) {
                fields.push(LabelField {
                    name: name.clone(),
                    description: field.description.clone(),
                    kind,
                });
            }
        }
        fields
    }

    fn label_kind(&mut self, field: &LabelFieldSpec, pointer: &str) -> Option<LabelKind> {
        let given: Vec<&str> = [
            ("one_of", field.one_of.is_some()),
            ("any_of", field.any_of.is_some()),
            ("schema", field.schema.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        if given.len() != 1 {
            let (span, message) = if given.is_empty() {
                (
                    self.spans.key(pointer),
                    format!(
                        "label field `{}` says neither `one_of`, `any_of` nor `schema`",
                        pointer.rsplit('/').next().unwrap_or_default()
                    ),
                )
            } else {
                (
                    self.spans.key(&format!("{pointer}/{}", given[1])),
                    format!("label field has both `{}` and `{}`", given[0], given[1]),
                )
            };
            self.error(
                "label-kind",
                message,
                span,
                "give exactly one of `one_of` (single label), `any_of` (multi-label) or `schema`",
            );
            return None;
        }
        if field.one_of.is_some() || field.schema.is_some() {
            for bound in ["min", "max"] {
                let bound_pointer = format!("{pointer}/{bound}");
                if self.spans.contains(&bound_pointer) {
                    let span = self.spans.key(&bound_pointer);
                    self.error(
                        "conflicting-fields",
                        format!("`{bound}` only applies to `any_of` fields"),
                        span,
                        "remove it, or make the field `any_of`",
                    );
                }
            }
        }
        if let Some(set) = &field.one_of {
            let labels = self.label_set(set, &format!("{pointer}/one_of"))?;
            if labels.len() < 2 {
                let span = self.spans.key(&format!("{pointer}/one_of"));
                self.error(
                    "too-few-labels",
                    "a `one_of` field needs at least two labels".into(),
                    span,
                    "add the alternatives, e.g. `NEUTRAL`",
                );
            }
            return Some(LabelKind::OneOf { labels });
        }
        if let Some(set) = &field.any_of {
            let labels = self.label_set(set, &format!("{pointer}/any_of"))?;
            let count = labels.len() as u32;
            if let Some(max) = field.max
                && (max == 0 || max > count)
            {
                let span = self.spans.value(&format!("{pointer}/max"));
                self.error(
                    "invalid-value",
                    format!("`max` is {max}, but the field has {count} labels"),
                    span,
                    "use a value from 1 to the number of labels",
                );
            }
            if let Some(min) = field.min
                && (min > count || field.max.is_some_and(|max| min > max))
            {
                let span = self.spans.value(&format!("{pointer}/min"));
                self.error(
                    "invalid-value",
                    format!("`min` is {min}, above `max` or the number of labels"),
                    span,
                    "`min` must not exceed `max`",
                );
            }
            return Some(LabelKind::AnyOf {
                labels,
                min: field.min,
                max: field.max,
            });
        }
        let schema = field.schema.clone()?;
        let base = format!("{pointer}/schema");
        for violation in crate::strict_subset::violations(&schema, &base) {
            let span = if violation.at_key {
                self.spans.key(&violation.pointer)
            } else {
                self.spans.value(&violation.pointer)
            };
            self.error(
                "schema-not-strict",
                violation.message,
                span,
                &violation.help,
            );
        }
        Some(LabelKind::Schema { schema })
    }

    fn label_set(&mut self, set: &LabelSetSpec, pointer: &str) -> Option<Vec<Label>> {
        let labels: Vec<Label> = match set {
            LabelSetSpec::Defined(map) => map
                .iter()
                .map(|(name, description)| Label {
                    name: name.clone(),
                    description: description.trim().to_string(),
                })
                .collect(),
            LabelSetSpec::Names(names) => names
                .iter()
                .map(|name| Label {
                    name: name.clone(),
                    description: String::new(),
                })
                .collect(),
        };
        let mut ok = true;
        for (index, label) in labels.iter().enumerate() {
            let label_pointer = match set {
                LabelSetSpec::Defined(_) => format!("{pointer}/{}", pointer_segment(&label.name)),
                LabelSetSpec::Names(_) => format!("{pointer}/{index}"),
            };
            if label.name.trim().is_empty() || label.name.trim() != label.name {
                let span = self.spans.key(&label_pointer);
                self.error(
                    "invalid-label",
                    format!("label `{}` is empty or has surrounding spaces", label.name),
                    span,
                    "labels are matched exactly; write them without leading or trailing spaces",
                );
                ok = false;
            }
            if let Some(first) = labels[..index]
                .iter()
                .position(|other| other.name.eq_ignore_ascii_case(&label.name))
            {
                let span = self.spans.key(&label_pointer);
                let message = format!("label `{}` repeats `{}`", label.name, labels[first].name);
                self.error(
                    "duplicate-label",
                    message,
                    span,
                    "labels must differ (case-insensitively, so outputs can be normalized)",
                );
                ok = false;
            }
        }
        if labels.is_empty() {
            let span = self.spans.value(pointer);
            self.error(
                "too-few-labels",
                "the label set is empty".into(),
                span,
                "list the labels the model may choose",
            );
            ok = false;
        }
        ok.then_some(labels)
    }

    fn model(&mut self, spec: &ModelSpec) -> Option<Model> {
        let mut parameters = serde_json::Map::new();
        if let Some(temperature) = spec.temperature {
            parameters.insert("temperature".into(), temperature.into());
        }
        if let Some(top_p) = spec.top_p {
            parameters.insert("top_p".into(), top_p.into());
        }
        if let Some(max) = spec.max_completion_tokens {
            parameters.insert("max_completion_tokens".into(), max.into());
        }
        if let Some(seed) = spec.seed {
            parameters.insert("seed".into(), seed.into());
        }
        if let Some(effort) = spec.reasoning_effort {
            parameters.insert(
                "reasoning_effort".into(),
                serde_json::to_value(effort).unwrap_or_default(),
            );
        }
        let mut ok = true;
        for (key, value) in spec.extra_body.iter().flatten() {
            const RESERVED: &[&str] = &["model", "messages", "response_format", "stream", "n"];
            if RESERVED.contains(&key.as_str()) || parameters.contains_key(key) {
                let span = self
                    .spans
                    .key(&format!("/model/extra_body/{}", pointer_segment(key)));
                self.error("reserved-field", format!("`extra_body.{key}` would override a field batchlabel sets"), span, "set it through the spec instead (e.g. `model.name`, `model.temperature`), or remove it");
                ok = false;
            }
            parameters.insert(key.clone(), value.clone());
        }
        if spec.name.trim().is_empty() {
            let span = self.spans.value("/model/name");
            self.error(
                "invalid-value",
                "`model.name` is empty".into(),
                span,
                "e.g. `gpt-4o-mini`",
            );
            ok = false;
        }
        ok.then(|| Model {
            provider: spec.provider,
            name: spec.name.clone(),
            parameters,
            max_completion_tokens: spec.max_completion_tokens,
        })
    }

    fn output(&mut self, spec: &JobSpec) -> Result<Option<Output>, ()> {
        let Some(output) = &spec.output else {
            return Ok(None);
        };
        let given: Vec<(&str, &String, OutputFormat)> = [
            ("csv", &output.csv, OutputFormat::Csv),
            ("jsonl", &output.jsonl, OutputFormat::Jsonl),
            ("sqlite", &output.sqlite, OutputFormat::Sqlite),
        ]
        .into_iter()
        .filter_map(|(key, path, format)| path.as_ref().map(|path| (key, path, format)))
        .collect();
        match given.as_slice() {
            [(_, path, format)] => {
                let path = self.path(path);
                let errors_path = output.errors.as_ref().map_or_else(
                    || path.with_extension("errors.jsonl"),
                    |errors| self.path(errors),
                );
                Ok(Some(Output {
                    path,
                    format: *format,
                    errors_path,
                }))
            }
            [] => {
                let span = self.spans.key("/output");
                self.error(
                    "missing-field",
                    "`output` names no sink".into(),
                    span,
                    "add `csv: out/results.csv`, `jsonl: …` or `sqlite: …`",
                );
                Err(())
            }
            [_, (second, _, _), ..] => {
                let span = self.spans.key(&format!("/output/{second}"));
                self.error(
                    "conflicting-fields",
                    "`output` names more than one sink".into(),
                    span,
                    "name exactly one of `csv`, `jsonl`, `sqlite`",
                );
                Err(())
            }
        }
    }

    fn limits(&mut self, spec: &JobSpec) -> Option<BatchLimits> {
        let provider = spec.model.provider;
        let mut limits = provider.limits();
        let Some(batch) = &spec.batch else {
            return Some(limits);
        };
        let requests = self.within_provider_limit(
            provider,
            "max_requests_per_file",
            "requests",
            batch.max_requests_per_file,
            limits.max_requests_per_file,
        );
        let bytes = self.within_provider_limit(
            provider,
            "max_bytes_per_file",
            "bytes",
            batch.max_bytes_per_file,
            limits.max_bytes_per_file,
        );
        let ok = requests.is_some() && bytes.is_some();
        limits.max_requests_per_file = requests.unwrap_or(limits.max_requests_per_file);
        limits.max_bytes_per_file = bytes.unwrap_or(limits.max_bytes_per_file);
        if let Some(attempts) = batch.max_attempts {
            limits.max_attempts = attempts;
        }
        ok.then_some(limits)
    }

    /// `wanted` (from `batch.<key>`), or the provider's `limit` when unset; `None` (with a
    /// diagnostic) when it exceeds what the provider accepts.
    fn within_provider_limit(
        &mut self,
        provider: ProviderKind,
        key: &str,
        unit: &str,
        wanted: Option<u64>,
        limit: u64,
    ) -> Option<u64> {
        let Some(wanted) = wanted else {
            return Some(limit);
        };
        if wanted <= limit {
            return Some(wanted);
        }
        let span = self.spans.value(&format!("/batch/{key}"));
        let message = format!(
            "`{}` accepts at most {limit} {unit} per file, not {wanted}",
            provider.as_str()
        );
        self.error(
            "over-provider-limit",
            message,
            span,
            "lower it, or remove it to use the provider's limit",
        );
        None
    }
}

/// sha256 over the spec (as JSON, key order kept) and the template texts it loads.
fn fingerprint(value: &serde_json::Value, prompt: &Prompt) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"batchlabel-spec-v1\n");
    hasher.update(value.to_string().as_bytes());
    for template in prompt.system.iter().chain(std::iter::once(&prompt.user)) {
        hasher.update(b"\n--template--\n");
        hasher.update(template.text.as_bytes());
    }
    hasher
        .finalize()
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
    let text = std::fs::read_to_string(spec_path).unwrap_or_default();
    let span = crate::yaml::parse(&text)
        .map_or(Span::point(1, 1), |document| document.spans.value(pointer));
    let mut diagnostics = Diagnostics::new(spec_path, &text);
    let mut diagnostic = Diagnostic::error(code, message, span);
    diagnostic.help = help;
    diagnostics.push(diagnostic);
    diagnostics
}
