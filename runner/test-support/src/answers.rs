//! The fake's answers in OpenAI's batch output format (the format
//! [`OpenAiCodec`](batchlabel_providers::OpenAiCodec) reads): output lines
//! `{"id","custom_id","response":{"status_code","request_id","body": chat.completion},"error"}`
//! and error-file lines for HTTP errors and requests that never ran.

use serde_json::{Value, json};

use batchlabel_serve::answer_for_schema;

use crate::LineFate;

/// Where one request's result line goes.
pub(crate) enum Placement {
    /// The output file.
    Output(String),
    /// The error file.
    Errors(String),
    /// Neither file.
    Nowhere,
}

/// A small deterministic hash (FNV-1a), to vary answers by request.
pub(crate) fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A chat completion answering `request` (a request line) with `content` or `refusal`.
fn completion(
    request: &Value,
    content: Option<&str>,
    refusal: Option<&str>,
    finish: &str,
) -> Value {
    let body = &request["body"];
    let model = body["model"].as_str().unwrap_or("model");
    let prompt_tokens: u64 = body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|message| message["content"].as_str().map_or(0, str::len) as u64 / 4 + 4)
                .sum()
        })
        .unwrap_or_default();
    let completion_tokens = content.map_or(1, |text| text.len() as u64 / 4 + 1);
    json!({
        "id": format!("chatcmpl-fake-{:016x}", hash(&request.to_string())),
        "object": "chat.completion",
        "created": 0,
        "model": format!("{model}-fake"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish,
            "logprobs": null
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}

/// The schema-valid answer to a request line.
fn schema_answer(request: &Value, custom_id: &str) -> String {
    let schema = &request["body"]["response_format"]["json_schema"]["schema"];
    answer_for_schema(schema, hash(custom_id)).to_string()
}

fn error_body(status: u16) -> Value {
    let kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    json!({"error": {"message": format!("fake HTTP {status}"), "type": kind, "param": null, "code": null}})
}

/// What a request's answer is: an HTTP status and a body (`None`: no answer at all).
pub(crate) fn answer(
    request_line: &str,
    custom_id: &str,
    fate: &LineFate,
) -> Option<(u16, String)> {
    let request: Value = serde_json::from_str(request_line).unwrap_or(Value::Null);
    let body = match fate {
        LineFate::Answer => completion(
            &request,
            Some(&schema_answer(&request, custom_id)),
            None,
            "stop",
        ),
        LineFate::Content(content) => completion(&request, Some(content.as_str()), None, "stop"),
        LineFate::Refusal(text) => completion(&request, None, Some(text.as_str()), "stop"),
        LineFate::Truncated => completion(
            &request,
            Some(&schema_answer(&request, custom_id)),
            None,
            "length",
        ),
        LineFate::HttpError(status) => return Some((*status, error_body(*status).to_string())),
        // Half a chat completion: the body itself is broken.
        LineFate::Malformed => {
            let text = completion(&request, Some("{}"), None, "stop").to_string();
            return Some((200, cut_in_half(&text).to_string()));
        }
        LineFate::Missing => return None,
    };
    Some((200, body.to_string()))
}

/// The first half of `text`.
fn cut_in_half(text: &str) -> &str {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The result line of a request that ran.
pub(crate) fn result_line(
    batch_id: &str,
    index: usize,
    custom_id: &str,
    request_line: &str,
    fate: &LineFate,
) -> Placement {
    let Some((status, body)) = answer(request_line, custom_id, fate) else {
        return Placement::Nowhere;
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let line = json!({
        "id": format!("batch_req_{batch_id}_{index}"),
        "custom_id": custom_id,
        "response": {
            "status_code": status,
            "request_id": format!("req_{batch_id}_{index}"),
            "body": body
        },
        "error": null
    })
    .to_string();
    match fate {
        LineFate::Malformed => Placement::Output(cut_in_half(&line).to_string()),
        _ if status == 200 => Placement::Output(line),
        _ => Placement::Errors(line),
    }
}

/// The error-file line of a request that never ran (`batch_expired`, `batch_cancelled`).
pub(crate) fn not_run_line(batch_id: &str, index: usize, custom_id: &str, code: &str) -> String {
    json!({
        "id": format!("batch_req_{batch_id}_{index}"),
        "custom_id": custom_id,
        "response": null,
        "error": {"code": code, "message": format!("the request did not run ({code})")}
    })
    .to_string()
}
