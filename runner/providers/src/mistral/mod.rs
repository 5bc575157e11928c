//! Mistral's batch API: a shard is uploaded through `/v1/files`
//! (`purpose=batch`, as OpenAI's), a job is created at `/v1/batch/jobs` over it with the
//! shard's tags as `metadata`, polled by `status`, and its output and error files downloaded
//! from `/v1/files/{id}/content`. Lines are `{"custom_id", "body"}` (see `codec.rs`).
//!
//! Jobs carry metadata, so a lost upload or create is found by looking, as with OpenAI
//! (`BatchIdentity::Tagged`): by file name, then by the tags of jobs created since.

use crate::http::{Effect, Transport};
use crate::{ApiKey, OpenAiClient, ProviderError, RetryPolicy};
use types::{BatchJob, FileEntry, Page};

mod codec;
pub(crate) mod prices;
mod provider;
mod types;

pub use codec::MistralCodec;

/// Mistral's own API.
pub const MISTRAL_BASE_URL: &str = "https://api.mistral.ai";

/// Jobs and files asked for per page when listing.
const PAGE_SIZE: u64 = 100;

/// A client for one base URL and key.
#[derive(Clone, Debug)]
pub struct MistralClient {
    /// Files (upload, download, delete) and chat: the same routes as OpenAI's.
    files: OpenAiClient,
    /// The model every job runs (Mistral jobs name it; lines may leave it out).
    model: String,
}

/// `base_url` with `/v1` (given with or without it).
fn api_root(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    if trimmed.ends_with("/v1") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1")
    }
}

impl MistralClient {
    /// A client for `base_url` (e.g. `https://api.mistral.ai`) running `model`.
    pub fn new(base_url: &str, api_key: Option<ApiKey>, retry: RetryPolicy, model: &str) -> Self {
        Self {
            files: OpenAiClient::new(&api_root(base_url), api_key, retry),
            model: model.to_string(),
        }
    }

    fn transport(&self) -> &Transport {
        self.files.transport()
    }

    fn http(&self) -> &reqwest::Client {
        &self.transport().http
    }

    /// The uploaded `purpose=batch` file named `filename`, if any (newest first).
    pub(crate) async fn find_upload(
        &self,
        filename: &str,
    ) -> Result<Option<FileEntry>, ProviderError> {
        let url = self.transport().url("/files");
        for page in 0.. {
            let listed: Page<FileEntry> = self
                .transport()
                .json("list files", Effect::Idempotent, || {
                    let query = [
                        ("purpose", "batch".to_string()),
                        ("page", page.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("search", filename.to_string()),
                    ];
                    Ok(self.http().get(&url).query(&query))
                })
                .await?;
            if let Some(found) = listed.data.iter().find(|file| file.filename == filename) {
                return Ok(Some(found.clone()));
            }
            if is_last(&listed, page) {
                break;
            }
        }
        Ok(None)
    }

    pub(crate) async fn create_job(
        &self,
        input_file: &str,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<BatchJob, ProviderError> {
        let url = self.transport().url("/batch/jobs");
        let body = serde_json::json!({
            "input_files": [input_file],
            "endpoint": crate::openai::CHAT_COMPLETIONS_URL,
            "model": self.model,
            "metadata": metadata,
            "timeout_hours": 24,
        });
        self.transport()
            .json("create batch job", Effect::CreatesSomething, || {
                Ok(self.http().post(&url).json(&body))
            })
            .await
    }

    pub(crate) async fn retrieve(&self, job_id: &str) -> Result<BatchJob, ProviderError> {
        let url = self.transport().url(&format!("/batch/jobs/{job_id}"));
        self.transport()
            .json("retrieve batch job", Effect::Idempotent, || {
                Ok(self.http().get(&url))
            })
            .await
    }

    pub(crate) async fn cancel(&self, job_id: &str) -> Result<BatchJob, ProviderError> {
        let url = self
            .transport()
            .url(&format!("/batch/jobs/{job_id}/cancel"));
        self.transport()
            .json("cancel batch job", Effect::Idempotent, || {
                Ok(self.http().post(&url))
            })
            .await
    }

    /// Every job created after `since` (with slack for clock skew) whose metadata includes
    /// `metadata`, newest first.
    pub(crate) async fn scan_jobs(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
        since: i64,
    ) -> Result<Vec<BatchJob>, ProviderError> {
        let url = self.transport().url("/batch/jobs");
        let after = since - 300;
        let mut found = Vec::new();
        for page in 0.. {
            let listed: Page<BatchJob> = self
                .transport()
                .json("list batch jobs", Effect::Idempotent, || {
                    let query = [
                        ("page", page.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                        ("created_after", rfc3339(after)),
                    ];
                    Ok(self.http().get(&url).query(&query))
                })
                .await?;
            let mut older = false;
            for job in &listed.data {
                let matches = job.metadata.as_ref().is_some_and(|present| {
                    metadata
                        .iter()
                        .all(|(key, value)| present.get(key) == Some(value))
                });
                if matches && job.created_at >= after {
                    found.push(job.clone());
                }
                older |= job.created_at < after;
            }
            if older || is_last(&listed, page) {
                break;
            }
        }
        Ok(found)
    }

    pub(crate) fn files(&self) -> &OpenAiClient {
        &self.files
    }
}

/// Whether `page` (0-based) of a list is its last.
fn is_last<T>(listed: &Page<T>, page: u64) -> bool {
    listed.data.is_empty()
        || listed
            .total
            .is_none_or(|total| (page + 1) * PAGE_SIZE >= total)
}

/// Unix seconds as RFC 3339 UTC (`2026-11-27T13:44:09Z`).
pub(crate) fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for any date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_and_roots() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_787_049), "2026-11-27T13:44:09Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::api_root("http://h:1/"), "http://h:1/v1");
        assert_eq!(super::api_root("http://h:1/v1"), "http://h:1/v1");
    }
}
