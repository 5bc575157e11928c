//! Whole-file validation of a batch input file (protocols.md §3): every line parses, uses
//! `POST` and the batch's endpoint, names one model, has a unique custom_id, and the file is
//! neither empty nor over the per-file request cap. Problems fail the batch with
//! `errors.data[]` entries, as OpenAI does, rather than a 400 on create.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use batchlabel_protocol::BatchError;
use serde::Deserialize;
use serde_json::value::RawValue;

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
}

/// Most errors reported per file.
const MAX_ERRORS: usize = 50;

/// Check `content`; on success return its parsed lines.
pub(crate) fn check_file(
    content: &[u8],
    endpoint: &str,
    max_requests: u64,
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
        if line.url != endpoint {
            errors.push(error(
                "url_mismatch",
                format!(
                    "The url `{}` does not match the batch endpoint `{endpoint}`.",
                    line.url
                ),
                number,
            ));
        }
        let line_model = serde_json::from_str::<BodyView<'_>>(line.body.get())
            .ok()
            .and_then(|body| body.model)
            .unwrap_or_default()
            .into_owned();
        match &model {
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
            code: "empty_file".into(),
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
        let errors = check_file(content.as_bytes(), endpoint, 10).unwrap_err();
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
            check_file(b"\n", endpoint, 10).unwrap_err()[0].code,
            "empty_file"
        );
        let content = (0..3)
            .map(|index| line(&index.to_string(), endpoint, "m"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            check_file(content.as_bytes(), endpoint, 2).unwrap_err()[0].code,
            "too_many_tasks"
        );
    }
}
