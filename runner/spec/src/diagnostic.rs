//! Diagnostics: one problem in a spec (or a file it names), with its position and a hint,
//! rendered like a compiler error with the source line and a caret under the spot.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A position in a text file: 1-based line and column (in characters), and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Length in characters (at least 1).
    pub length: usize,
}

impl Span {
    /// A span of `length` characters.
    pub fn new(line: usize, column: usize, length: usize) -> Self {
        Self {
            line: line.max(1),
            column: column.max(1),
            length: length.max(1),
        }
    }

    /// A one-character span.
    pub fn point(line: usize, column: usize) -> Self {
        Self::new(line, column, 1)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot run.
    Error,
    /// The spec runs, but probably not as meant.
    Warning,
}

/// One problem, where it is, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// A stable kebab-case code, e.g. `unknown-field`.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file the span is in (the spec unless a template file is at fault).
    pub file: Option<PathBuf>,
    /// Where in that file.
    pub span: Span,
    /// Hints: what was expected, what to try.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error at `span` of the spec file.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: None,
            span,
            help: Vec::new(),
        }
    }

    /// A warning at `span` of the spec file.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message, span)
        }
    }

    /// Add a hint.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Point the diagnostic at another file than the spec.
    #[must_use]
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Whether this diagnostic stops the spec from running.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All diagnostics of one spec, with the texts needed to show source lines.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    /// The spec file; diagnostics without a file of their own are in it.
    pub spec_path: PathBuf,
    /// The problems, in the order found.
    pub items: Vec<Diagnostic>,
    sources: HashMap<PathBuf, String>,
}

impl Diagnostics {
    /// An empty set for the spec at `spec_path`, whose text is `spec_text`.
    pub fn new(spec_path: &Path, spec_text: &str) -> Self {
        let mut sources = HashMap::new();
        sources.insert(spec_path.to_path_buf(), spec_text.to_string());
        Self {
            spec_path: spec_path.to_path_buf(),
            items: Vec::new(),
            sources,
        }
    }

    /// Remember the text of another file diagnostics may point into.
    pub fn add_source(&mut self, path: &Path, text: &str) {
        self.sources.insert(path.to_path_buf(), text.to_string());
    }

    /// Record a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Number of errors (warnings excluded).
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|item| item.is_error()).count()
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// The file a diagnostic points into.
    pub fn file_of<'a>(&'a self, diagnostic: &'a Diagnostic) -> &'a Path {
        diagnostic.file.as_deref().unwrap_or(&self.spec_path)
    }

    /// Render every diagnostic for a terminal, errors and warnings in order found.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for diagnostic in &self.items {
            self.render_one(diagnostic, &mut out);
        }
        out
    }

    fn render_one(&self, diagnostic: &Diagnostic, out: &mut String) {
        let severity = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let file = self.file_of(diagnostic);
        let span = diagnostic.span;
        let _ = writeln!(
            out,
            "{severity}[{}]: {}",
            diagnostic.code, diagnostic.message
        );
        let _ = writeln!(
            out,
            "  --> {}:{}:{}",
            file.display(),
            span.line,
            span.column
        );
        let gutter_width = span.line.to_string().len();
        let line_text = self
            .sources
            .get(file)
            .and_then(|text| text.lines().nth(span.line - 1));
        if let Some(line_text) = line_text {
            let gutter = span.line.to_string();
            let pad = " ".repeat(gutter.len());
            let (shown, column, length) = excerpt(&line_text.replace('\t', " "), span);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{gutter} | {shown}");
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(column - 1),
                "^".repeat(length)
            );
        }
        for help in &diagnostic.help {
            let _ = writeln!(out, "{} = help: {help}", " ".repeat(gutter_width));
        }
        out.push('\n');
    }

    /// Machine-readable form: one object per diagnostic with its file.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.items
                .iter()
                .map(|diagnostic| {
                    let mut value = serde_json::to_value(diagnostic).unwrap_or_default();
                    value["file"] = self.file_of(diagnostic).display().to_string().into();
                    value
                })
                .collect(),
        )
    }
}

/// The most characters of a source line shown under a diagnostic.
const MAX_SHOWN_CHARS: usize = 120;

/// The part of `line` to show for `span`: the whole line when short, else a window around
/// the caret with `…` where it was cut (a minified 200 KB line must not flood the terminal).
/// Returns the text, and the caret's column and length within it.
fn excerpt(line: &str, span: Span) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let caret = (span.column - 1).min(chars.len());
    let fits = |end: usize| span.length.min(end.saturating_sub(caret)).max(1);
    if chars.len() <= MAX_SHOWN_CHARS {
        return (line.to_string(), span.column, fits(chars.len()));
    }
    // Some context before the caret, the rest after it.
    let start = caret
        .saturating_sub(MAX_SHOWN_CHARS / 4)
        .min(chars.len() - MAX_SHOWN_CHARS);
    let end = start + MAX_SHOWN_CHARS;
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    let column = caret - start + 1 + usize::from(start > 0);
    (shown, column, fits(end))
}

/// The closest candidate to `wanted`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = strsim::jaro_winkler(&wanted_lower, &candidate.to_lowercase());
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|left, right| left.0.total_cmp(&right.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let text = "name: x\nlabels:\n  s:\n    onee_of: [a]\n";
        let mut diagnostics = Diagnostics::new(Path::new("spec.yaml"), text);
        diagnostics.push(
            Diagnostic::error(
                "unknown-field",
                "unknown field `onee_of`",
                Span::new(4, 5, 7),
            )
            .with_help("did you mean `one_of`?"),
        );
        let rendered = diagnostics.render();
        assert_eq!(
            rendered,
            "error[unknown-field]: unknown field `onee_of`\n  --> spec.yaml:4:5\n  |\n4 |     onee_of: [a]\n  |     ^^^^^^^\n  = help: did you mean `one_of`?\n\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}XY{}", "a".repeat(1000), "b".repeat(1000));
        let (shown, column, length) = excerpt(&line, Span::new(1, 1001, 2));
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 2);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        let under: String = shown.chars().skip(column - 1).take(length).collect();
        assert_eq!(under, "XY");
        // At the very start and end the window stops at the line's edge.
        let (shown, column, _) = excerpt(&line, Span::point(1, 1));
        assert_eq!((shown.chars().next(), column), (Some('a'), 1));
        let (shown, column, _) = excerpt(&line, Span::point(1, 2002));
        assert_eq!(shown.chars().nth(column - 1), Some('b'));
        assert!(!shown.ends_with('…'));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("onee_of", ["one_of", "any_of"]),
            Some("one_of")
        );
        assert_eq!(did_you_mean("zzz", ["one_of", "any_of"]), None);
    }
}
