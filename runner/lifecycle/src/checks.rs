//! The checks every output goes through, in order: the built-in JSON Schema of the labels,
//! then each validator plugin (which may normalize the output or reject it). The caller
//! supplies the plugins; this crate never links wasmtime.

use std::sync::Arc;

use batchlabel_compile::PluginFailure;
use batchlabel_providers::Codec;

/// A validator plugin, as ingest sees it.
pub trait OutputCheck: Send + Sync {
    /// The normalized output for `output` (JSON text) of `row` (JSON text: `id`,
    /// `custom_id`), or why not.
    fn check(&self, output: &str, row: &str) -> Result<serde_json::Value, PluginFailure>;
}

/// A job's plugins, loaded by the caller.
#[derive(Clone, Default)]
pub struct Plugins {
    /// The request builder.
    pub request: Option<Arc<dyn batchlabel_compile::RequestHook>>,
    /// The validators, in spec order.
    pub validators: Vec<Arc<dyn OutputCheck>>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Plugins")
            .field("request", &self.request.is_some())
            .field("validators", &self.validators.len())
            .finish()
    }
}

/// How a job's answers are read and judged: the provider's codec, the schema validator and
/// the validator plugins.
pub struct OutputChecks {
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) schema: jsonschema::Validator,
    pub(crate) plugins: Vec<Arc<dyn OutputCheck>>,
}

impl OutputChecks {
    /// The checks of a job with `output_schema` and `plugins`, reading answers with `codec`.
    pub fn new(
        codec: Arc<dyn Codec>,
        output_schema: &serde_json::Value,
        plugins: Vec<Arc<dyn OutputCheck>>,
    ) -> Result<Self, crate::LifecycleError> {
        let schema = jsonschema::validator_for(output_schema).map_err(|error| {
            crate::LifecycleError::Internal(format!("the output schema does not compile: {error}"))
        })?;
        Ok(Self {
            codec,
            schema,
            plugins,
        })
    }

    /// Problems `value` has against the label schema (at most 5), or none.
    pub(crate) fn schema_problems(&self, value: &serde_json::Value) -> Option<String> {
        if self.schema.is_valid(value) {
            return None;
        }
        let problems: Vec<String> = self
            .schema
            .iter_errors(value)
            .take(5)
            .map(|error| {
                let path = error.instance_path().to_string();
                if path.is_empty() {
                    error.to_string()
                } else {
                    format!("at `{path}`: {error}")
                }
            })
            .collect();
        Some(problems.join("; "))
    }
}
