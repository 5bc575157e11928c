//! Anthropic's Message Batches API: no file upload — a batch is created with
//! its requests inline (`POST /v1/messages/batches`, the shard's lines streamed as
//! `{"requests": [...]}`), polled by `processing_status`, and its results streamed from
//! `results_url` once it has ended. Headers `x-api-key` and `anthropic-version`.
//!
//! Batches carry no metadata, so a create whose answer was lost is resolved by listing the
//! batches created since the intent and matching the request count and, once a candidate has
//! ended, the custom_ids of its results (see `provider.rs`).

use std::path::Path;

use futures_util::StreamExt;
use serde_json::Value;

use crate::http::{Auth, Effect, Transport};
use crate::{ApiKey, ProviderError, RetryPolicy};
use types::{BatchPage, MessageBatch};

mod codec;
pub(crate) mod prices;
mod provider;
mod schema;
mod types;

pub use codec::AnthropicCodec;

/// The API version every call names.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Anthropic's own API.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// A client for one base URL (without `/v1`) and key.
#[derive(Clone, Debug)]
pub struct AnthropicClient {
    transport: Transport,
    codec: AnthropicCodec,
    /// The batches this client created; held while creating or looking for a lost create,
    /// so the two take turns (see `provider.rs`).
    created: std::sync::Arc<tokio::sync::Mutex<std::collections::HashSet<String>>>,
}

impl AnthropicClient {
    /// A client for `base_url` (e.g. `https://api.anthropic.com`).
    pub fn new(
        base_url: &str,
        api_key: Option<ApiKey>,
        retry: RetryPolicy,
        codec: AnthropicCodec,
    ) -> Self {
        let auth = api_key.map_or(Auth::None, |key| Auth::Header("x-api-key", key));
        let transport = Transport::new(base_url, auth, retry)
            .with_header("anthropic-version", ANTHROPIC_VERSION);
        Self {
            transport,
            codec,
            created: std::sync::Arc::default(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        &self.transport.http
    }

    /// Create a batch from a shard file of request lines, streamed.
    pub(crate) async fn create_batch(&self, shard: &Path) -> Result<MessageBatch, ProviderError> {
        let url = self.transport.url("/v1/messages/batches");
        self.transport
            .json("create batch", Effect::CreatesSomething, || {
                let body = inline_requests(shard)?;
                Ok(self
                    .http()
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body))
            })
            .await
    }

    pub(crate) async fn retrieve(&self, batch_id: &str) -> Result<MessageBatch, ProviderError> {
        let url = self
            .transport
            .url(&format!("/v1/messages/batches/{batch_id}"));
        self.transport
            .json("retrieve batch", Effect::Idempotent, || {
                Ok(self.http().get(&url))
            })
            .await
    }

    pub(crate) async fn cancel(&self, batch_id: &str) -> Result<MessageBatch, ProviderError> {
        let url = self
            .transport
            .url(&format!("/v1/messages/batches/{batch_id}/cancel"));
        self.transport
            .json("cancel batch", Effect::Idempotent, || {
                Ok(self.http().post(&url))
            })
            .await
    }

    /// One page of batches, newest first, after `after_id`; with how far the API's clock is
    /// ahead of this machine's, when it says.
    pub(crate) async fn list(
        &self,
        after_id: Option<&str>,
    ) -> Result<(BatchPage, Option<i64>), ProviderError> {
        let url = self.transport.url("/v1/messages/batches");
        self.transport
            .json_dated("list batches", Effect::Idempotent, || {
                let mut query = vec![("limit", "100".to_string())];
                if let Some(after) = after_id {
                    query.push(("after_id", after.to_string()));
                }
                Ok(self.http().get(&url).query(&query))
            })
            .await
    }

    /// Download an ended batch's results. The key is only sent to this client's own API: a
    /// `results_url` elsewhere is replaced by the same path under the base URL.
    pub(crate) async fn download_results(
        &self,
        batch_id: &str,
        results_url: Option<&str>,
        destination: &Path,
    ) -> Result<u64, ProviderError> {
        let url = match results_url {
            Some(url) if self.transport.owns(url) => url.to_string(),
            _ => self
                .transport
                .url(&format!("/v1/messages/batches/{batch_id}/results")),
        };
        self.transport.download(&url, destination).await
    }

    /// One Messages request now (pilots): the HTTP status and body of the answer.
    pub(crate) async fn message(&self, params: &Value) -> Result<Value, ProviderError> {
        let url = self.transport.url("/v1/messages");
        self.transport
            .json("message", Effect::Idempotent, || {
                Ok(self.http().post(&url).json(params))
            })
            .await
    }
}

/// Where [`inline_requests`] is in the body.
enum Phase {
    Open,
    Lines,
    Done,
}

/// Between lines: whether the line being read has content yet, and whether a comma is owed
/// before the next content (one per line break after a line with content).
#[derive(Clone, Copy, Default)]
struct Joiner {
    in_content: bool,
    comma_owed: bool,
}

impl Joiner {
    /// `chunk` with line breaks turned into the commas between array elements: blank lines and
    /// a final newline add nothing, and a raw `\r` (never inside a JSON string) is dropped.
    fn join(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        for &byte in chunk {
            match byte {
                b'\n' => {
                    self.comma_owed |= self.in_content;
                    self.in_content = false;
                }
                b'\r' => {}
                b' ' | b'\t' if !self.in_content => {}
                _ => {
                    if self.comma_owed {
                        out.push(b',');
                        self.comma_owed = false;
                    }
                    self.in_content = true;
                    out.push(byte);
                }
            }
        }
        out
    }
}

/// The body `{"requests":[line,line,…]}` from a shard of request lines, streamed: each line
/// is already one request object.
fn inline_requests(shard: &Path) -> Result<reqwest::Body, ProviderError> {
    let file = std::fs::File::open(shard).map_err(|source| ProviderError::Io {
        path: shard.to_path_buf(),
        source,
    })?;
    let chunks =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 16);
    let stream = futures_util::stream::unfold(
        (chunks, Joiner::default(), Phase::Open),
        |(mut chunks, mut joiner, phase)| async move {
            match phase {
                Phase::Open => Some((
                    Ok(b"{\"requests\":[".to_vec()),
                    (chunks, joiner, Phase::Lines),
                )),
                Phase::Lines => match chunks.next().await {
                    Some(Ok(chunk)) => {
                        let joined = joiner.join(&chunk);
                        Some((Ok(joined), (chunks, joiner, Phase::Lines)))
                    }
                    Some(Err(error)) => Some((Err(error), (chunks, joiner, Phase::Done))),
                    None => Some((Ok(b"]}".to_vec()), (chunks, joiner, Phase::Done))),
                },
                Phase::Done => None,
            }
        },
    );
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::Joiner;

    fn joined(chunks: &[&[u8]]) -> String {
        let mut joiner = Joiner::default();
        let mut out = b"[".to_vec();
        for chunk in chunks {
            out.extend(joiner.join(chunk));
        }
        out.push(b']');
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_become_one_json_array_however_they_are_cut() {
        let expected = r#"[{"a":"x y"},{"b":2}]"#;
        assert_eq!(joined(&[b"{\"a\":\"x y\"}\n{\"b\":2}\n"]), expected);
        assert_eq!(joined(&[b"{\"a\":\"x y\"}\r\n\n  \n{\"b\":2}"]), expected);
        assert_eq!(
            joined(&[b"{\"a\":\"x", b" y\"}\n", b"\n{\"b\":2}\n\n"]),
            expected
        );
        assert_eq!(joined(&[b""]), "[]");
        for text in [joined(&[b"{}\n\n{}\r\n"]), joined(&[b"\n\n"])] {
            serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON");
        }
    }
}
