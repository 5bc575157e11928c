//! Prompt templates: the one minijinja environment every part of batchlabel renders with, the
//! variables templates may use, and static checks that find template errors before any row
//! is read (syntax, unknown variables, `labels.x` for a field that does not exist).

use std::path::Path;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::job::{Job, LabelField, LabelKind, Template};
use crate::yaml::SpanIndex;

/// The variables a template may use besides minijinja's globals.
pub const TEMPLATE_VARIABLES: &[&str] = &["row", "text", "id", "labels", "job"];

/// The work one render of one template may do, in minijinja fuel: about one unit per
/// instruction and per 64 bytes of data made. Nested loops could otherwise allocate until
/// the process dies; a real prompt, even one listing a thousand labels, uses a few percent.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// The longest message one render may produce. Far above any model's context window, so it
/// only stops templates that have run away.
pub const MAX_RENDERED_BYTES: usize = 8 << 20;

/// The environment used for all prompt rendering: undefined variables are errors (a typo
/// must not silently send an empty prompt to a million rows), no HTML escaping, (the
/// default) the trailing newline a YAML block scalar leaves is kept out of the message, and
/// each render's work is bounded by [`TEMPLATE_FUEL`].
pub fn template_environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    environment.set_fuel(Some(TEMPLATE_FUEL));
    environment.set_formatter(format_value);
    environment
}

/// How a value prints into a prompt: JSON spellings, never Python's (`None`, `True`, reprs).
/// A null has no text to send, so printing one is an error that names the row.
fn format_value(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let write = |out: &mut minijinja::Output<'_>, text: &str| {
        out.write_str(text).map_err(minijinja::Error::from)
    };
    match value.kind() {
        ValueKind::None => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "the value is null: there is no text to put in the prompt",
        )),
        ValueKind::Bool => write(out, if value.is_true() { "true" } else { "false" }),
        ValueKind::Map | ValueKind::Seq => {
            let text = serde_json::to_string(value).map_err(|error| {
                minijinja::Error::new(ErrorKind::BadSerialization, error.to_string())
            })?;
            write(out, &text)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Render `template` within the limits: an error that names the limit when the template
/// runs out of fuel or its message is longer than [`MAX_RENDERED_BYTES`].
pub fn render_bounded(
    template: &minijinja::Template<'_, '_>,
    context: Value,
) -> Result<String, minijinja::Error> {
    let text = template.render(context).map_err(|error| {
        if error.kind() == ErrorKind::OutOfFuel {
            let detail = format!(
                "it needs more than {TEMPLATE_FUEL} steps (minijinja fuel) for one message; a loop in it runs too long"
            );
            minijinja::Error::new(ErrorKind::OutOfFuel, detail)
        } else {
            error
        }
    })?;
    if text.len() > MAX_RENDERED_BYTES {
        let detail = format!(
            "its message is {} bytes, over the limit of {}",
            text.len(),
            crate::files::size_text(MAX_RENDERED_BYTES as u64)
        );
        return Err(minijinja::Error::new(ErrorKind::InvalidOperation, detail));
    }
    Ok(text)
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
            // `row` itself (`row | tojson`, `row["a b"]`) reads every column: marked by an
            // empty name, which no `row.<column>` can be.
            "row" => row_columns.push(tail.unwrap_or_default().to_string()),
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

/// Read a template file for a `*_file` key; a problem is a diagnostic at the key.
pub fn read_template_file(path: &Path, span: Span) -> Result<String, Diagnostic> {
    let limit = crate::files::MAX_TEMPLATE_BYTES;
    let bytes = crate::files::read_limited(path, limit).map_err(|problem| {
        let help = match problem {
            crate::files::ReadError::TooLarge(_) => format!(
                "a template is a prompt, not data: keep it under {} (rows belong in the input)",
                crate::files::size_text(limit)
            ),
            crate::files::ReadError::Io(_) => "paths are relative to the spec file".to_string(),
            _ => "name a regular text file".to_string(),
        };
        let message = problem.describe("template file", path);
        Diagnostic::error(problem.code(), message, span).with_help(help)
    })?;
    let text = String::from_utf8(bytes).map_err(|problem| {
        let byte = problem.utf8_error().valid_up_to();
        let message = format!(
            "template file `{}` is not valid UTF-8 (byte {byte})",
            path.display()
        );
        Diagnostic::error("invalid-utf8", message, span).with_help("save the template as UTF-8")
    })?;
    Ok(crate::files::without_bom(&text).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> Result<String, minijinja::Error> {
        let environment = template_environment();
        let template = environment.template_from_str(text).unwrap();
        render_bounded(&template, Value::from(()))
    }

    #[test]
    fn nested_loops_run_out_of_fuel_instead_of_memory() {
        let error = render(
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OutOfFuel);
        assert_eq!(
            error.detail(),
            Some(
                "it needs more than 1000000 steps (minijinja fuel) for one message; a loop in it runs too long"
            )
        );
    }

    #[test]
    fn long_messages_are_refused_with_the_limit() {
        let error = render("{{ 'x' * 9000000 }}").unwrap_err();
        assert_eq!(
            error.detail(),
            Some("its message is 9000000 bytes, over the limit of 8 MiB")
        );
        assert_eq!(render("{{ 'x' * 3 }}").unwrap(), "xxx");
    }
}
