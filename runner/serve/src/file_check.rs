//! Whole-file validation of a batch input file, as OpenAI checks one before running it: every line parses, uses
//! `POST` and the batch's endpoint, names one model, has a unique custom_id, asks for
//! nothing this server cannot do (`stream: true`, `n > 1`), and the file is neither empty
//! nor over the per-file request cap. Problems fail the batch with `errors.data[]` entries,
//! as OpenAI does, rather than a 400 on create.
//!
//! Azure's rules differ: `body.model` (the deployment name) is required on
//! every line (`model_not_found` where absent), a UTF-8 BOM fails the file, a line's url may
//! be spelled `/chat/completions` or `/v1/chat/completions`, and an empty file is
//! `empty_batch`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use batchlabel_protocol::BatchError;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::routes::Front;

/// A valid input line: its custom_id and where its body is in the file's bytes.
#[derive(Debug)]
pub(crate) struct CheckedLine {
    pub(crate) custom_id: String,
    pub(crate) body: Range<usize>,
}

/// The parts of an input line the check reads; the body stays raw (no copy, no tree).
#[derive(Deserialize)]
struct LineView<'a> {
    #[serde(borrow)]
    custom_id: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct BodyView<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    n: Option<&'a RawValue>,
}

/// A request option this server refuses: the parameter, a code and why.
pub(crate) struct Unsupported {
    pub(crate) param: &'static str,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// `stream: true` and `n > 1` are refused, never ignored: a client asking for them would
/// otherwise get an answer of another shape (one message, not a stream or n choices).
pub(crate) fn unsupported(stream: Option<&RawValue>, n: Option<&RawValue>) -> Option<Unsupported> {
    match stream.map(RawValue::get) {
        None | Some("false") => {}
        Some("true") => {
            return Some(Unsupported {
                param: "stream",
                code: "unsupported_value",
                message: "This server does not support streaming: send the request without `stream: true`.".into(),
            });
        }
        Some(other) => {
            return Some(Unsupported {
                param: "stream",
                code: "invalid_type",
                message: format!(
                    "Invalid type for 'stream': expected a boolean, but got `{other}`."
                ),
            });
        }
    }
    match n.map(|raw| (raw.get(), raw.get().parse::<u64>())) {
        None | Some((_, Ok(1))) => None,
        Some((_, Ok(count))) if count > 1 => Some(Unsupported {
            param: "n",
            code: "unsupported_value",
            message: format!(
                "This server answers one choice per request: `n` must be 1, not {count}."
            ),
        }),
        Some((text, _)) => Some(Unsupported {
            param: "n",
            code: "invalid_value",
            message: format!("Invalid value for 'n': `{text}`; this server supports only 1."),
        }),
    }
}

/// Whether a line's url is the batch's endpoint; Azure takes either spelling of it.
fn url_matches(url: &str, endpoint: &str, front: Front) -> bool {
    match front {
        Front::OpenAi => url == endpoint,
        Front::Azure => {
            let bare = |path: &'_ str| path.strip_prefix("/v1").unwrap_or(path).to_string();
            bare(url) == bare(endpoint)
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Most errors reported per file.
const MAX_ERRORS: usize = 50;

/// Check `content`; on success return its parsed lines.
pub(crate) fn check_file(
    content: &[u8],
    endpoint: &str,
    max_requests: u64,
    front: Front,
) -> Result<Vec<CheckedLine>, Vec<BatchError>> {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    let mut seen = HashSet::new();
    let mut model: Option<String> = None;
    // One model per file is OpenAI's rule; a message batch may mix models.
    let one_model = endpoint != crate::anthropic::INTERNAL_ENDPOINT;
    let error = |code: &str, message: String, line: u64| BatchError {
        code: code.into(),
        message,
        param: None,
        line: Some(line),
    };
    if front == Front::Azure && content.starts_with(BOM) {
        return Err(vec![error(
            "invalid_json_line",
            "The input file starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without a BOM.".into(),
            1,
        )]);
    }
    let mut offset = 0;
    for (index, raw) in content.split(|byte| *byte == b'\n').enumerate() {
        let line_start = offset;
        offset += raw.len() + 1;
        let number = index as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let Ok(line) = serde_json::from_slice::<LineView<'_>>(raw) else {
            {
                errors.push(error(
                    "invalid_json_line",
                    "This line is not parseable as valid JSON.".into(),
                    number,
                ));
                continue;
            }
        };
        if line.method != "POST" {
            errors.push(error(
                "invalid_request",
                format!("The method `{}` is not supported; only POST.", line.method),
                number,
            ));
        }
        if !url_matches(&line.url, endpoint, front) {
            errors.push(error(
                "url_mismatch",
                format!(
                    "The url `{}` does not match the batch endpoint `{endpoint}`.",
                    line.url
                ),
                number,
            ));
        }
        let body = serde_json::from_str::<BodyView<'_>>(line.body.get()).ok();
        if let Some(problem) = body
            .as_ref()
            .and_then(|body| unsupported(body.stream, body.n))
        {
            errors.push(BatchError {
                param: Some(format!("body.{}", problem.param)),
                ..error("invalid_request", problem.message, number)
            });
        }
        let line_model = body
            .and_then(|body| body.model)
            .unwrap_or_default()
            .into_owned();
        match &model {
            _ if front == Front::Azure && line_model.is_empty() => errors.push(error(
                "model_not_found",
                "body.model is required on every line: the name of the batch deployment.".into(),
                number,
            )),
            None => model = Some(line_model),
            Some(first) if *first != line_model && one_model => errors.push(error(
                "model_mismatch",
                format!("The model `{line_model}` differs from the file's first model `{first}`."),
                number,
            )),
            Some(_) => {}
        }
        if !seen.insert(line.custom_id.to_string()) {
            errors.push(error(
                "duplicate_custom_id",
                format!(
                    "The custom_id `{}` appears more than once in this file.",
                    line.custom_id
                ),
                number,
            ));
        }
        // The body is a slice of `raw`, itself a slice of `content`: its offset locates it.
        let body_start = line_start + (line.body.get().as_ptr() as usize - raw.as_ptr() as usize);
        lines.push(CheckedLine {
            custom_id: line.custom_id.into_owned(),
            body: body_start..body_start + line.body.get().len(),
        });
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push(BatchError {
            code: match front {
                Front::OpenAi => "empty_file",
                Front::Azure => "empty_batch",
            }
            .into(),
            message: "The input file is empty. Please ensure that the batch contains at least one request.".into(),
            param: None,
            line: None,
        });
    }
    if lines.len() as u64 > max_requests {
        errors.push(BatchError {
            code: "too_many_tasks".into(),
            message: format!(
                "The batch input file has {} requests; at most {max_requests} are allowed.",
                lines.len()
            ),
            param: None,
            line: None,
        });
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(custom_id: &str, url: &str, model: &str) -> String {
        format!(
            r#"{{"custom_id":"{custom_id}","method":"POST","url":"{url}","body":{{"model":"{model}"}}}}"#
        )
    }

    #[test]
    fn reports_each_kind_of_problem_with_its_line() {
        let endpoint = "/v1/chat/completions";
        let content = [
            line("a", endpoint, "m"),
            line("a", endpoint, "m"),
            line("b", "/v1/embeddings", "m"),
            line("c", endpoint, "other"),
            "{not json".into(),
        ]
        .join("\n");
        let errors = check_file(content.as_bytes(), endpoint, 10, Front::OpenAi).unwrap_err();
        let codes: Vec<(&str, Option<u64>)> = errors
            .iter()
            .map(|error| (error.code.as_str(), error.line))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("duplicate_custom_id", Some(2)),
                ("url_mismatch", Some(3)),
                ("model_mismatch", Some(4)),
                ("invalid_json_line", Some(5)),
            ]
        );
    }

    #[test]
    fn empty_and_oversized_files_fail() {
        let endpoint = "/v1/chat/completions";
        assert_eq!(
            check_file(b"\n", endpoint, 10, Front::OpenAi).unwrap_err()[0].code,
            "empty_file"
        );
        let content = (0..3)
            .map(|index| line(&index.to_string(), endpoint, "m"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            check_file(content.as_bytes(), endpoint, 2, Front::OpenAi).unwrap_err()[0].code,
            "too_many_tasks"
        );
    }

    #[test]
    fn refuses_streaming_and_several_choices() {
        let endpoint = "/v1/chat/completions";
        let content = [
            r#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","stream":true}}"#,
            r#"{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"m","n":3}}"#,
            r#"{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"model":"m","n":1,"stream":false}}"#,
        ]
        .join("\n");
        let errors = check_file(content.as_bytes(), endpoint, 10, Front::OpenAi).unwrap_err();
        let found: Vec<(&str, Option<&str>, Option<u64>)> = errors
            .iter()
            .map(|error| (error.code.as_str(), error.param.as_deref(), error.line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("invalid_request", Some("body.stream"), Some(1)),
                ("invalid_request", Some("body.n"), Some(2)),
            ]
        );
    }

    #[test]
    fn azure_rules_differ() {
        let both = [
            line("a", "/chat/completions", "dep"),
            line("b", "/v1/chat/completions", "dep"),
        ]
        .join("\n");
        assert!(check_file(both.as_bytes(), "/chat/completions", 10, Front::Azure).is_ok());
        assert_eq!(
            check_file(both.as_bytes(), "/v1/chat/completions", 10, Front::OpenAi).unwrap_err()[0]
                .code,
            "url_mismatch"
        );
        let endpoint = "/v1/chat/completions";
        let models = [
            line("a", endpoint, "dep"),
            line("b", endpoint, "other"),
            r#"{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{}}"#.into(),
        ]
        .join("\n");
        let errors = check_file(models.as_bytes(), endpoint, 10, Front::Azure).unwrap_err();
        let codes: Vec<(&str, Option<u64>)> = errors
            .iter()
            .map(|error| (error.code.as_str(), error.line))
            .collect();
        assert_eq!(
            codes,
            vec![("model_mismatch", Some(2)), ("model_not_found", Some(3))]
        );
        let bom = format!("\u{feff}{}", line("a", endpoint, "dep"));
        let errors = check_file(bom.as_bytes(), endpoint, 10, Front::Azure).unwrap_err();
        assert_eq!(
            (errors[0].code.as_str(), errors[0].line),
            ("invalid_json_line", Some(1))
        );
        assert!(errors[0].message.contains("BOM"));
        assert_eq!(
            check_file(b"", endpoint, 10, Front::Azure).unwrap_err()[0].code,
            "empty_batch"
        );
    }
}
