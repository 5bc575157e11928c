//! truncate-fewshot (request builder): trims a long row text on a word boundary to a
//! character budget, and puts k worked examples (from the config) before the row as
//! user/assistant turns, the assistant answering in the job's JSON.
//!
//! ```yaml
//! plugins:
//!   request:
//!     uses: plugins/truncate-fewshot.wasm
//!     with:
//!       max_chars: 280
//!       examples:
//!         - {text: "I love it", output: {sentiment: POSITIVE}}
//!         - {text: "Worst purchase ever", output: {sentiment: NEGATIVE}}
//!       k: 2
//! ```

use batchlabel_plugin_sdk::{
    Map, Message, PluginError, PluginInfo, Request, RequestBuilder, RequestContext, Value,
    export_request_builder, json,
};

/// The configured builder.
pub struct TruncateFewshot {
    max_chars: usize,
    ellipsis: String,
    examples: Vec<(String, String)>,
}

/// `text` cut to at most `max_chars` characters (ellipsis included) on a word boundary when
/// one is near, else mid-word.
pub fn truncate(text: &str, max_chars: usize, ellipsis: &str) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let budget = max_chars.saturating_sub(ellipsis.chars().count());
    let cut = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(index, _)| index);
    let head = &text[..cut];
    // Back up to the last space if that keeps at least 70% of the budget.
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if head[..space].chars().count() * 10 >= budget * 7 => &head[..space],
        _ => head,
    };
    format!("{}{ellipsis}", head.trim_end())
}

impl RequestBuilder for TruncateFewshot {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "truncate-fewshot",
            env!("CARGO_PKG_VERSION"),
            json!({
                "type": "object",
                "required": ["max_chars"],
                "additionalProperties": false,
                "properties": {
                    "max_chars": {"description": "Longest row text sent, in characters.", "type": "integer", "minimum": 8},
                    "ellipsis": {"description": "Appended to a cut text (default …).", "type": "string"},
                    "examples": {
                        "description": "Worked examples: a text and the answer the job expects.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["text", "output"],
                            "additionalProperties": false,
                            "properties": {"text": {"type": "string"}, "output": {"type": "object"}}
                        }
                    },
                    "k": {"description": "How many examples to use (default all).", "type": "integer", "minimum": 0}
                }
            }),
        )
    }

    fn configure(config: Value) -> Result<Self, PluginError> {
        let max_chars = config["max_chars"]
            .as_u64()
            .filter(|max| *max >= 8)
            .and_then(|max| usize::try_from(max).ok())
            .ok_or("`max_chars` must be a whole number ≥ 8")?;
        let ellipsis = config["ellipsis"].as_str().unwrap_or("…").to_string();
        let mut examples = Vec::new();
        for (index, example) in config["examples"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .enumerate()
        {
            let (Some(text), Some(output)) =
                (example["text"].as_str(), example["output"].as_object())
            else {
                return Err(format!(
                    "`examples[{index}]` needs `text` (a string) and `output` (an object)"
                )
                .into());
            };
            examples.push((
                truncate(text, max_chars, &ellipsis),
                Value::Object(output.clone()).to_string(),
            ));
        }
        if let Some(k) = config["k"].as_u64() {
            examples.truncate(usize::try_from(k).unwrap_or(usize::MAX));
        }
        Ok(Self {
            max_chars,
            ellipsis,
            examples,
        })
    }

    fn build(
        &self,
        row: &Map<String, Value>,
        context: RequestContext,
    ) -> Result<Request, PluginError> {
        let mut messages = context.messages;
        let last_user = messages
            .iter()
            .rposition(|message| message.role == "user")
            .ok_or("the request has no user message")?;
        let content = std::mem::take(&mut messages[last_user].content);
        let text = context
            .text_column
            .as_deref()
            .and_then(|column| row.get(column))
            .and_then(Value::as_str);
        messages[last_user].content = match text {
            // Trim the row's text where the template put it; keep the template's own words.
            Some(text) if content.contains(text) && text.chars().count() > self.max_chars => {
                content.replacen(text, &truncate(text, self.max_chars, &self.ellipsis), 1)
            }
            Some(text) if content.contains(text) => content,
            _ => truncate(&content, self.max_chars, &self.ellipsis),
        };
        let shots: Vec<Message> = self
            .examples
            .iter()
            .flat_map(|(text, output)| {
                [
                    Message::new("user", text.clone()),
                    Message::new("assistant", output.clone()),
                ]
            })
            .collect();
        messages.splice(last_user..last_user, shots);
        Ok(Request::messages(messages))
    }
}

export_request_builder!(TruncateFewshot);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_a_word_boundary() {
        assert_eq!(truncate("short", 10, "…"), "short");
        assert_eq!(
            truncate("the quick brown fox jumps", 16, "…"),
            "the quick brown…"
        );
        // No space near the limit: cut mid-word.
        assert_eq!(
            truncate("abcdefghijklmnopqrstuvwxyz", 10, "…"),
            "abcdefghi…"
        );
        assert_eq!(truncate("the quick brown fox", 12, "…").chars().count(), 10);
    }

    #[test]
    fn inserts_examples_before_the_row_and_trims_only_the_text() {
        let plugin = TruncateFewshot::configure(json!({
            "max_chars": 12,
            "examples": [
                {"text": "I love it", "output": {"sentiment": "POSITIVE"}},
                {"text": "Awful", "output": {"sentiment": "NEGATIVE"}},
                {"text": "Meh", "output": {"sentiment": "NEUTRAL"}}
            ],
            "k": 2
        }))
        .unwrap();
        let mut row = Map::new();
        row.insert("text".into(), json!("this text is far too long"));
        let context = RequestContext {
            row_id: "1".into(),
            text_column: Some("text".into()),
            messages: vec![
                Message::new("system", "Label it."),
                Message::new("user", "Tweet: this text is far too long"),
            ],
        };
        let messages = plugin.build(&row, context).unwrap().messages;
        assert_eq!(messages.len(), 6);
        assert_eq!(messages[1], Message::new("user", "I love it"));
        assert_eq!(
            messages[2],
            Message::new("assistant", "{\"sentiment\":\"POSITIVE\"}")
        );
        assert_eq!(messages[4].content, "{\"sentiment\":\"NEGATIVE\"}");
        assert_eq!(messages[5].content, "Tweet: this text…");
    }

    #[test]
    fn bad_examples_are_explained() {
        let error =
            TruncateFewshot::configure(json!({"max_chars": 20, "examples": [{"text": "x"}]}))
                .err()
                .unwrap();
        assert_eq!(
            error.0,
            "`examples[0]` needs `text` (a string) and `output` (an object)"
        );
    }
}
