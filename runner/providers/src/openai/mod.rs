//! The OpenAI Files + Batches client (protocols.md §1–§2, §5). It works with any server that
//! speaks the protocol: set the base URL.
//!
//! Calls that change remote state (upload, create) are not blindly retried after a lost
//! answer: they report [`ProviderError::Ambiguous`] so the caller looks for the object (by
//! file name or batch metadata) before trying again. That is what makes a shard become
//! exactly one batch.

use std::path::Path;
use std::time::Duration;

use batchlabel_protocol::{Batch, CreateBatch, FileObject, ListPage};
use reqwest::header::HeaderMap;

use crate::{ApiKey, ProviderError, RetryPolicy};
use errors::{api_error, describe};

mod codec;
mod download;
mod errors;
pub(crate) mod prices;
mod provider;

pub use codec::OpenAiCodec;
#[cfg(test)]
mod tests;

/// A client for one base URL and key.
#[derive(Clone)]
pub struct OpenAiClient {
    /// The base URL as given, password included: only ever used to send requests.
    api_url: String,
    /// The base URL without any `user:password@`: the only form that is ever shown.
    display_url: String,
    api_key: Option<ApiKey>,
    /// What must never appear in an error: the key, the URL's password.
    secrets: crate::Secrets,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Requests repeated after a retryable answer or a failed connection (shared by clones).
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiClient")
            .field("base_url", &self.display_url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// Whether a call may be repeated without a second effect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    Idempotent,
    CreatesSomething,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl OpenAiClient {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(base_url: &str, api_key: Option<ApiKey>, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_mins(10))
            .build()
            .unwrap_or_default();
        let base_url = base_url.trim_end_matches('/').to_string();
        Self {
            display_url: crate::redact_userinfo(&base_url),
            secrets: crate::Secrets::new(api_key.as_ref(), &base_url),
            api_url: base_url,
            api_key,
            http,
            retry,
            retries: std::sync::Arc::default(),
        }
    }

    /// How many requests were repeated so far (after 429s, 5xx, dropped connections).
    pub fn retries_made(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The base URL as it may be shown: any password in it is masked.
    pub fn base_url(&self) -> &str {
        &self.display_url
    }

    /// `error` with this client's key and every other secret removed from its text.
    fn redact(&self, error: ProviderError) -> ProviderError {
        error.redacted(&self.secrets)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    fn unreachable(&self, operation: &str, error: &reqwest::Error) -> ProviderError {
        ProviderError::Unreachable {
            operation: operation.into(),
            base_url: self.display_url.clone(),
            message: describe(error),
        }
    }

    /// Send with retries; the body is read fully.
    async fn send(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError>,
    ) -> Result<Answer, ProviderError> {
        let mut attempt = 0;
        loop {
            let request = self.authorize(build()?);
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok((status, headers, body.to_vec())),
                        Err(error) => Err(error),
                    }
                }
                Err(error) => Err(error),
            };
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    // A refused connection never reached the server; anything later might have.
                    let safe = error.is_connect() || effect == Effect::Idempotent;
                    if !safe {
                        return Err(ProviderError::Ambiguous {
                            operation: operation.into(),
                            message: describe(&error),
                        });
                    }
                    match self.retry_delay(attempt, None) {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            self.retries
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            continue;
                        }
                        None => return Err(self.unreachable(operation, &error)),
                    }
                }
            };
            if (200..300).contains(&status) {
                return Ok(Answer { status, body });
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            let retryable = RetryPolicy::should_retry(status, &headers, &text);
            if retryable && effect == Effect::CreatesSomething && (status >= 500 || status == 408) {
                // The server may have acted before failing.
                return Err(ProviderError::Ambiguous {
                    operation: operation.into(),
                    message: format!("HTTP {status}"),
                });
            }
            if retryable && let Some(delay) = self.retry_delay(attempt, Some(&headers)) {
                tokio::time::sleep(delay).await;
                attempt += 1;
                self.retries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            return Err(api_error(operation, status, &text, &self.secrets));
        }
    }

    fn retry_delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if attempt >= self.retry.max_retries {
            return None;
        }
        self.retry.delay(attempt, headers)
    }

    /// Send, then parse the answer; every call but `download` ends here, so this is where
    /// errors are redacted.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError>,
    ) -> Result<T, ProviderError> {
        let answer = self
            .send(operation, effect, build)
            .await
            .map_err(|error| self.redact(error))?;
        serde_json::from_slice(&answer.body).map_err(|error| {
            self.redact(ProviderError::Protocol {
                operation: operation.into(),
                message: format!(
                    "HTTP {} with a body that is not the expected JSON: {error}",
                    answer.status
                ),
            })
        })
    }

    /// A batch with the provider's own error texts redacted: they are printed and stored.
    async fn batch_json(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError>,
    ) -> Result<Batch, ProviderError> {
        let batch = self.json(operation, effect, build).await?;
        Ok(crate::redact::redact_batch(batch, &self.secrets))
    }

    /// One page of batches, newest first.
    pub async fn list_batches(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ListPage<Batch>, ProviderError> {
        let url = self.url("/batches");
        let mut page: ListPage<Batch> = self
            .json("list batches", Effect::Idempotent, || {
                let mut query = vec![("limit", limit.to_string())];
                if let Some(after) = after {
                    query.push(("after", after.to_string()));
                }
                Ok(self.http.get(&url).query(&query))
            })
            .await?;
        page.data = std::mem::take(&mut page.data)
            .into_iter()
            .map(|batch| crate::redact::redact_batch(batch, &self.secrets))
            .collect();
        Ok(page)
    }

    /// Delete an uploaded file (`DELETE /files/{id}`); one already gone counts as deleted.
    pub(crate) async fn delete_file(&self, file_id: &str) -> Result<(), ProviderError> {
        let url = self.url(&format!("/files/{file_id}"));
        match self
            .send("delete file", Effect::Idempotent, || {
                Ok(self.http.delete(&url))
            })
            .await
        {
            Ok(_) | Err(ProviderError::Api { status: 404, .. }) => Ok(()),
            Err(error) => Err(self.redact(error)),
        }
    }

    /// Send one chat-completions request synchronously (for pilots).
    pub async fn chat(&self, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
        let url = self.url("/chat/completions");
        self.json("chat completion", Effect::Idempotent, || {
            Ok(self.http.post(&url).json(body))
        })
        .await
    }
}

impl OpenAiClient {
    /// The batches created after `since` whose metadata includes `metadata`, newest first.
    pub(crate) async fn scan_batches(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
        since: i64,
    ) -> Result<Vec<Batch>, ProviderError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list_batches(after.as_deref(), 100).await?;
            let mut older = false;
            for batch in &page.data {
                let matches = batch.metadata.as_ref().is_some_and(|present| {
                    metadata
                        .iter()
                        .all(|(key, value)| present.get(key) == Some(value))
                });
                if matches && batch.created_at >= since - 300 {
                    found.push(batch.clone());
                }
                // Newest first: once past `since` (with slack for clock skew), stop.
                older |= batch.created_at < since - 300;
            }
            if older || !page.has_more || page.last_id.is_none() {
                return Ok(found);
            }
            after = page.last_id;
        }
    }
}

impl OpenAiClient {
    pub(crate) async fn upload(
        &self,
        path: &Path,
        filename: &str,
    ) -> Result<FileObject, ProviderError> {
        let url = self.url("/files");
        let io_error = |source| ProviderError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        // The multipart body streams the file, so each try opens it afresh.
        self.json("upload", Effect::CreatesSomething, || {
            let file = tokio::fs::File::from_std(std::fs::File::open(path).map_err(io_error)?);
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16);
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(stream),
                size,
            )
            .file_name(filename.to_string())
            .mime_str("application/jsonl")
            .map_err(|error| ProviderError::Protocol {
                operation: "upload".into(),
                message: error.to_string(),
            })?;
            let form = reqwest::multipart::Form::new()
                .text("purpose", "batch")
                .part("file", part);
            Ok(self.http.post(&url).multipart(form))
        })
        .await
    }

    pub(crate) async fn find_upload(
        &self,
        filename: &str,
    ) -> Result<Option<FileObject>, ProviderError> {
        let url = self.url("/files");
        let mut after: Option<String> = None;
        loop {
            let page: ListPage<FileObject> = self
                .json("list files", Effect::Idempotent, || {
                    let mut query =
                        vec![("purpose", "batch".to_string()), ("limit", "10000".into())];
                    if let Some(after) = &after {
                        query.push(("after", after.clone()));
                    }
                    Ok(self.http.get(&url).query(&query))
                })
                .await?;
            if let Some(found) = page.data.iter().find(|file| file.filename == filename) {
                return Ok(Some(found.clone()));
            }
            if !page.has_more || page.last_id.is_none() {
                return Ok(None);
            }
            after = page.last_id;
        }
    }

    pub(crate) async fn create_batch(
        &self,
        input_file_id: &str,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Batch, ProviderError> {
        let url = self.url("/batches");
        let body = CreateBatch {
            input_file_id: input_file_id.into(),
            endpoint: batchlabel_protocol::CHAT_COMPLETIONS.into(),
            completion_window: "24h".into(),
            metadata: Some(metadata),
        };
        self.batch_json("create batch", Effect::CreatesSomething, || {
            Ok(self.http.post(&url).json(&body))
        })
        .await
    }

    pub(crate) async fn retrieve_batch(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}"));
        self.batch_json("retrieve batch", Effect::Idempotent, || {
            Ok(self.http.get(&url))
        })
        .await
    }

    pub(crate) async fn cancel_batch(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}/cancel"));
        self.batch_json("cancel batch", Effect::Idempotent, || {
            Ok(self.http.post(&url))
        })
        .await
    }

    pub(crate) async fn download(
        &self,
        file_id: &str,
        destination: &Path,
    ) -> Result<u64, ProviderError> {
        self.download_file(file_id, destination)
            .await
            .map_err(|error| self.redact(error))
    }
}
