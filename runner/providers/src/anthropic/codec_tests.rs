use super::*;

fn line(codec: AnthropicCodec, system: Option<&str>) -> Vec<u8> {
    let parameters = serde_json::Map::from_iter([
        ("temperature".to_string(), Value::from(0)),
        ("max_completion_tokens".to_string(), Value::from(50)),
    ]);
    let schema = json!({"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["a", "b"]}}, "required": ["sentiment"], "additionalProperties": false});
    let shape = RequestShape {
        model: "claude-haiku-4-5",
        parameters: &parameters,
        schema_name: "labels",
        schema: &schema,
    };
    let encoder = codec.encoder(&shape).expect("encoder");
    crate::codec::encode_line(encoder.as_ref(), system, &[("user", "great \"stuff\"")])
}

#[test]
fn output_format_lines_are_messages_requests() {
    let codec = AnthropicCodec::default();
    let line = line(codec, Some("Label it."));
    assert_eq!(line.last(), Some(&b'\n'));
    let value: Value = serde_json::from_slice(&line).expect("valid JSON");
    assert_eq!(value["custom_id"], "r-1");
    let params = &value["params"];
    assert_eq!(params["model"], "claude-haiku-4-5");
    assert_eq!(params["max_tokens"], 50);
    assert!(params.get("max_completion_tokens").is_none());
    assert_eq!(params["temperature"], 0);
    // The system prompt is the cacheable prefix's end: one text block marked for the cache.
    assert_eq!(
        params["system"],
        serde_json::json!([{"type": "text", "text": "Label it.",
            "cache_control": {"type": "ephemeral"}}])
    );
    let conversation = codec
        .conversation(std::str::from_utf8(&line).unwrap().trim())
        .unwrap();
    assert_eq!(conversation.system.as_deref(), Some("Label it."));
    assert_eq!(params["messages"][0]["role"], "user");
    assert_eq!(params["messages"][0]["content"], "great \"stuff\"");
    assert_eq!(params["output_config"]["format"]["type"], "json_schema");
    assert_eq!(
        params["output_config"]["format"]["schema"]["required"][0],
        "sentiment"
    );
    assert_eq!(codec.request_custom_id(&line).as_deref(), Some("r-1"));
    assert_eq!(
        codec
            .request_body(std::str::from_utf8(&line).unwrap())
            .unwrap()["model"],
        "claude-haiku-4-5"
    );
}

#[test]
fn tool_lines_force_the_tool_and_read_its_input() {
    let codec = AnthropicCodec {
        output: AnthropicOutput::Tool,
    };
    let line = line(codec, None);
    let value: Value = serde_json::from_slice(&line).expect("valid JSON");
    let params = &value["params"];
    assert!(params.get("system").is_none());
    assert_eq!(params["tools"][0]["name"], "labels");
    assert_eq!(params["tool_choice"]["name"], "labels");
    assert_eq!(params["tool_choice"]["type"], "tool");
    let result = br#"{"custom_id":"r-1","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"tool_use","id":"toolu_1","name":"labels","input":{"sentiment":"a"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":4,"cache_creation_input_tokens":0}}}}"#;
    let decoded = codec.decode_result_line(result).expect("readable");
    assert_eq!(decoded.custom_id, "r-1");
    let LineResult::Answered(answer) = decoded.result else {
        panic!("not answered")
    };
    assert_eq!(answer.content.as_deref(), Some(r#"{"sentiment":"a"}"#));
    assert_eq!(answer.usage.input_tokens, 14);
    assert_eq!(answer.usage.cached_input_tokens, 4);
    assert_eq!(answer.usage.output_tokens, 5);
    assert_eq!(
        answer.model_snapshot.as_deref(),
        Some("claude-haiku-4-5-20251001")
    );
}

#[test]
fn every_result_type_becomes_a_neutral_result() {
    let codec = AnthropicCodec::default();
    let text = br#"{"custom_id":"a","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"{\"x\":1}"}],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2}}}}"#;
    let LineResult::Answered(answer) = codec.decode_result_line(text).unwrap().result else {
        panic!("not answered")
    };
    assert_eq!(answer.content.as_deref(), Some(r#"{"x":1}"#));
    assert_eq!(answer.finish, Finish::Truncated);
    let refused = br#"{"custom_id":"a","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"I can't."}],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":2}}}}"#;
    let LineResult::Answered(answer) = codec.decode_result_line(refused).unwrap().result else {
        panic!("not answered")
    };
    assert_eq!(answer.refusal.as_deref(), Some("I can't."));
    assert!(answer.content.is_none());
    let errored = br#"{"custom_id":"b","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}}}"#;
    assert!(matches!(
        codec.decode_result_line(errored).unwrap().result,
        LineResult::Rejected { status: 529, ref message } if message == "Overloaded (overloaded_error)"
    ));
    for (kind, reason) in [
        ("canceled", NotRun::Cancelled),
        ("expired", NotRun::Expired),
    ] {
        let line = format!(r#"{{"custom_id":"c","result":{{"type":"{kind}"}}}}"#);
        assert!(matches!(
            codec.decode_result_line(line.as_bytes()).unwrap().result,
            LineResult::NotRun { reason: got, .. } if got == reason
        ));
    }
    assert!(codec.decode_result_line(b"{\"custom_id\":\"d\"").is_none());
    let rejected = codec.decode_answer(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
    );
    assert!(matches!(rejected, LineResult::Rejected { status: 429, .. }));
}

#[test]
fn feedback_appends_an_assistant_and_a_user_turn() {
    let codec = AnthropicCodec::default();
    let line = line(codec, Some("Label it."));
    let again = codec
        .add_feedback(std::str::from_utf8(&line).unwrap(), "", "use a label")
        .unwrap();
    let value: Value = serde_json::from_str(&again).unwrap();
    let messages = value["params"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], "(no answer)");
    assert_eq!(messages[2]["content"], "use a label");
}
