//! What one provider accepts in the `model` block and the others do not: its own settings
//! block, parameter ranges, parameters it has no equivalent for, and fields of its request
//! body batchlabel sets itself. Each problem points at the spec's line and column.

use crate::job_spec::{ModelSpec, ProviderKind};
use crate::yaml::pointer_segment;

use super::Resolver;

/// Request-body fields batchlabel writes for Anthropic: `extra_body` may not set them.
const ANTHROPIC_RESERVED: &[&str] = &[
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "output_config",
    "output_format",
];

/// Request fields batchlabel writes for Gemini (a `GenerateContentRequest`).
const GEMINI_RESERVED: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
];

/// Request-body fields batchlabel writes for Mistral under other names.
const MISTRAL_RESERVED: &[&str] = &["max_tokens", "random_seed"];

impl Resolver<'_> {
    /// Check the provider-specific parts of `spec`; false when there is an error.
    pub(super) fn provider_settings(&mut self, spec: &ModelSpec) -> bool {
        let provider = spec.provider;
        let mut ok = true;
        let blocks = [
            ("azure", spec.azure.is_some(), ProviderKind::AzureOpenai),
            (
                "anthropic",
                spec.anthropic.is_some(),
                ProviderKind::Anthropic,
            ),
        ];
        for (key, given, owner) in blocks {
            if given && provider != owner {
                let span = self.spans.key(&format!("/model/{key}"));
                self.error(
                    "conflicting-fields",
                    format!(
                        "`model.{key}` only applies to `provider: {}`, not `{}`",
                        owner.as_str(),
                        provider.as_str()
                    ),
                    span,
                    "remove the block, or change `model.provider`",
                );
                ok = false;
            }
        }
        if spec.dialect.is_some() && provider != ProviderKind::Openai {
            let span = self.spans.key("/model/dialect");
            self.error(
                "conflicting-fields",
                format!(
                    "`model.dialect` only applies to `provider: openai`, not `{}`",
                    provider.as_str()
                ),
                span,
                "remove it, or change `model.provider`",
            );
            ok = false;
        }
        match provider {
            ProviderKind::Anthropic => ok &= self.anthropic_settings(spec),
            ProviderKind::AzureOpenai => ok &= self.azure_settings(spec),
            ProviderKind::Gemini => {
                ok &= self.unsupported(spec, "gemini", &["reasoning_effort"], GEMINI_RESERVED);
            }
            ProviderKind::Mistral => {
                ok &= self.unsupported(spec, "mistral", &["reasoning_effort"], MISTRAL_RESERVED);
            }
            ProviderKind::Openai | ProviderKind::Local => {}
        }
        ok
    }

    /// Parameters `provider` has no equivalent for, and `extra_body` fields it reserves.
    fn unsupported(
        &mut self,
        spec: &ModelSpec,
        provider: &str,
        parameters: &[&str],
        reserved: &[&str],
    ) -> bool {
        let mut ok = true;
        for key in parameters {
            let given = match *key {
                "seed" => spec.seed.is_some(),
                "reasoning_effort" => spec.reasoning_effort.is_some(),
                _ => false,
            };
            if given {
                let span = self.spans.key(&format!("/model/{key}"));
                self.error(
                    "unsupported-by-provider",
                    format!("`{provider}` has no `{key}`"),
                    span,
                    "remove it (the provider's API does not take it)",
                );
                ok = false;
            }
        }
        for key in spec.extra_body.iter().flat_map(|extra| extra.keys()) {
            if reserved.contains(&key.as_str()) {
                let span = self
                    .spans
                    .key(&format!("/model/extra_body/{}", pointer_segment(key)));
                self.error(
                    "reserved-field",
                    format!("`extra_body.{key}` would override a field batchlabel sets for `{provider}`"),
                    span,
                    "sampling parameters have their own `model` fields; the prompt and the output schema come from the spec",
                );
                ok = false;
            }
        }
        ok
    }

    fn anthropic_settings(&mut self, spec: &ModelSpec) -> bool {
        let mut ok = true;
        if spec
            .temperature
            .is_some_and(|temperature| temperature > 1.0)
        {
            let span = self.spans.value("/model/temperature");
            self.error(
                "over-provider-limit",
                "`anthropic` accepts a temperature from 0 to 1".into(),
                span,
                "use 0 for labeling",
            );
            ok = false;
        }
        let unsupported = [
            ("seed", spec.seed.is_some()),
            ("reasoning_effort", spec.reasoning_effort.is_some()),
        ];
        for (key, given) in unsupported {
            if given {
                let span = self.spans.key(&format!("/model/{key}"));
                self.error(
                    "unsupported-by-provider",
                    format!("`anthropic` has no `{key}`"),
                    span,
                    "remove it (the Messages API does not take it)",
                );
                ok = false;
            }
        }
        for key in spec.extra_body.iter().flat_map(|extra| extra.keys()) {
            if ANTHROPIC_RESERVED.contains(&key.as_str()) {
                let span = self
                    .spans
                    .key(&format!("/model/extra_body/{}", pointer_segment(key)));
                self.error(
                    "reserved-field",
                    format!("`extra_body.{key}` would override a field batchlabel sets for `anthropic`"),
                    span,
                    "`max_tokens` is `model.max_completion_tokens`; the system prompt and the output schema come from the spec",
                );
                ok = false;
            }
        }
        ok
    }

    fn azure_settings(&mut self, spec: &ModelSpec) -> bool {
        let Some(azure) = &spec.azure else {
            return true;
        };
        let mut ok = true;
        if let Some(version) = &azure.api_version
            && !is_api_version(version)
        {
            let span = self.spans.value("/model/azure/api_version");
            self.error(
                "invalid-value",
                format!("`{version}` is not an Azure OpenAI api-version"),
                span,
                "e.g. `2025-04-01-preview` or `2024-10-21`; leave it out to use the v1 API",
            );
            ok = false;
        }
        let empty = [
            ("deployment", azure.deployment.as_deref()),
            ("endpoint", azure.endpoint.as_deref()),
        ];
        for (key, value) in empty {
            if value.is_some_and(|value| value.trim().is_empty()) {
                let span = self.spans.value(&format!("/model/azure/{key}"));
                self.error(
                    "invalid-value",
                    format!("`model.azure.{key}` is empty"),
                    span,
                    "name it, or leave the key out",
                );
                ok = false;
            }
        }
        ok
    }
}

/// `YYYY-MM-DD`, optionally `-preview`.
fn is_api_version(text: &str) -> bool {
    let date = text.strip_suffix("-preview").unwrap_or(text);
    let bytes = date.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_versions() {
        assert!(super::is_api_version("2024-10-21"));
        assert!(super::is_api_version("2025-04-01-preview"));
        assert!(!super::is_api_version("latest"));
        assert!(!super::is_api_version("2025-4-01"));
    }
}
