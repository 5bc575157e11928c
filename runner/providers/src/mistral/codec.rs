//! Mistral's batch line format: request lines `{"custom_id", "body"}` whose
//! body is a chat-completions request with Mistral's names for two parameters (`max_tokens`,
//! `random_seed`) and a strict `json_schema` response format; result lines are OpenAI's
//! (`{"custom_id", "response": {"status_code", "body"}, "error"}`), read by the same code.

/// The Mistral batch format.
#[derive(Debug, Clone, Copy, Default)]
pub struct MistralCodec;

/// A neutral parameter's name in Mistral's chat API.
fn mistral_name(key: &str) -> Option<&'static str> {
    match key {
        "max_completion_tokens" => Some("max_tokens"),
        "seed" => Some("random_seed"),
        _ => None,
    }
}

crate::openai::body_only_codec!(MistralCodec, mistral_name);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, LineResult};

    #[test]
    fn lines_carry_only_custom_id_and_body_with_mistral_names() {
        let (line, value) = crate::codec::sample_line(&MistralCodec, "mistral-small-latest");
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["custom_id", "body"]);
        assert_eq!(value["body"]["max_tokens"], 20);
        assert_eq!(value["body"]["random_seed"], 7);
        assert!(value["body"].get("max_completion_tokens").is_none());
        assert_eq!(
            MistralCodec.request_custom_id(&line).as_deref(),
            Some("r-1")
        );
        let text = std::str::from_utf8(&line).unwrap();
        assert_eq!(MistralCodec.conversation(text).unwrap().messages.len(), 1);
    }

    #[test]
    fn result_lines_without_a_status_code_are_answers() {
        let line = br#"{"id":"x","custom_id":"r-1","response":{"body":{"choices":[{"message":{"content":"{}"},"finish_reason":"model_length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}},"error":null}"#;
        let decoded = MistralCodec.decode_result_line(line).expect("readable");
        let LineResult::Answered(answer) = decoded.result else {
            panic!("{decoded:?}")
        };
        assert_eq!(answer.finish, crate::codec::Finish::Truncated);
        let failed =
            br#"{"custom_id":"r-2","response":null,"error":{"message":"bad","code":3001}}"#;
        let decoded = MistralCodec.decode_result_line(failed).expect("readable");
        assert!(
            matches!(decoded.result, LineResult::NotRun { ref detail, .. } if detail == "3001: bad")
        );
    }
}
