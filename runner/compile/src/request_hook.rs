//! The request-builder plugin hook: after the templates render a row's request, a plugin
//! may replace its body (the caller supplies the plugin; this crate never links wasmtime).
//! A plugin failure fails that row only, recorded as data, never the compile.

use batchlabel_source::{Columns, Record, Row};
use serde_json::{Map, Value};

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
    /// The body to send for `row` (a JSON object, as text) given `context` (JSON text: the
    /// templates' `request`, `row_id`, `text_column`, `labels`).
    fn build(&self, row: &str, context: &str) -> Result<Value, PluginFailure>;
}

/// The row's values as a JSON object (CSV: every column as text).
pub(crate) fn row_object(row: &Row, columns: &Columns) -> Map<String, Value> {
    match &row.record {
        Record::Csv(record) => columns
            .names()
            .iter()
            .zip(record.iter())
            .map(|(name, value)| (name.clone(), Value::String(value.to_string())))
            .collect(),
        Record::Json(object) => object.clone(),
    }
}

/// Call `hook` for `row` whose templated body is `body`; the new body's bytes.
pub(crate) fn apply(
    hook: &dyn RequestHook,
    row: &Row,
    columns: &Columns,
    body: &[u8],
    (text_column, labels): (Option<&str>, &Value),
) -> Result<Vec<u8>, PluginFailure> {
    let request: Value = serde_json::from_slice(body).map_err(|error| PluginFailure {
        crashed: true,
        message: format!("the templated request is not JSON: {error}"),
    })?;
    let context = serde_json::json!({
        "request": request,
        "row_id": row.id,
        "text_column": text_column,
        "labels": labels,
    });
    let row_text = Value::Object(row_object(row, columns)).to_string();
    let built = hook
        .build(&row_text, &context.to_string())
        .map_err(|failure| PluginFailure {
            message: format!("{} (row {})", failure.message, row.id),
            ..failure
        })?;
    if !built["messages"].is_array() {
        return Err(PluginFailure {
            crashed: true,
            message: format!(
                "the request plugin returned a body without a `messages` list (row {})",
                row.id
            ),
        });
    }
    serde_json::to_vec(&built).map_err(|error| PluginFailure {
        crashed: true,
        message: error.to_string(),
    })
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
