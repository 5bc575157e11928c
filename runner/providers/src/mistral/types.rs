//! Mistral's batch job and list objects, read leniently: fields a host may
//! leave out default.

use serde::Deserialize;

/// A batch job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum JobStatus {
    Queued,
    Running,
    Success,
    Failed,
    TimeoutExceeded,
    CancellationRequested,
    Cancelled,
}

/// One whole-job error.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JobError {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) count: Option<u64>,
}

/// `BatchJobOut`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchJob {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) input_files: Vec<String>,
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub(crate) output_file: Option<String>,
    #[serde(default)]
    pub(crate) error_file: Option<String>,
    #[serde(default)]
    pub(crate) errors: Vec<JobError>,
    pub(crate) status: JobStatus,
    pub(crate) created_at: i64,
    #[serde(default)]
    pub(crate) total_requests: u64,
    #[serde(default)]
    pub(crate) succeeded_requests: u64,
    #[serde(default)]
    pub(crate) failed_requests: u64,
}

/// A page of a list (`{"data", "object": "list", "total"}`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) total: Option<u64>,
}

/// An uploaded file, as listed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FileEntry {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) filename: String,
    #[serde(default)]
    pub(crate) bytes: Option<u64>,
}
