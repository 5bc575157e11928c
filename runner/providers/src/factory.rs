//! One factory from the spec's `model` block to a provider (and, without opening anything,
//! to its codec and prices). A new provider is one arm in each function here, one spec
//! arm, and its folder.

use std::path::PathBuf;
use std::sync::Arc;

use batchlabel_spec::{Job, ProviderKind};

use crate::{
    AnthropicClient, AnthropicCodec, BatchPrice, BatchProvider, Codec, GeminiClient, GeminiCodec,
    MistralClient, MistralCodec, OpenAiClient, OpenAiCodec, RetryPolicy,
};

/// OpenAI's own API.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// How to open a job's provider, besides its spec.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// A base URL that overrides the spec's (the `--base-url` flag).
    pub base_url: Option<String>,
    /// Where a provider that keeps local state keeps it (the local model's batches).
    pub state_dir: PathBuf,
    /// CPU threads for a local model (default: every core).
    pub threads: Option<u32>,
}

/// The wire format of `job`'s provider (for compile, check and estimate: nothing is opened).
pub fn codec_for(job: &Job) -> Arc<dyn Codec> {
    match job.model.provider {
        ProviderKind::Openai => crate::openai::dialect_codec(job.model.dialect),
        ProviderKind::AzureOpenai | ProviderKind::Local => Arc::new(OpenAiCodec),
        ProviderKind::Anthropic => Arc::new(anthropic_codec(job)),
        ProviderKind::Gemini => Arc::new(GeminiCodec),
        ProviderKind::Mistral => Arc::new(MistralCodec),
    }
}

fn anthropic_codec(job: &Job) -> AnthropicCodec {
    AnthropicCodec {
        output: job.model.anthropic.structured_output,
    }
}

/// The date of the price table `provider`'s prices come from.
pub fn prices_as_of(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Openai | ProviderKind::Local => crate::openai::prices::PRICES_AS_OF,
        ProviderKind::AzureOpenai => crate::azure::prices::PRICES_AS_OF,
        ProviderKind::Anthropic => crate::anthropic::prices::PRICES_AS_OF,
        ProviderKind::Gemini => crate::gemini::prices::PRICES_AS_OF,
        ProviderKind::Mistral => crate::mistral::prices::PRICES_AS_OF,
    }
}

/// The batch price of `job`'s model at its provider: a built-in table (OpenAI), free for
/// the embedded model, `None` when unknown.
pub fn price_for(job: &Job) -> Option<BatchPrice> {
    match job.model.provider {
        ProviderKind::Openai => crate::openai::prices::batch_price(&job.model.name),
        ProviderKind::AzureOpenai => crate::azure::prices::batch_price(&job.model.name),
        ProviderKind::Anthropic => crate::anthropic::prices::batch_price(&job.model.name),
        ProviderKind::Gemini => crate::gemini::prices::batch_price(&job.model.name),
        ProviderKind::Mistral => crate::mistral::prices::batch_price(&job.model.name),
        ProviderKind::Local => Some(BatchPrice {
            model: "local",
            input_per_million: 0.0,
            output_per_million: 0.0,
            cached_input_per_million: 0.0,
        }),
    }
}

/// Open `job`'s provider. Errors are messages for the user (`error: …`), checked before
/// anything is compiled: a missing key costs nothing.
pub async fn open(job: &Job, options: &OpenOptions) -> Result<Box<dyn BatchProvider>, String> {
    match job.model.provider {
        ProviderKind::Openai => Ok(Box::new(open_openai(job, options)?)),
        ProviderKind::AzureOpenai => Ok(Box::new(crate::azure::open(
            job,
            options.base_url.as_deref(),
        )?)),
        ProviderKind::Anthropic => Ok(Box::new(open_anthropic(job, options)?)),
        ProviderKind::Gemini => Ok(Box::new(open_gemini(job, options)?)),
        ProviderKind::Mistral => Ok(Box::new(open_mistral(job, options)?)),
        ProviderKind::Local => open_local(job, options).await,
    }
}

/// The base URL from the flag, the spec, `$OPENAI_BASE_URL`, or OpenAI's; the key from
/// `$OPENAI_API_KEY` (required only by OpenAI itself).
fn open_openai(job: &Job, options: &OpenOptions) -> Result<OpenAiClient, String> {
    let base_url = options
        .base_url
        .clone()
        .or_else(|| job.model.base_url.clone())
        .or_else(|| {
            std::env::var("OPENAI_BASE_URL")
                .ok()
                .filter(|url| !url.is_empty())
        })
        .unwrap_or_else(|| OPENAI_BASE_URL.to_string());
    let api_key =
        crate::api_key::require(&base_url).map_err(|error| format!("error: {error}\n"))?;
    // A dialect the spec leaves open follows the URL actually used (the flag may change it).
    let dialect = if job.model.dialect == batchlabel_spec::OpenaiDialect::Openai {
        batchlabel_spec::OpenaiDialect::of_url(&base_url)
    } else {
        job.model.dialect
    };
    Ok(OpenAiClient::new(&base_url, api_key, RetryPolicy::default()).with_dialect(dialect))
}

/// The base URL from the flag, the spec, `$ANTHROPIC_BASE_URL`, or Anthropic's; the key from
/// `$ANTHROPIC_API_KEY` (required unless the API is on this machine).
fn open_anthropic(job: &Job, options: &OpenOptions) -> Result<AnthropicClient, String> {
    let base_url = options
        .base_url
        .clone()
        .or_else(|| job.model.base_url.clone())
        .or_else(|| {
            std::env::var("ANTHROPIC_BASE_URL")
                .ok()
                .filter(|url| !url.trim().is_empty())
        })
        .unwrap_or_else(|| crate::ANTHROPIC_BASE_URL.to_string());
    let api_key = crate::api_key::require_from("ANTHROPIC_API_KEY", &base_url)
        .map_err(|error| format!("error: {error}\n"))?;
    Ok(AnthropicClient::new(
        &base_url,
        api_key,
        RetryPolicy::default(),
        anthropic_codec(job),
    ))
}

/// The base URL from the flag, the spec, `$<env>`, or `default`.
fn base_url_of(job: &Job, options: &OpenOptions, env: &str, default: &str) -> String {
    options
        .base_url
        .clone()
        .or_else(|| job.model.base_url.clone())
        .or_else(|| std::env::var(env).ok().filter(|url| !url.trim().is_empty()))
        .unwrap_or_else(|| default.to_string())
}

/// The key from `$GEMINI_API_KEY`, else `$GOOGLE_API_KEY` (as Google's SDK reads them), required
/// unless the API is on this machine.
fn open_gemini(job: &Job, options: &OpenOptions) -> Result<GeminiClient, String> {
    let base_url = base_url_of(job, options, "GEMINI_BASE_URL", crate::GEMINI_BASE_URL);
    let variable = if std::env::var("GEMINI_API_KEY").is_ok_and(|key| !key.trim().is_empty()) {
        "GEMINI_API_KEY"
    } else if std::env::var("GOOGLE_API_KEY").is_ok_and(|key| !key.trim().is_empty()) {
        "GOOGLE_API_KEY"
    } else {
        "GEMINI_API_KEY"
    };
    let api_key = crate::api_key::require_from(variable, &base_url)
        .map_err(|error| format!("error: {error}\n"))?;
    Ok(GeminiClient::new(
        &base_url,
        api_key,
        RetryPolicy::default(),
        &job.model.name,
    ))
}

/// The key from `$MISTRAL_API_KEY`, required unless the API is on this machine.
fn open_mistral(job: &Job, options: &OpenOptions) -> Result<MistralClient, String> {
    let base_url = base_url_of(job, options, "MISTRAL_BASE_URL", crate::MISTRAL_BASE_URL);
    let api_key = crate::api_key::require_from("MISTRAL_API_KEY", &base_url)
        .map_err(|error| format!("error: {error}\n"))?;
    Ok(MistralClient::new(
        &base_url,
        api_key,
        RetryPolicy::default(),
        &job.model.name,
    ))
}

#[cfg(feature = "local")]
async fn open_local(job: &Job, options: &OpenOptions) -> Result<Box<dyn BatchProvider>, String> {
    let base = job.spec_path.parent().unwrap_or(std::path::Path::new("."));
    let provider = crate::local::LocalProvider::start(
        &job.model.name,
        base,
        options.state_dir.clone(),
        options.threads,
    )
    .await?;
    Ok(Box::new(provider))
}

#[cfg(not(feature = "local"))]
#[expect(
    clippy::unused_async,
    reason = "the same signature as the `local` build's, which awaits the model"
)]
async fn open_local(_job: &Job, _options: &OpenOptions) -> Result<Box<dyn BatchProvider>, String> {
    Err("error: this batchlabel was built without the local model (cargo feature `local`)\n".into())
}
