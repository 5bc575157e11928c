use serde_json::{Value, json};

use super::GeminiCodec;
use crate::codec::{Codec, Finish, LineResult, RequestShape};

fn line(codec: GeminiCodec, parameters: &serde_json::Map<String, Value>) -> Vec<u8> {
    let schema = json!({"type": "object", "additionalProperties": false, "required": ["s"],
        "properties": {"s": {"type": "string", "enum": ["A", "B"]}}});
    let shape = RequestShape {
        model: "gemini-2.5-flash",
        parameters,
        schema_name: "labels",
        schema: &schema,
    };
    let encoder = codec.encoder(&shape).expect("encoder");
    let turns = [("user", "great \"stuff\""), ("assistant", "{}")];
    crate::codec::encode_line(encoder.as_ref(), Some("Label it."), &turns)
}

#[test]
fn a_line_is_a_keyed_generate_content_request() {
    let parameters = serde_json::Map::from_iter([
        ("temperature".to_string(), Value::from(0)),
        ("max_completion_tokens".to_string(), Value::from(20)),
        ("safetySettings".to_string(), json!([])),
    ]);
    let line = line(GeminiCodec, &parameters);
    let value: Value = serde_json::from_slice(&line).expect("valid JSON");
    assert_eq!(value["key"], "r-1");
    let request = &value["request"];
    assert_eq!(
        request["systemInstruction"]["parts"][0]["text"],
        "Label it."
    );
    assert_eq!(request["contents"][0]["role"], "user");
    assert_eq!(request["contents"][1]["role"], "model");
    assert_eq!(request["generationConfig"]["maxOutputTokens"], 20);
    assert_eq!(
        request["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        request["generationConfig"]["responseSchema"]["type"],
        "OBJECT"
    );
    assert_eq!(request["safetySettings"], json!([]));
    assert_eq!(GeminiCodec.request_custom_id(&line).as_deref(), Some("r-1"));
    let text = std::str::from_utf8(&line).unwrap();
    let conversation = GeminiCodec.conversation(text).unwrap();
    assert_eq!(conversation.system.as_deref(), Some("Label it."));
    assert_eq!(conversation.messages[1].0, "assistant");
    let again: Value =
        serde_json::from_str(&GeminiCodec.add_feedback(text, "{}", "try again").unwrap()).unwrap();
    assert_eq!(
        again["request"]["contents"][3]["parts"][0]["text"],
        "try again"
    );
}

#[test]
fn result_lines_answers_blocks_and_errors() {
    let answered = br#"{"key":"r-1","response":{"candidates":[{"content":{"parts":[{"text":"{\"s\":","thought":false},{"text":"\"A\"}"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"thoughtsTokenCount":2,"cachedContentTokenCount":4,"totalTokenCount":14},"modelVersion":"gemini-2.5-flash"}}"#;
    let decoded = GeminiCodec.decode_result_line(answered).expect("readable");
    assert_eq!(decoded.custom_id, "r-1");
    let LineResult::Answered(answer) = decoded.result else {
        panic!("{decoded:?}")
    };
    assert_eq!(answer.content.as_deref(), Some(r#"{"s":"A"}"#));
    assert_eq!(answer.usage.output_tokens, 5);
    assert_eq!(answer.usage.cached_input_tokens, 4);
    let cut = br#"{"key":"r-2","response":{"candidates":[{"content":{"parts":[{"text":"{"}]},"finishReason":"MAX_TOKENS"}]}}"#;
    let LineResult::Answered(answer) = GeminiCodec.decode_result_line(cut).unwrap().result else {
        panic!()
    };
    assert_eq!(answer.finish, Finish::Truncated);
    let blocked = br#"{"key":"r-3","response":{"promptFeedback":{"blockReason":"SAFETY"}}}"#;
    let LineResult::Answered(answer) = GeminiCodec.decode_result_line(blocked).unwrap().result
    else {
        panic!()
    };
    assert_eq!(answer.finish, Finish::Filtered);
    assert!(answer.content.is_none());
    let failed =
        br#"{"key":"r-4","error":{"code":400,"message":"bad schema","status":"INVALID_ARGUMENT"}}"#;
    assert!(matches!(
        GeminiCodec.decode_result_line(failed).unwrap().result,
        LineResult::Rejected { status: 400, ref message } if message == "bad schema (INVALID_ARGUMENT)"
    ));
    assert!(GeminiCodec.decode_result_line(b"nope").is_none());
    let refused = GeminiCodec.decode_answer(
        429,
        r#"{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert!(matches!(refused, LineResult::Rejected { status: 429, .. }));
}
