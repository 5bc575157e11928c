//! The request-builder plugin hook: after the templates render a row's request, a plugin
//! may replace its body (the caller supplies the plugin; this crate never links wasmtime).
//! A plugin failure fails that row only, recorded as data, never the compile.

use batchlabel_source::{Columns, Row};
use serde_json::Value;

/// Why a plugin gave no result for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// It crashed (trap, timeout, memory, malformed answer) rather than rejecting the input.
    pub crashed: bool,
    /// What happened, naming the plugin (`name@version`).
    pub message: String,
}

/// What a request plugin says to send: messages (role, content) and other body fields (a
/// JSON object as text; empty when none).
#[derive(Debug, Clone, Default)]
pub struct BuiltRequest {
    /// The messages, in order.
    pub messages: Vec<(String, String)>,
    /// Body fields to set or replace.
    pub body_fields: String,
}

/// A request-builder plugin, as compiling sees it.
pub trait RequestHook: Send + Sync {
    /// Whether the plugin reads the row's values (else it gets `{}`, and nothing is written).
    fn reads_row(&self) -> bool {
        true
    }

    /// What to send for `row` (a JSON object, as text), identified by `row` = (row id, the
    /// spec's text column), given the messages the templates rendered.
    fn build(
        &self,
        row: &str,
        identity: (&str, Option<&str>),
        messages: Vec<(String, String)>,
    ) -> Result<BuiltRequest, PluginFailure>;
}

/// Call `hook` for `row` with the templates' `messages`.
pub(crate) fn call(
    hook: &dyn RequestHook,
    row: &Row,
    columns: &Columns,
    text_column: Option<&str>,
    messages: Vec<(String, String)>,
) -> Result<BuiltRequest, PluginFailure> {
    let mut row_text = Vec::with_capacity(256);
    if hook.reads_row() {
        // The row's values as JSON object text (CSV: every column as text), one call per row.
        row.write_json_object(columns, &mut row_text);
    } else {
        row_text.extend_from_slice(b"{}");
    }
    let row_text = match std::str::from_utf8(&row_text) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(&row_text),
    };
    hook.build(&row_text, (&row.id, text_column), messages)
        .map_err(|failure| PluginFailure {
            message: format!("{} (row {})", failure.message, row.id),
            ..failure
        })
}

/// `body` with the plugin's `fields` (a JSON object as text) set.
pub(crate) fn merge_body_fields(body: &[u8], fields: &str) -> Result<Vec<u8>, PluginFailure> {
    let invalid = |message: String| PluginFailure {
        crashed: true,
        message,
    };
    let mut body: Value = serde_json::from_slice(body)
        .map_err(|error| invalid(format!("the templated request is not JSON: {error}")))?;
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) else {
        return Err(invalid(format!(
            "the request plugin returned body fields that are not a JSON object: `{}`",
            fields.chars().take(80).collect::<String>()
        )));
    };
    if let Some(object) = body.as_object_mut() {
        for (key, value) in fields {
            object.insert(key, value);
        }
    }
    serde_json::to_vec(&body).map_err(|error| invalid(error.to_string()))
}
