//! A batch's input file, checked whole before anything is made (as Gemini does): every line a
//! `{"key", "request"}` object with a unique key, each request translated into the internal
//! batch's chat-completions line.

use std::collections::HashSet;
use std::io::Write;

use serde_json::{Value, json};

use super::INTERNAL_ENDPOINT;
use super::translate::to_chat;

/// A checked input file: its keys and the internal batch's input lines.
pub(super) struct Input {
    pub(super) keys: Vec<String>,
    pub(super) lines: Vec<u8>,
}

/// Check every line of the input file (`{"key", "request"}`) and translate it; the first
/// problem refuses the whole create, naming the line.
pub(super) fn read_input(
    content: &[u8],
    model: &str,
    file: &str,
    max: u64,
) -> Result<Input, String> {
    let mut keys = Vec::new();
    let mut lines = Vec::with_capacity(content.len());
    let mut seen = HashSet::new();
    for (index, raw) in content.split(|byte| *byte == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let at = format!("{file} line {}", index + 1);
        let Ok(Value::Object(line)) = serde_json::from_slice::<Value>(raw) else {
            return Err(format!("{at}: not a JSON object"));
        };
        let key = match line.get("key") {
            Some(Value::String(key)) if !key.is_empty() => key,
            _ => return Err(format!("{at}: `key` is required, a non-empty string")),
        };
        if !seen.insert(key.clone()) {
            return Err(format!(
                "{at}: key `{key}` is used by an earlier line; keys must be unique"
            ));
        }
        let Some(request) = line.get("request") else {
            return Err(format!(
                "{at}: `request` is required, a GenerateContentRequest"
            ));
        };
        let chat = to_chat(request, model).map_err(|problem| format!("{at}: request.{problem}"))?;
        let internal =
            json!({"custom_id": key, "method": "POST", "url": INTERNAL_ENDPOINT, "body": chat});
        writeln!(lines, "{internal}").map_err(|problem| problem.to_string())?;
        keys.push(key.clone());
    }
    if keys.is_empty() {
        return Err(format!("{file}: the input file has no requests"));
    }
    if keys.len() as u64 > max {
        return Err(format!(
            "{file}: {} requests; this server takes at most {max} per batch",
            keys.len()
        ));
    }
    Ok(Input { keys, lines })
}
