//! Prompt templates: the one minijinja environment every part of batchlabel renders with, the
//! variables templates may use, and static checks that find template errors before any row
//! is read (syntax, unknown variables, `labels.x` for a field that does not exist).

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::job::{Job, LabelField, LabelKind, Template};
use crate::yaml::SpanIndex;

/// The variables a template may use besides minijinja's globals.
pub const TEMPLATE_VARIABLES: &[&str] = &["row", "text", "id", "labels", "job"];

/// The environment used for all prompt rendering: undefined variables are errors (a typo
/// must not silently send an empty prompt to a million rows), no HTML escaping, and (the
/// default) the trailing newline a YAML block scalar leaves is kept out of the message.
pub fn template_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    environment
}

/// `labels` as templates see it: per field, a list of `{name, description}`.
pub fn labels_context(fields: &[LabelField]) -> Value {
    let map: indexmap::IndexMap<&str, Vec<indexmap::IndexMap<&str, &str>>> = fields
        .iter()
        .map(|field| {
            let labels = match &field.kind {
                LabelKind::OneOf { labels } | LabelKind::AnyOf { labels, .. } => labels
                    .iter()
                    .map(|label| {
                        indexmap::IndexMap::from([
                            ("name", label.name.as_str()),
                            ("description", label.description.as_str()),
                        ])
                    })
                    .collect(),
                LabelKind::Schema { .. } => Vec::new(),
            };
            (field.name.as_str(), labels)
        })
        .collect();
    Value::from(minijinja::value::Serde(&map))
}

/// `job` as templates see it.
pub fn job_context(job: &Job) -> Value {
    Value::from(minijinja::value::Serde(indexmap::IndexMap::from([
        ("name", job.name.as_str()),
        ("description", job.description.as_deref().unwrap_or("")),
    ])))
}

/// Where a template sits, so positions inside it can be shown in the right file.
pub struct TemplatePlace<'a> {
    /// The spec text.
    pub spec_text: &'a str,
    /// Spans of the spec.
    pub spans: &'a SpanIndex,
    /// Pointer of the inline template (`/prompt/user`), or of the `*_file` key.
    pub pointer: String,
}

impl TemplatePlace<'_> {
    /// Span of `line` / `column` (1-based, within the template) in the spec or template file.
    pub fn span(&self, template: &Template, line: usize, column: usize, length: usize) -> Span {
        if template.file.is_some() {
            return Span::new(line, column, length);
        }
        let anchor = self.spans.value(&self.pointer);
        let anchor_line_text = self.spec_text.lines().nth(anchor.line - 1).unwrap_or("");
        let indicator = anchor_line_text.chars().nth(anchor.column - 1);
        if matches!(indicator, Some('|' | '>')) {
            // Block scalar: template line 1 is the line after the indicator, indented.
            let spec_line = anchor.line + line;
            let indent = self
                .spec_text
                .lines()
                .nth(spec_line - 1)
                .map_or(0, |text| text.len() - text.trim_start().len());
            Span::new(spec_line, indent + column, length)
        } else {
            let quote = usize::from(matches!(indicator, Some('"' | '\'')));
            Span::new(
                anchor.line + line - 1,
                anchor.column + quote + column - 1,
                length,
            )
        }
    }
}

/// An error in `template`: in the spec when inline, else in the template file.
fn diagnostic(template: &Template, code: &'static str, message: String, span: Span) -> Diagnostic {
    let diagnostic = Diagnostic::error(code, message, span);
    match &template.file {
        Some(file) => diagnostic.in_file(file.clone()),
        None => diagnostic,
    }
}

/// Check one template: syntax, then every variable it reads. Returns the `row.*` columns it
/// uses, which are checked against the input's columns once the input is opened.
pub fn check_template(
    template: &Template,
    place: &TemplatePlace<'_>,
    fields: &[LabelField],
    has_text_column: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let environment = template_environment();
    let compiled = match environment.template_from_str(&template.text) {
        Ok(compiled) => compiled,
        Err(error) => {
            let line = error.line().unwrap_or(1);
            let column = error
                .range()
                .map_or(1, |range| column_of(&template.text, range.start));
            let detail = error.detail().unwrap_or("syntax error").to_string();
            diagnostics.push(
                diagnostic(
                        template,
                        "template-syntax",
                        format!("`{}` template: {detail}", template.role),
                        place.span(template, line, column, 1),
                    )
                    .with_help("templates use minijinja (Jinja2) syntax: `{{ row.column }}`, `{% for l in labels.field %}…{% endfor %}`"),
            );
            return Vec::new();
        }
    };
    let mut used = compiled
        .undeclared_variables(true)
        .into_iter()
        .collect::<Vec<_>>();
    used.sort();
    let mut row_columns = Vec::new();
    for variable in used {
        let mut parts = variable.splitn(2, '.');
        let head = parts.next().unwrap_or_default();
        let tail = parts.next();
        let (line, column) = position_of(&template.text, &variable);
        let span = place.span(template, line, column, variable.chars().count());
        match head {
            "row" => {
                if let Some(column_name) = tail {
                    row_columns.push(column_name.to_string());
                }
            }
            "text" if !has_text_column => diagnostics.push(
                diagnostic(
                    template,
                    "undefined-variable",
                    format!(
                        "`{}` template uses `text`, but `input.text` is not set",
                        template.role
                    ),
                    span,
                )
                .with_help(
                    "set `input.text` to the column holding the text, or use `row.<column>`",
                ),
            ),
            "labels" => {
                if let Some(field) = tail
                    && !fields.iter().any(|known| known.name == field)
                {
                    let mut diagnostic = diagnostic(
                        template,
                        "undefined-variable",
                        format!(
                            "`{}` template uses `labels.{field}`, but there is no label field `{field}`",
                            template.role
                        ),
                        span,
                    );
                    if let Some(close) =
                        did_you_mean(field, fields.iter().map(|known| known.name.as_str()))
                    {
                        diagnostic =
                            diagnostic.with_help(format!("did you mean `labels.{close}`?"));
                    }
                    diagnostics.push(diagnostic);
                }
            }
            _ if TEMPLATE_VARIABLES.contains(&head)
                || environment.globals().any(|(name, _)| name == head) => {}
            _ => {
                let mut diagnostic = diagnostic(
                    template,
                    "undefined-variable",
                    format!(
                        "`{}` template uses undefined variable `{head}`",
                        template.role
                    ),
                    span,
                );
                if let Some(close) = did_you_mean(head, TEMPLATE_VARIABLES.iter().copied()) {
                    diagnostic = diagnostic.with_help(format!("did you mean `{close}`?"));
                }
                diagnostics.push(diagnostic.with_help(format!(
                        "templates can use: {}",
                        TEMPLATE_VARIABLES
                            .iter()
                            .map(|name| format!("`{name}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
            }
        }
    }
    row_columns
}

/// 1-based line and column of the first mention of `needle` in `text` (falls back to 1:1).
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    // `row.x` may be written `row["x"]`; the head is always there.
    let head = needle.split('.').next().unwrap_or(needle);
    let offset = text.find(needle).or_else(|| text.find(head)).unwrap_or(0);
    let line = text.get(..offset).unwrap_or_default().matches('\n').count() + 1;
    (line, column_of(text, offset))
}

fn column_of(text: &str, offset: usize) -> usize {
    let Some(before) = text.get(..offset.min(text.len())) else {
        return 1;
    };
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    before[line_start..].chars().count() + 1
}

/// Read a template file for a `*_file` key; a missing file is a diagnostic at the key.
pub fn read_template_file(path: &Path, span: Span) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|error| {
        Diagnostic::error(
            "file-not-found",
            format!("cannot read template file `{}`: {error}", path.display()),
            span,
        )
        .with_help("paths are relative to the spec file")
    })
}
