//! The OpenAI Files + Batches client, with the official SDK's retry rules. It works with any server that
//! speaks the protocol: set the base URL.
//!
//! Calls that change remote state (upload, create) are not blindly retried after a lost
//! answer: they report [`ProviderError::Ambiguous`] so the caller looks for the object (by
//! file name or batch metadata) before trying again. That is what makes a shard become
//! exactly one batch.

use std::path::Path;

use batchlabel_protocol::{Batch, CreateBatch, FileObject, ListPage};

use crate::http::{Auth, Effect, Transport};
use crate::{ApiKey, ProviderError, RetryPolicy};

mod codec;
mod dialect;
pub(crate) mod prices;
mod provider;

pub use codec::OpenAiCodec;
pub(crate) use codec::{
    BODY_ONLY_AFTER_CUSTOM_ID, CHAT_COMPLETIONS_URL, chat_encoder, write_chat_message,
};
pub use dialect::TogetherCodec;
pub(crate) use dialect::body_only_codec;
pub(crate) use dialect::codec as dialect_codec;
pub(crate) use provider::{metadata, tags_of};
#[cfg(test)]
mod tests;

/// A client for one base URL and key.
#[derive(Clone, Debug)]
pub struct OpenAiClient {
    transport: Transport,
    /// The synchronous chat-completions path under the base URL (Azure's dated API puts the
    /// deployment in it).
    chat_path: String,
    /// The `endpoint` a batch is created for (Azure documents it without `/v1`).
    batch_endpoint: &'static str,
    /// How the host differs from OpenAI (see `dialect.rs`).
    dialect: batchlabel_spec::OpenaiDialect,
}

impl OpenAiClient {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(base_url: &str, api_key: Option<ApiKey>, retry: RetryPolicy) -> Self {
        let auth = api_key.map_or(Auth::None, Auth::Bearer);
        Self::with_transport(Transport::new(base_url, auth, retry), "/chat/completions")
    }

    /// A client over a prepared transport (Azure: its key header and api-version).
    pub(crate) fn with_transport(transport: Transport, chat_path: &str) -> Self {
        Self {
            transport,
            chat_path: chat_path.to_string(),
            batch_endpoint: batchlabel_protocol::CHAT_COMPLETIONS,
            dialect: batchlabel_spec::OpenaiDialect::Openai,
        }
    }

    /// A client for a host in `dialect`.
    #[must_use]
    pub fn with_dialect(mut self, dialect: batchlabel_spec::OpenaiDialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Its dialect.
    pub(crate) fn dialect(&self) -> batchlabel_spec::OpenaiDialect {
        self.dialect
    }

    /// Batches are created for `endpoint` instead of `/v1/chat/completions`.
    pub(crate) fn with_batch_endpoint(mut self, endpoint: &'static str) -> Self {
        self.batch_endpoint = endpoint;
        self
    }

    /// How many requests were repeated so far (after 429s, 5xx, dropped connections).
    pub fn retries_made(&self) -> u64 {
        self.transport.retries_made()
    }

    /// The base URL as it may be shown: any password in it is masked.
    pub fn base_url(&self) -> &str {
        self.transport.display_url()
    }

    fn url(&self, path: &str) -> String {
        self.transport.url(path)
    }

    /// Its transport (for providers that share OpenAI's file routes).
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    fn http(&self) -> &reqwest::Client {
        &self.transport.http
    }

    /// A batch with the provider's own error texts redacted: they are printed and stored.
    async fn batch_json(
        &self,
        operation: &str,
        effect: Effect,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ProviderError> + Sync,
    ) -> Result<Batch, ProviderError> {
        let value: serde_json::Value = self.transport.json(operation, effect, build).await?;
        let batch = serde_json::from_value(dialect::unwrap_batch(value)).map_err(|error| {
            self.transport.redact(ProviderError::Protocol {
                operation: operation.into(),
                message: format!("the answer is not a batch: {error}"),
            })
        })?;
        Ok(crate::redact::redact_batch(batch, self.transport.secrets()))
    }

    /// One page of batches, newest first.
    pub async fn list_batches(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ListPage<Batch>, ProviderError> {
        let url = self.url("/batches");
        let listed: serde_json::Value = self
            .transport
            .json("list batches", Effect::Idempotent, || {
                let mut query = vec![("limit", limit.to_string())];
                if let Some(after) = after {
                    query.push(("after", after.to_string()));
                }
                Ok(self.http().get(&url).query(&query))
            })
            .await?;
        let mut page = list_page(listed).map_err(|message| {
            self.transport.redact(ProviderError::Protocol {
                operation: "list batches".into(),
                message,
            })
        })?;
        page.data = std::mem::take(&mut page.data)
            .into_iter()
            .map(|batch| crate::redact::redact_batch(batch, self.transport.secrets()))
            .collect();
        Ok(page)
    }

    /// Delete an uploaded file (`DELETE /files/{id}`); one already gone counts as deleted.
    pub(crate) async fn delete_file(&self, file_id: &str) -> Result<(), ProviderError> {
        let url = self.url(&format!("/files/{file_id}"));
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

    /// Send one chat-completions request synchronously (for pilots).
    pub async fn chat(&self, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
        let url = self.url(&self.chat_path);
        self.transport
            .json("chat completion", Effect::Idempotent, || {
                Ok(self.http().post(&url).json(body))
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
                // An empty filter matches every batch (hosts whose batches keep no metadata).
                let matches = metadata.is_empty()
                    || batch.metadata.as_ref().is_some_and(|present| {
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
        self.transport
            .json("upload", Effect::CreatesSomething, || {
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
                    .text("purpose", dialect::upload_purpose(self.dialect))
                    .part("file", part);
                Ok(self.http().post(&url).multipart(form))
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
                .transport
                .json("list files", Effect::Idempotent, || {
                    let mut query = vec![
                        ("purpose", dialect::upload_purpose(self.dialect).to_string()),
                        ("limit", "10000".into()),
                    ];
                    if let Some(after) = &after {
                        query.push(("after", after.clone()));
                    }
                    Ok(self.http().get(&url).query(&query))
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
            endpoint: self.batch_endpoint.into(),
            completion_window: "24h".into(),
            metadata: dialect::keeps_metadata(self.dialect).then_some(metadata),
        };
        self.batch_json("create batch", Effect::CreatesSomething, || {
            Ok(self.http().post(&url).json(&body))
        })
        .await
    }

    pub(crate) async fn retrieve_batch(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}"));
        self.batch_json("retrieve batch", Effect::Idempotent, || {
            Ok(self.http().get(&url))
        })
        .await
    }

    pub(crate) async fn cancel_batch(&self, batch_id: &str) -> Result<Batch, ProviderError> {
        let url = self.url(&format!("/batches/{batch_id}/cancel"));
        self.batch_json("cancel batch", Effect::Idempotent, || {
            Ok(self.http().post(&url))
        })
        .await
    }

    pub(crate) async fn download(
        &self,
        file_id: &str,
        destination: &Path,
    ) -> Result<u64, ProviderError> {
        let url = self.url(&format!("/files/{file_id}/content"));
        self.transport.download(&url, destination).await
    }
}

/// A page of batches: OpenAI's `{"object": "list", "data": [...]}`, or the bare array some
/// compatible hosts (Together) answer with (one page, nothing after it).
fn list_page(listed: serde_json::Value) -> Result<ListPage<Batch>, String> {
    let listed = match listed {
        serde_json::Value::Array(items) => serde_json::json!({"object": "list", "data": items}),
        other => other,
    };
    let mut page: ListPage<serde_json::Value> = serde_json::from_value(listed)
        .map_err(|error| format!("not a list of batches: {error}"))?;
    let data = std::mem::take(&mut page.data)
        .into_iter()
        .map(|item| serde_json::from_value(dialect::unwrap_batch(item)))
        .collect::<Result<Vec<Batch>, _>>()
        .map_err(|error| format!("a listed batch is not a batch: {error}"))?;
    Ok(ListPage {
        object: page.object,
        data,
        first_id: page.first_id,
        last_id: page.last_id,
        has_more: page.has_more,
    })
}
