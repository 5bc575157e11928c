//! Azure OpenAI batch: OpenAI's Files + Batches protocol under a resource
//! endpoint — the v1 API (`{endpoint}/openai/v1/…`) or the dated API
//! (`{endpoint}/openai/…?api-version=…`) — with the key in an `api-key` header and the batch
//! deployment's name as every line's `model`. The client, codec and exactly-once rules are
//! OpenAI's (file names and batch metadata); what differs is configured here. Statuses in
//! Azure's spellings and RFC 3339 times are read by the protocol types.

use batchlabel_spec::Job;

use crate::http::{Auth, Transport};
use crate::{OpenAiClient, RetryPolicy};

pub(crate) mod prices;

/// The variable the key is read from.
pub const KEY_VAR: &str = "AZURE_OPENAI_API_KEY";
/// The variable the endpoint is read from when the spec names none.
pub const ENDPOINT_VAR: &str = "AZURE_OPENAI_ENDPOINT";

/// The resource endpoint: the flag, the spec's `base_url`, `azure.endpoint`, then
/// `$AZURE_OPENAI_ENDPOINT`.
fn endpoint(job: &Job, base_url: Option<&str>) -> Result<String, String> {
    let from_env = std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty());
    let chosen = base_url
        .map(str::to_string)
        .or_else(|| job.model.base_url.clone())
        .or_else(|| job.model.azure.endpoint.clone())
        .or(from_env)
        .ok_or_else(|| {
            format!(
                "error: no Azure OpenAI endpoint; hint: set `model.azure.endpoint` in the spec or export {ENDPOINT_VAR}=https://<resource>.openai.azure.com\n"
            )
        })?;
    // Accept the endpoint with or without the API path people copy from the portal.
    let trimmed = chosen.trim().trim_end_matches('/');
    let trimmed = trimmed
        .strip_suffix("/openai/v1")
        .or_else(|| trimmed.strip_suffix("/openai"))
        .unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

/// The client for `job`'s Azure resource and deployment.
pub(crate) fn open(job: &Job, base_url: Option<&str>) -> Result<OpenAiClient, String> {
    let endpoint = endpoint(job, base_url)?;
    let key = crate::api_key::require_from(KEY_VAR, &endpoint)
        .map_err(|error| format!("error: {error}\n"))?;
    Ok(azure_client(
        &endpoint,
        job.model.azure.api_version.as_deref(),
        job.model.request_model(),
        key,
        RetryPolicy::default(),
    ))
}

/// A client for the Azure OpenAI resource at `endpoint` (`https://<resource>.openai.azure.com`):
/// the v1 API, or the dated API when `api_version` is given; `deployment` answers pilots.
pub fn azure_client(
    endpoint: &str,
    api_version: Option<&str>,
    deployment: &str,
    key: Option<crate::ApiKey>,
    retry: RetryPolicy,
) -> OpenAiClient {
    let auth = key.map_or(Auth::None, |key| Auth::Header("api-key", key));
    let endpoint = endpoint.trim_end_matches('/');
    let client = match api_version {
        Some(version) => OpenAiClient::with_transport(
            Transport::new(&format!("{endpoint}/openai"), auth, retry)
                .with_query("api-version", version),
            &format!("/deployments/{deployment}/chat/completions"),
        ),
        None => OpenAiClient::with_transport(
            Transport::new(&format!("{endpoint}/openai/v1"), auth, retry),
            "/chat/completions",
        ),
    };
    // Azure's batch docs create batches for `/chat/completions` (lines keep `/v1/…`).
    client.with_batch_endpoint("/chat/completions")
}
