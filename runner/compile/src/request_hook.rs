//! The request-builder plugin hook: after the templates render a row's request, a plugin
//! may replace its body (the caller supplies the plugin; this crate never links wasmtime).
//! A plugin failure fails that row only, recorded as data, never the compile.

use batchlabel_source::{Columns, Record, Row};
use serde_json::Value;

/// Why a plugin gave no result for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// It crashed (trap, timeout, memory, malformed answer) rather than rejecting the input.
    pub crashed: bool,
    /// What happened, naming the plugin (`name@version`).
    pub message: String,
}

/// A request-builder plugin, as compiling sees it.
pub trait RequestHook: Send + Sync {
    /// The body to send (a JSON object, as text) for `row` (a JSON object, as text) given
    /// `context` (JSON text: the templates' `request`, `row_id`, `text_column`).
    fn build(&self, row: &str, context: &str) -> Result<String, PluginFailure>;
}

/// The row's values as JSON object text (CSV: every column as text), written straight
/// into `out` (one call per row: no intermediate map).
pub(crate) fn write_row_object(row: &Row, columns: &Columns, out: &mut Vec<u8>) {
    match &row.record {
        Record::Csv(record) => {
            out.push(b'{');
            for (index, (name, value)) in columns.names().iter().zip(record.iter()).enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                // Writing strings into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, name);
                out.push(b':');
                let _ = serde_json::to_writer(&mut *out, value);
            }
            out.push(b'}');
        }
        Record::Json(object) => {
            let _ = serde_json::to_writer(&mut *out, object);
        }
    }
}

fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Call `hook` for `row` whose templated body is `body`; the new body's text. The context
/// is written as text around the body's bytes, never parsed here.
pub(crate) fn apply(
    hook: &dyn RequestHook,
    row: &Row,
    columns: &Columns,
    body: &[u8],
    text_column: Option<&str>,
) -> Result<String, PluginFailure> {
    let mut context = Vec::with_capacity(body.len() + 96);
    context.extend_from_slice(b"{\"request\":");
    context.extend_from_slice(body);
    context.extend_from_slice(b",\"row_id\":");
    let _ = serde_json::to_writer(&mut context, &row.id);
    context.extend_from_slice(b",\"text_column\":");
    let _ = serde_json::to_writer(&mut context, &text_column);
    context.push(b'}');
    let mut row_text = Vec::with_capacity(256);
    write_row_object(row, columns, &mut row_text);
    // Both were written from valid UTF-8 strings; the check is the fast validating one.
    let (context, row_text) = (utf8(&context), utf8(&row_text));
    let built = hook
        .build(&row_text, &context)
        .map_err(|failure| PluginFailure {
            message: format!("{} (row {})", failure.message, row.id),
            ..failure
        })?;
    if !built.contains("\"messages\"") {
        return Err(PluginFailure {
            crashed: true,
            message: format!(
                "the request plugin returned a body without a `messages` list (row {})",
                row.id
            ),
        });
    }
    Ok(built)
}

/// Prompt tokens of a built body's messages, as the templates' count would be.
pub(crate) fn message_tokens(counter: &crate::tokens::TokenCounter, body: &[u8]) -> u64 {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let contents: Vec<&str> = body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|message| message["content"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    counter.chat_prompt(&contents)
}
