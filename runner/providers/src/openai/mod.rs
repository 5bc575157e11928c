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
use futures_util::StreamExt;
use reqwest::header::HeaderMap;

use crate::{ApiKey, BatchProvider, ProviderError, RetryPolicy};

/// A client for one base URL and key.
#[derive(Clone)]
pub struct OpenAiClient {
    base_url: String,
    api_key: Option<ApiKey>,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Requests repeated after a retryable answer or a failed connection (shared by clones).
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiClient")
            .field("base_url", &self.base_url)
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
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
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

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
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
            base_url: self.base_url.clone(),
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
            return Err(api_error(operation, status, &text));
        }
    }

    fn retry_delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if attempt >= self.retry.max_retries {
            return None;
        }
        self.retry.delay(attempt, headers)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError>,
    ) -> Result<T, ProviderError> {
        let answer = self.send(operation, effect, build).await?;
        serde_json::from_slice(&answer.body).map_err(|error| ProviderError::Protocol {
            operation: operation.into(),
            message: format!(
                "HTTP {} with a body that is not the expected JSON: {error}",
                answer.status
            ),
        })
    }

    /// One page of batches, newest first.
    pub async fn list_batches(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ListPage<Batch>, ProviderError> {
        let url = self.url("/batches");
        self.json("list batches", Effect::Idempotent, || {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(after) = after {
                query.push(("after", after.to_string()));
            }
            Ok(self.http.get(&url).query(&query))
        })
        .await
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

fn describe(error: &reqwest::Error) -> String {
    // reqwest errors name the URL, never headers, so the key cannot appear here.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn api_error(operation: &str, status: u16, text: &str) -> ProviderError {
    let parsed: Option<batchlabel_protocol::ErrorBody> = serde_json::from_str(text).ok();
    let (message, code) = match parsed {
        Some(body) => (body.error.message, body.error.code),
        None => (text.chars().take(300).collect(), None),
    };
    ProviderError::Api {
        operation: operation.into(),
        status,
        message,
        code,
    }
}

impl BatchProvider for OpenAiClient {
    async fn upload(&self, path: &Path, filename: &str) -> Result<FileObject, ProviderError> {
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

    async fn find_upload(&self, filename: &str) -> Result<Option<FileObject>, ProviderError> {
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

    async fn create_batch(
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
        self.json("create batch", Effect::CreatesSomething, || {
            Ok(self.http.post(&url).json(&body))
        })
        .await
    }

    async fn find_batch(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
        since: i64,
    ) -> Result<Option<Batch>, ProviderError> {
        let mut after: Option<String> = None;
        loop {
            let page = self.list_batches(after.as_deref(), 100).await?;
            let mut older = false;
            for batch in &page.data {
                let matches = batch.metadata.as_ref().is_some_and(|found| {
                    metadata
                        .iter()
                        .all(|(key, value)| found.get(key) == Some(value))
                });
                if matches {
                    return Ok(Some(batch.clone()));
                }
                // Newest first: once past the intent time (with slack for clock skew), stop.
                older |= batch.created_at < since - 300;
            }
            if older || !page.has_more || page.last_id.is_none() {
                return Ok(None);
            }
            after = page.last_id;
        }
    }

    async fn batch(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}"));
        self.json("retrieve batch", Effect::Idempotent, || {
            Ok(self.http.get(&url))
        })
        .await
    }

    async fn cancel(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}/cancel"));
        self.json("cancel batch", Effect::Idempotent, || {
            Ok(self.http.post(&url))
        })
        .await
    }

    async fn download(&self, file_id: &str, destination: &Path) -> Result<u64, ProviderError> {
        let url = self.url(&format!("/files/{file_id}/content"));
        let temporary = destination.with_extension("part");
        let io_error = |source| ProviderError::Io {
            path: temporary.clone(),
            source,
        };
        let mut attempt = 0;
        loop {
            let response = match self.authorize(self.http.get(&url)).send().await {
                Ok(response) => response,
                Err(error) => match self.retry_delay(attempt, None) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    None => return Err(self.unreachable("download", &error)),
                },
            };
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                let headers = response.headers().clone();
                let text = response.text().await.unwrap_or_default();
                if RetryPolicy::should_retry(status, &headers, &text)
                    && let Some(delay) = self.retry_delay(attempt, Some(&headers))
                {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
                return Err(api_error("download", status, &text));
            }
            let expected = response.content_length();
            // Buffered plain writes: a blocking-pool hop per chunk would slow large files.
            let mut file = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&temporary).map_err(io_error)?,
            );
            let mut stream = response.bytes_stream();
            let mut written = 0u64;
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        written += chunk.len() as u64;
                        std::io::Write::write_all(&mut file, &chunk).map_err(io_error)?;
                    }
                    Err(error) => {
                        broken = Some(error);
                        break;
                    }
                }
            }
            let short = expected.is_some_and(|expected| expected != written);
            if broken.is_some() || short {
                drop(file);
                let _ = tokio::fs::remove_file(&temporary).await;
                match self.retry_delay(attempt, None) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    None => {
                        return Err(ProviderError::Unreachable {
                            operation: "download".into(),
                            base_url: self.base_url.clone(),
                            message: broken.map_or_else(
                                || format!("got {written} of {expected:?} bytes"),
                                |error| describe(&error),
                            ),
                        });
                    }
                }
            }
            // Flushed, not synced: a killed process loses nothing; the ledger records the file
            // only after this rename.
            std::io::Write::flush(&mut file).map_err(io_error)?;
            drop(file);
            tokio::fs::rename(&temporary, destination)
                .await
                .map_err(|source| ProviderError::Io {
                    path: destination.to_path_buf(),
                    source,
                })?;
            return Ok(written);
        }
    }
}
