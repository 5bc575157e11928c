//! Google's Gemini API batch mode: a shard is uploaded through the File API
//! (resumable upload), a batch is created over it with `models/{model}:batchGenerateContent`
//! and returned as a long-running operation `batches/{id}`, polled by `metadata.state`, and
//! its `responsesFile` downloaded once it ends. Header `x-goog-api-key`.
//!
//! Creation is not idempotent and batches carry no metadata, but they carry a display name:
//! it holds the shard's tags (see `tags.rs`), so a create whose answer was lost is found by
//! listing the batches and reading their names, as OpenAI's batches are found by metadata.

use std::path::Path;

use crate::http::{Auth, Effect, Transport};
use crate::{ApiKey, ProviderError, RetryPolicy};
use types::{File, FilePage, Operation, OperationPage, Uploaded};

mod codec;
pub(crate) mod prices;
mod provider;
pub mod schema;
mod tags;
mod types;

pub use codec::GeminiCodec;

/// Google's own API.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// Batches and files asked for per page when listing.
const PAGE_SIZE: u32 = 100;

/// A client for one base URL (without the API version) and key.
#[derive(Clone, Debug)]
pub struct GeminiClient {
    transport: Transport,
    /// `models/<name>`.
    model: String,
}

impl GeminiClient {
    /// A client for `base_url` (e.g. `https://generativelanguage.googleapis.com`) running
    /// `model` (`gemini-2.5-flash` or `models/gemini-2.5-flash`).
    pub fn new(base_url: &str, api_key: Option<ApiKey>, retry: RetryPolicy, model: &str) -> Self {
        let auth = api_key.map_or(Auth::None, |key| Auth::Header("x-goog-api-key", key));
        let model = if model.starts_with("models/") || model.starts_with("tunedModels/") {
            model.to_string()
        } else {
            format!("models/{model}")
        };
        Self {
            transport: Transport::new(base_url.trim_end_matches('/'), auth, retry),
            model,
        }
    }

    fn http(&self) -> &reqwest::Client {
        &self.transport.http
    }

    /// Upload a shard under `display_name`: a resumable session is started, then the whole
    /// file is sent in one `upload, finalize` request.
    pub(crate) async fn upload(
        &self,
        path: &Path,
        display_name: &str,
    ) -> Result<File, ProviderError> {
        let io_error = |source| ProviderError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        let start = self.transport.url("/upload/v1beta/files");
        let body = serde_json::json!({"file": {"displayName": display_name, "mimeType": "application/jsonl"}});
        // Starting a session creates nothing a second start would duplicate.
        let started = self
            .transport
            .send("start upload", Effect::Idempotent, || {
                Ok(self
                    .http()
                    .post(&start)
                    .header("X-Goog-Upload-Protocol", "resumable")
                    .header("X-Goog-Upload-Command", "start")
                    .header("X-Goog-Upload-Header-Content-Length", size.to_string())
                    .header("X-Goog-Upload-Header-Content-Type", "application/jsonl")
                    .json(&body))
            })
            .await?;
        let session = started
            .headers
            .get("x-goog-upload-url")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| ProviderError::Protocol {
                operation: "start upload".into(),
                message: "the answer has no `x-goog-upload-url` header".into(),
            })?;
        let session = self.own_url(session);
        let uploaded: Uploaded = self
            .transport
            .json("upload", Effect::CreatesSomething, || {
                let file = tokio::fs::File::from_std(std::fs::File::open(path).map_err(io_error)?);
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16);
                Ok(self
                    .http()
                    .post(&session)
                    .header("X-Goog-Upload-Command", "upload, finalize")
                    .header("X-Goog-Upload-Offset", "0")
                    .header("content-length", size.to_string())
                    .body(reqwest::Body::wrap_stream(stream)))
            })
            .await?;
        Ok(uploaded.file)
    }

    /// `url` if it is under this client's base URL, else the same path and query under it:
    /// the key is only ever sent to the API it belongs to.
    fn own_url(&self, url: &str) -> String {
        if self.transport.owns(url) {
            return url.to_string();
        }
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|slash| &rest[slash..]))
            .unwrap_or("/");
        self.transport.url(path)
    }

    /// The newest uploaded file named `display_name`, if any.
    pub(crate) async fn find_upload(
        &self,
        display_name: &str,
    ) -> Result<Option<File>, ProviderError> {
        let url = self.transport.url("/v1beta/files");
        let mut token: Option<String> = None;
        loop {
            let page: FilePage = self
                .transport
                .json("list files", Effect::Idempotent, || {
                    let mut query = vec![("pageSize", PAGE_SIZE.to_string())];
                    if let Some(token) = &token {
                        query.push(("pageToken", token.clone()));
                    }
                    Ok(self.http().get(&url).query(&query))
                })
                .await?;
            if let Some(found) = page
                .files
                .into_iter()
                .find(|file| file.display_name.as_deref() == Some(display_name))
            {
                return Ok(Some(found));
            }
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(None),
            }
        }
    }

    pub(crate) async fn create_batch(
        &self,
        file_name: &str,
        display_name: &str,
    ) -> Result<Operation, ProviderError> {
        let url = self
            .transport
            .url(&format!("/v1beta/{}:batchGenerateContent", self.model));
        let body = serde_json::json!({"batch": {
            "displayName": display_name,
            "inputConfig": {"fileName": file_name},
        }});
        self.transport
            .json("create batch", Effect::CreatesSomething, || {
                Ok(self.http().post(&url).json(&body))
            })
            .await
    }

    pub(crate) async fn retrieve(&self, name: &str) -> Result<Operation, ProviderError> {
        let url = self.transport.url(&format!("/v1beta/{name}"));
        self.transport
            .json("retrieve batch", Effect::Idempotent, || {
                Ok(self.http().get(&url))
            })
            .await
    }

    pub(crate) async fn cancel(&self, name: &str) -> Result<(), ProviderError> {
        let url = self.transport.url(&format!("/v1beta/{name}:cancel"));
        self.transport
            .send("cancel batch", Effect::Idempotent, || {
                Ok(self.http().post(&url))
            })
            .await
            .map(drop)
    }

    /// One page of batches, newest first.
    pub(crate) async fn list(&self, token: Option<&str>) -> Result<OperationPage, ProviderError> {
        let url = self.transport.url("/v1beta/batches");
        self.transport
            .json("list batches", Effect::Idempotent, || {
                let mut query = vec![("pageSize", PAGE_SIZE.to_string())];
                if let Some(token) = token {
                    query.push(("pageToken", token.to_string()));
                }
                Ok(self.http().get(&url).query(&query))
            })
            .await
    }

    /// Download a file's content (a batch's responses file).
    pub(crate) async fn download(
        &self,
        file_name: &str,
        destination: &Path,
    ) -> Result<u64, ProviderError> {
        let url = self
            .transport
            .url(&format!("/download/v1beta/{file_name}:download?alt=media"));
        self.transport.download(&url, destination).await
    }

    /// Delete a file; one already gone counts as deleted.
    pub(crate) async fn delete_file(&self, file_name: &str) -> Result<(), ProviderError> {
        let url = self.transport.url(&format!("/v1beta/{file_name}"));
        match self
            .transport
            .send("delete file", Effect::Idempotent, || {
                Ok(self.http().delete(&url))
            })
            .await
        {
            Ok(_) | Err(ProviderError::Api { status: 404, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// One `generateContent` request now (pilots).
    pub(crate) async fn generate(
        &self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, ProviderError> {
        let url = self
            .transport
            .url(&format!("/v1beta/{}:generateContent", self.model));
        self.transport
            .json("generate content", Effect::Idempotent, || {
                Ok(self.http().post(&url).json(request))
            })
            .await
    }

    /// How many requests were repeated so far.
    pub fn retries_made(&self) -> u64 {
        self.transport.retries_made()
    }

    /// The base URL as it may be shown.
    pub fn base_url(&self) -> &str {
        self.transport.display_url()
    }
}
