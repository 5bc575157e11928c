//! Row → one JSONL request line. The parts of the body that do not depend on the row (model,
//! parameters, the strict `response_format`, a system prompt that reads no row data) are
//! serialized once; per row only the message texts are rendered and JSON-escaped.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use batchlabel_source::{ColumnKey, Columns, Row};
use batchlabel_spec::{Job, Template, job_context, labels_context, template_environment};
use minijinja::{Environment, Value};

use batchlabel_providers::{RequestEncoder, RequestShape};

use crate::custom_id::{CustomIdKind, CustomIds};
use crate::render_context::{RenderContext, RowObject};
use crate::tokens::TokenCounter;

/// One rendered request line, written into a caller's buffer (so a chunk of rows shares
/// one allocation). Ranges index that buffer.
#[derive(Debug, Clone)]
pub struct RenderedRequest {
    /// The row's 1-based line in the input.
    pub line: u64,
    /// The whole JSONL line, newline included.
    pub jsonl: Range<usize>,
    /// The custom_id inside the line.
    pub custom_id: Range<usize>,
    /// The request body inside the line.
    pub body: Range<usize>,
    /// How the custom_id was made.
    pub custom_id_kind: CustomIdKind,
    /// Hash of the body's varying part (the messages): within one job, equal hashes mean
    /// equal bodies, which are sent as one request.
    pub body_hash: u128,
    /// Hash of the row id, for the uniqueness check.
    pub id_hash: u128,
    /// Prompt tokens, when counting.
    pub input_tokens: u64,
}

/// Why a line could not be written.
enum LineError {
    /// A template failed (the compile reports it with the row's line).
    Template(String),
    /// The request plugin failed on this row (the row alone fails).
    Plugin(crate::PluginFailure),
}

/// A row that could not become a request.
#[derive(Debug)]
pub struct RenderFailure {
    /// The row's 1-based line.
    pub line: u64,
    /// The row id.
    pub row_id: String,
    /// What went wrong, with a hint.
    pub message: String,
    /// Set when the request plugin failed on this row: the row fails alone (a template
    /// error fails the compile instead).
    pub plugin: Option<crate::PluginFailure>,
}

enum Part {
    /// Rendered once: the finished message object, JSON, with trailing comma.
    Static(Vec<u8>),
    /// `{{ row.x }}` / `{{ text }}`: the column's text, no template engine needed (with the
    /// column looked up once, not per row).
    Column(ColumnKey),
    /// A real template, by name in the environment.
    Template(&'static str),
}

impl RenderFailure {
    /// The failure as a row problem of the input at `path`.
    pub fn into_problem(self, path: &std::path::Path) -> crate::RowProblem {
        crate::RowProblem {
            path: path.to_path_buf(),
            line: self.line,
            row_id: Some(self.row_id),
            message: self.message,
        }
    }
}

/// Renders rows of one job into request lines.
pub struct RequestRenderer {
    environment: Environment<'static>,
    system: Option<Part>,
    user: Part,
    /// The provider's line format, prepared for this job.
    encoder: Box<dyn RequestEncoder>,
    custom_ids: CustomIds,
    columns: Arc<Columns>,
    text_column: Option<Arc<str>>,
    labels: Value,
    job: Value,
    tokens: Option<TokenCounter>,
    static_system_tokens: u64,
    needs_context: bool,
    hook: Option<Arc<dyn crate::RequestHook>>,
    /// The system message's text when it is the same for every row (a plugin gets it).
    static_system_text: Option<String>,
    /// Few-shot examples, written as turns before the row's.
    examples: Option<Arc<crate::examples::ExampleSet>>,
}

impl RequestRenderer {
    /// A renderer for `job` over an input with `columns`; `count_tokens` for estimates. Lines
    /// are written in the format of the job's provider.
    pub fn new(job: &Job, columns: Arc<Columns>, count_tokens: bool) -> Result<Self, String> {
        let encoder = batchlabel_providers::codec_for(job).encoder(&RequestShape::of(job))?;
        let mut environment = template_environment();
        let labels = labels_context(&job.labels);
        let job_value = job_context(job);
        let text_column: Option<Arc<str>> = job.input.text_column.as_deref().map(Arc::from);
        let tokens = count_tokens.then(|| TokenCounter::for_model(&job.model.name));
        let mut static_system_tokens = 0;
        let mut static_system_text = None;
        let system = match &job.prompt.system {
            None => None,
            Some(template) => {
                environment
                    .add_template_owned("system", template.text.clone())
                    .map_err(|error| format!("`system` template: {error}"))?;
                let compiled = environment
                    .get_template("system")
                    .map_err(|error| error.to_string())?;
                let reads_row = compiled
                    .undeclared_variables(false)
                    .iter()
                    .any(|name| matches!(name.as_str(), "row" | "text" | "id"));
                if reads_row {
                    Some(Part::Template("system"))
                } else {
                    let context =
                        minijinja::context! { labels => labels.clone(), job => job_value.clone() };
                    let text = batchlabel_spec::render_bounded(&compiled, context)
                        .map_err(|error| format!("`system` template: {error}"))?;
                    if let Some(counter) = &tokens {
                        static_system_tokens = counter.message(&text);
                    }
                    let message = encoder.system_prefix(&text);
                    static_system_text = Some(text);
                    Some(Part::Static(message))
                }
            }
        };
        // Always compiled: the column shortcut falls back to it for values that are not text.
        environment
            .add_template_owned("user", job.prompt.user.text.clone())
            .map_err(|error| format!("`user` template: {error}"))?;
        let user = match column_shortcut(&job.prompt.user, text_column.as_deref()) {
            Some(column) => Part::Column(columns.key(column)),
            None => Part::Template("user"),
        };
        let examples = if job.examples.is_some() {
            let pool = crate::examples::pool_of(job).map_err(|error| error.to_string())?;
            let user_is_column = matches!(user, Part::Column(_));
            let users = pool
                .iter()
                .map(|example| {
                    crate::examples::user_turn(
                        &environment,
                        user_is_column,
                        job,
                        &labels,
                        &job_value,
                        example,
                    )
                })
                .collect::<Result<Vec<_>, String>>()?;
            crate::examples::ExampleSet::new(job, &pool, users, |text| {
                tokens.as_ref().map_or(0, |counter| counter.message(text))
            })?
        } else {
            None
        };
        Ok(Self {
            environment,
            encoder,
            custom_ids: CustomIds::for_job(job),
            columns,
            text_column,
            labels,
            job: job_value,
            needs_context: matches!(system, Some(Part::Template(_)))
                || matches!(user, Part::Template(_)),
            system,
            user,
            tokens,
            static_system_tokens,
            hook: None,
            static_system_text,
            examples,
        })
    }

    /// Pass every rendered request through a request-builder plugin.
    #[must_use]
    pub fn with_hook(mut self, hook: Option<Arc<dyn crate::RequestHook>>) -> Self {
        self.hook = hook;
        self
    }

    /// Render one row, appending its line to `out`; on failure `out` is left as it was.
    pub fn render_into(
        &self,
        row: Row,
        out: &mut Vec<u8>,
    ) -> Result<RenderedRequest, RenderFailure> {
        let start = out.len();
        let line = row.line;
        let id_hash = xxhash_rust::xxh3::xxh3_128(row.id.as_bytes());
        // Templates need the row as a shared object; a plain column copy does not.
        let (context, plain_row) = if self.needs_context {
            (Some(self.context(row)), None)
        } else {
            (None, Some(row))
        };
        let row = match (&context, &plain_row) {
            (Some(context), _) => &context.row.row,
            (None, Some(row)) => row,
            (None, None) => unreachable!("one of the two is always set"),
        };
        let written = self.write_line(row, context.as_ref(), out);
        match written {
            Ok((custom_id, custom_id_kind, body, messages, input_tokens)) => {
                let body_hash = xxhash_rust::xxh3::xxh3_128(&out[messages]);
                Ok(RenderedRequest {
                    line,
                    jsonl: start..out.len(),
                    custom_id,
                    body,
                    custom_id_kind,
                    body_hash,
                    id_hash,
                    input_tokens,
                })
            }
            Err(LineError::Template(message)) => {
                out.truncate(start);
                Err(RenderFailure {
                    line,
                    row_id: row.id.clone(),
                    message,
                    plugin: None,
                })
            }
            Err(LineError::Plugin(failure)) => {
                out.truncate(start);
                Err(RenderFailure {
                    line,
                    row_id: row.id.clone(),
                    message: failure.message.clone(),
                    plugin: Some(failure),
                })
            }
        }
    }

    /// What templates see for `row`.
    fn context(&self, row: Row) -> Arc<RenderContext> {
        Arc::new(RenderContext {
            row: Arc::new(RowObject {
                row,
                columns: self.columns.clone(),
            }),
            text_column: self.text_column.clone(),
            labels: self.labels.clone(),
            job: self.job.clone(),
        })
    }

    /// Render one row into a line of its own (for `check` and tests).
    pub fn render(&self, row: Row) -> Result<Vec<u8>, RenderFailure> {
        let mut out = Vec::new();
        self.render_into(row, &mut out)?;
        Ok(out)
    }

    #[expect(
        clippy::type_complexity,
        reason = "private helper returning the ranges it wrote"
    )]
    fn write_line(
        &self,
        row: &Row,
        context: Option<&Arc<RenderContext>>,
        out: &mut Vec<u8>,
    ) -> Result<(Range<usize>, CustomIdKind, Range<usize>, Range<usize>, u64), LineError> {
        let encoder = self.encoder.as_ref();
        out.extend_from_slice(encoder.line_start());
        let custom_id_start = out.len();
        let custom_id_kind = self.custom_ids.write(&row.id, out);
        let custom_id = custom_id_start..out.len();
        out.extend_from_slice(encoder.after_custom_id());
        let body_start = out.len();
        out.extend_from_slice(encoder.body_head());
        let messages_start = out.len();
        let mut input_tokens = 0;
        let mut body_fields = String::new();
        if let Some(hook) = &self.hook {
            let system = match &self.system {
                None => None,
                Some(Part::Static(_)) => self.static_system_text.clone(),
                Some(part) => Some(
                    self.text_of(part, row, context)
                        .map_err(LineError::Template)?
                        .into_owned(),
                ),
            };
            let user = self
                .text_of(&self.user, row, context)
                .map_err(LineError::Template)?
                .into_owned();
            let mut messages = Vec::with_capacity(2);
            if let Some(system) = system {
                messages.push(("system".to_string(), system));
            }
            if let Some(examples) = &self.examples {
                for shot in examples.pick(&row.id, &user).map_err(LineError::Template)? {
                    messages.push(("user".to_string(), shot.user.clone()));
                    messages.push(("assistant".to_string(), shot.answer.clone()));
                }
            }
            messages.push(("user".to_string(), user));
            let built = crate::request_hook::call(
                hook.as_ref(),
                row,
                &self.columns,
                self.text_column.as_deref(),
                messages,
            )
            .map_err(LineError::Plugin)?;
            input_tokens += self.write_built_messages(&built.messages, out);
            body_fields = built.body_fields;
        } else {
            match &self.system {
                None => out.extend_from_slice(encoder.no_system_prefix()),
                Some(Part::Static(prefix)) => {
                    out.extend_from_slice(prefix);
                    input_tokens += self.static_system_tokens;
                }
                Some(part) => {
                    let text = self
                        .text_of(part, row, context)
                        .map_err(LineError::Template)?;
                    input_tokens += self.count_message(&text);
                    out.extend(encoder.system_prefix(&text));
                }
            }
            let user = self
                .text_of(&self.user, row, context)
                .map_err(LineError::Template)?;
            if let Some(examples) = &self.examples {
                for shot in examples.pick(&row.id, &user).map_err(LineError::Template)? {
                    encoder.write_message(out, "user", &shot.user);
                    out.extend_from_slice(encoder.message_separator());
                    encoder.write_message(out, "assistant", &shot.answer);
                    out.extend_from_slice(encoder.message_separator());
                    input_tokens += shot.tokens;
                }
            }
            input_tokens += self.count_message(&user);
            encoder.write_message(out, "user", &user);
        }
        // Only the messages vary between rows of one job: hashing them decides body equality.
        let mut messages = messages_start..out.len();
        out.extend_from_slice(encoder.body_tail());
        let mut body = body_start..out.len();
        if !body_fields.is_empty() {
            // A plugin set other body fields: merge them, and hash the whole body.
            let merged = crate::request_hook::merge_body_fields(&out[body.clone()], &body_fields)
                .map_err(LineError::Plugin)?;
            out.truncate(body_start);
            out.extend_from_slice(&merged);
            body = body_start..out.len();
            messages = body.clone();
        }
        out.extend_from_slice(encoder.line_end());
        if self.tokens.is_some() {
            input_tokens += crate::tokens::REPLY_PRIMING;
        }
        Ok((custom_id, custom_id_kind, body, messages, input_tokens))
    }

    /// The messages a request plugin built: a leading system message goes where the
    /// provider puts system prompts (its bytes reused when it is the shared one). Returns
    /// the tokens counted.
    fn write_built_messages(&self, messages: &[(String, String)], out: &mut Vec<u8>) -> u64 {
        let encoder = self.encoder.as_ref();
        let mut tokens = 0;
        let mut rest = messages;
        match messages {
            [(role, content), after @ ..] if role == "system" && !after.is_empty() => {
                match (&self.system, &self.static_system_text) {
                    // The shared system prompt, unchanged: its bytes are ready (and counted).
                    (Some(Part::Static(prefix)), Some(text)) if content == text => {
                        out.extend_from_slice(prefix);
                        tokens += self.static_system_tokens;
                    }
                    _ => {
                        tokens += self.count_message(content);
                        out.extend(encoder.system_prefix(content));
                    }
                }
                rest = after;
            }
            _ => out.extend_from_slice(encoder.no_system_prefix()),
        }
        for (index, (role, content)) in rest.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(encoder.message_separator());
            }
            tokens += self.count_message(content);
            encoder.write_message(out, role, content);
        }
        tokens
    }

    fn count_message(&self, text: &str) -> u64 {
        self.tokens
            .as_ref()
            .map_or(0, |counter| counter.message(text))
    }

    fn text_of<'a>(
        &self,
        part: &Part,
        row: &'a Row,
        context: Option<&Arc<RenderContext>>,
    ) -> Result<Cow<'a, str>, String> {
        match part {
            Part::Static(_) => Ok(Cow::Borrowed("")),
            Part::Column(column) => {
                match row.get(column).and_then(batchlabel_source::Value::as_str) {
                    Some(text) => Ok(Cow::Borrowed(text)),
                    // Not a plain string (or missing): let the template engine say why.
                    None => self.render_template("user", row, context).map(Cow::Owned),
                }
            }
            Part::Template(name) => self.render_template(name, row, context).map(Cow::Owned),
        }
    }

    fn render_template(
        &self,
        name: &str,
        row: &Row,
        context: Option<&Arc<RenderContext>>,
    ) -> Result<String, String> {
        let context = match context {
            Some(context) => context.clone(),
            // Only the column shortcut gets here without a context: its value was not text.
            None => self.context(row.clone()),
        };
        let template = self
            .environment
            .get_template(name)
            .map_err(|error| error.to_string())?;
        batchlabel_spec::render_bounded(&template, Value::from_dyn_object(context)).map_err(
            |error| {
                let mut message = format!("`{name}` template failed: {}", error.kind());
                if let Some(detail) = error.detail() {
                    message.push_str(": ");
                    message.push_str(detail);
                }
                if let Some(line) = error.line() {
                    let _ = write!(message, " (template line {line})");
                }
                message
            },
        )
    }
}

/// The column a template is nothing but (`{{ row.x }}`, `{{ row["x"] }}`, `{{ text }}`).
fn column_shortcut(template: &Template, text_column: Option<&str>) -> Option<Arc<str>> {
    let inner = template
        .text
        .trim_end_matches('\n')
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    if inner == "text" {
        return text_column.map(Arc::from);
    }
    let column = inner.strip_prefix("row.").filter(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|character| character.is_alphanumeric() || character == '_')
    });
    let column = column.or_else(|| {
        inner
            .strip_prefix("row[\"")
            .and_then(|rest| rest.strip_suffix("\"]"))
            .filter(|name| !name.contains(['"', '\\']))
    })?;
    Some(Arc::from(column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        Template {
            role: "user",
            text: text.to_string(),
            file: None,
        }
    }

    #[test]
    fn recognizes_single_column_templates() {
        assert_eq!(
            column_shortcut(&template("{{ row.comment_text }}"), None).as_deref(),
            Some("comment_text")
        );
        assert_eq!(
            column_shortcut(&template("{{row[\"a b\"]}}"), None).as_deref(),
            Some("a b")
        );
        assert_eq!(
            column_shortcut(&template("{{ text }}"), Some("body")).as_deref(),
            Some("body")
        );
        assert_eq!(
            column_shortcut(&template("{{ row.a | upper }}"), None),
            None
        );
        assert_eq!(
            column_shortcut(&template("Comment: {{ row.a }}"), None),
            None
        );
    }
}
