//! The Gemini API's File, batch (`GenerateContentBatch`, inside a long-running Operation) and
//! list objects, read leniently: int64 counts come as strings, states under both spellings.

use serde::{Deserialize, Deserializer};

use crate::BatchState;

/// A batch's state from `BATCH_STATE_*` (the wire) or `JOB_STATE_*` (the SDK's and the REST
/// guide's spelling).
pub(crate) fn batch_state(text: &str) -> Option<BatchState> {
    let name = text
        .strip_prefix("BATCH_STATE_")
        .or_else(|| text.strip_prefix("JOB_STATE_"))?;
    Some(match name {
        "UNSPECIFIED" | "QUEUED" | "PENDING" => BatchState::Validating,
        "RUNNING" | "UPDATING" | "PAUSED" => BatchState::InProgress,
        "SUCCEEDED" | "PARTIALLY_SUCCEEDED" => BatchState::Completed,
        "FAILED" => BatchState::Failed,
        "CANCELLING" => BatchState::Cancelling,
        "CANCELLED" => BatchState::Cancelled,
        "EXPIRED" => BatchState::Expired,
        _ => return None,
    })
}

/// A count sent as a JSON string or number.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    match Count::deserialize(deserializer)? {
        Count::Number(number) => Ok(number),
        Count::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// An uploaded file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct File {
    /// `files/<id>`.
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    #[serde(default, deserialize_with = "count")]
    pub(crate) size_bytes: u64,
}

/// The answer to the last upload request: `{"file": File}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Uploaded {
    pub(crate) file: File,
}

/// A page of files.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilePage {
    #[serde(default)]
    pub(crate) files: Vec<File>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(clippy::struct_field_names, reason = "the API's own field names")]
pub(crate) struct BatchStats {
    #[serde(default, deserialize_with = "count")]
    pub(crate) request_count: u64,
    #[serde(default, deserialize_with = "count")]
    pub(crate) successful_request_count: u64,
    #[serde(default, deserialize_with = "count")]
    pub(crate) failed_request_count: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InputConfig {
    #[serde(default)]
    pub(crate) file_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Output {
    #[serde(default)]
    pub(crate) responses_file: Option<String>,
}

/// A `GenerateContentBatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Batch {
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) create_time: Option<String>,
    #[serde(default, rename = "batchStats")]
    pub(crate) stats: Option<BatchStats>,
    #[serde(default)]
    pub(crate) input_config: Option<InputConfig>,
    #[serde(default)]
    pub(crate) output: Option<Output>,
}

/// Why an operation failed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Status {
    #[serde(default)]
    pub(crate) code: Option<i64>,
    #[serde(default)]
    pub(crate) message: String,
}

/// A batch as the API returns it: an Operation named `batches/<id>` whose `metadata` is the
/// batch; once done, `response` may repeat its output and `error` says why it failed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Operation {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) metadata: Batch,
    #[serde(default)]
    pub(crate) response: Option<Output>,
    #[serde(default)]
    pub(crate) error: Option<Status>,
}

/// A page of batches.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OperationPage {
    #[serde(default)]
    pub(crate) operations: Vec<Operation>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_under_both_spellings() {
        let expected = [
            ("UNSPECIFIED", BatchState::Validating),
            ("QUEUED", BatchState::Validating),
            ("PENDING", BatchState::Validating),
            ("RUNNING", BatchState::InProgress),
            ("UPDATING", BatchState::InProgress),
            ("PAUSED", BatchState::InProgress),
            ("SUCCEEDED", BatchState::Completed),
            ("PARTIALLY_SUCCEEDED", BatchState::Completed),
            ("FAILED", BatchState::Failed),
            ("CANCELLING", BatchState::Cancelling),
            ("CANCELLED", BatchState::Cancelled),
            ("EXPIRED", BatchState::Expired),
        ];
        for (name, state) in expected {
            for prefix in ["BATCH_STATE_", "JOB_STATE_"] {
                assert_eq!(
                    batch_state(&format!("{prefix}{name}")),
                    Some(state),
                    "{prefix}{name}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_state_is_none() {
        for text in [
            "BATCH_STATE_EXPLODED",
            "JOB_STATE_",
            "SUCCEEDED",
            "STATE_SUCCEEDED",
            "batch_state_succeeded",
            "",
        ] {
            assert_eq!(batch_state(text), None, "{text}");
        }
    }

    #[test]
    fn an_operation_reads_with_counts_as_strings_or_numbers() {
        let operation: Operation = serde_json::from_value(serde_json::json!({
            "name": "batches/b1",
            "metadata": {"state": "JOB_STATE_RUNNING", "displayName": "d",
                "batchStats": {"requestCount": "4", "successfulRequestCount": 1}},
        }))
        .expect("an operation");
        let stats = operation.metadata.stats.expect("stats");
        assert_eq!(
            (stats.request_count, stats.successful_request_count),
            (4, 1)
        );
        assert_eq!(
            operation.metadata.state.as_deref(),
            Some("JOB_STATE_RUNNING")
        );
    }
}
