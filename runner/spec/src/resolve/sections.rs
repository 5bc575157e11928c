//! Resolving the spec's sections other than labels, input and output: prompt templates,
//! model parameters and batch limits.

use std::path::Path;

use crate::job::{BatchLimits, LabelField, Model, Prompt, Template};
use crate::job_spec::{JobSpec, ModelSpec, PromptSpec, ProviderKind};
use crate::templates::{TemplatePlace, check_template, read_template_file};
use crate::yaml::pointer_segment;

use super::Resolver;

impl Resolver<'_> {
    pub(super) fn template(
        &mut self,
        role: &'static str,
        inline: Option<&String>,
        file: Option<&String>,
    ) -> Option<(Template, String)> {
        match (inline, file) {
            (Some(text), None) => Some((
                Template {
                    role,
                    text: text.clone(),
                    file: None,
                },
                format!("/prompt/{role}"),
            )),
            (None, Some(file)) => {
                let pointer = format!("/prompt/{role}_file");
                let path = self.path(file);
                match read_template_file(&path, self.spans.value(&pointer)) {
                    Ok(text) => {
                        self.extra_sources.push((path.clone(), text.clone()));
                        Some((
                            Template {
                                role,
                                text,
                                file: Some(path),
                            },
                            pointer,
                        ))
                    }
                    Err(diagnostic) => {
                        self.found.push(diagnostic);
                        None
                    }
                }
            }
            (Some(_), Some(_)) => {
                let span = self.spans.key(&format!("/prompt/{role}_file"));
                self.error(
                    "conflicting-fields",
                    format!("`prompt` has both `{role}` and `{role}_file`"),
                    span,
                    "keep one of them",
                );
                None
            }
            (None, None) => None,
        }
    }

    pub(super) fn prompt(
        &mut self,
        prompt: &PromptSpec,
        fields: &[LabelField],
        has_text_column: bool,
    ) -> Option<Prompt> {
        let system = self.template(
            "system",
            prompt.system.as_ref(),
            prompt.system_file.as_ref(),
        );
        let user = self.template("user", prompt.user.as_ref(), prompt.user_file.as_ref());
        if user.is_none() && prompt.user.is_none() && prompt.user_file.is_none() {
            let span = self.spans.key("/prompt");
            self.error(
                "missing-field",
                "`prompt` has no user message".into(),
                span,
                "add `user: \"{{ row.text }}\"` (inline) or `user_file: prompts/user.j2`",
            );
        }
        let mut row_columns = Vec::new();
        for (template, pointer) in system.iter().chain(user.iter()) {
            let place = TemplatePlace {
                spec_text: self.text,
                spans: self.spans,
                pointer: pointer.clone(),
            };
            row_columns.extend(check_template(
                template,
                &place,
                fields,
                has_text_column,
                &mut self.found,
            ));
        }
        row_columns.sort();
        row_columns.dedup();
        let whole_row = row_columns.first().is_some_and(String::is_empty);
        row_columns.retain(|column| !column.is_empty());
        Some(Prompt {
            system: system.map(|(template, _)| template),
            user: user?.0,
            row_columns,
            whole_row,
        })
    }

    pub(super) fn model(&mut self, spec: &ModelSpec) -> Option<Model> {
        let mut parameters = serde_json::Map::new();
        if let Some(temperature) = spec.temperature {
            parameters.insert("temperature".into(), temperature.into());
        }
        if let Some(top_p) = spec.top_p {
            parameters.insert("top_p".into(), top_p.into());
        }
        if let Some(max) = spec.max_completion_tokens {
            parameters.insert("max_completion_tokens".into(), max.into());
        }
        if let Some(seed) = spec.seed {
            parameters.insert("seed".into(), seed.into());
        }
        if let Some(effort) = spec.reasoning_effort {
            parameters.insert(
                "reasoning_effort".into(),
                serde_json::to_value(effort).unwrap_or_default(),
            );
        }
        let mut ok = true;
        for (key, value) in spec.extra_body.iter().flatten() {
            const RESERVED: &[&str] = &["model", "messages", "response_format", "stream", "n"];
            if RESERVED.contains(&key.as_str()) || parameters.contains_key(key) {
                let span = self
                    .spans
                    .key(&format!("/model/extra_body/{}", pointer_segment(key)));
                self.error("reserved-field", format!("`extra_body.{key}` would override a field batchlabel sets"), span, "set it through the spec instead (e.g. `model.name`, `model.temperature`), or remove it");
                ok = false;
            }
            parameters.insert(key.clone(), value.clone());
        }
        if spec.name.trim().is_empty() {
            let span = self.spans.value("/model/name");
            self.error(
                "invalid-value",
                "`model.name` is empty".into(),
                span,
                "e.g. `gpt-4o-mini`",
            );
            ok = false;
        }
        ok &= self.provider_settings(spec);
        ok.then(|| Model {
            provider: spec.provider,
            name: spec.name.clone(),
            parameters,
            max_completion_tokens: spec.max_completion_tokens,
            base_url: spec.base_url.clone(),
            dialect: spec.dialect.unwrap_or_else(|| {
                crate::job_spec::OpenaiDialect::of_url(spec.base_url.as_deref().unwrap_or(""))
            }),
            azure: spec.azure.clone().unwrap_or_default(),
            anthropic: spec.anthropic.clone().unwrap_or_default(),
        })
    }

    pub(super) fn limits(&mut self, spec: &JobSpec) -> Option<BatchLimits> {
        let provider = spec.model.provider;
        let mut limits = provider.limits();
        let Some(batch) = &spec.batch else {
            return Some(limits);
        };
        let requests = self.within_provider_limit(
            provider,
            "max_requests_per_file",
            "requests",
            batch.max_requests_per_file,
            limits.max_requests_per_file,
        );
        let bytes = self.within_provider_limit(
            provider,
            "max_bytes_per_file",
            "bytes",
            batch.max_bytes_per_file,
            limits.max_bytes_per_file,
        );
        let ok = requests.is_some() && bytes.is_some();
        limits.max_requests_per_file = requests.unwrap_or(limits.max_requests_per_file);
        limits.max_bytes_per_file = bytes.unwrap_or(limits.max_bytes_per_file);
        if let Some(attempts) = batch.max_attempts {
            limits.max_attempts = attempts;
        }
        ok.then_some(limits)
    }

    /// `wanted` (from `batch.<key>`), or the provider's `limit` when unset; `None` (with a
    /// diagnostic) when it exceeds what the provider accepts.
    pub(super) fn within_provider_limit(
        &mut self,
        provider: ProviderKind,
        key: &str,
        unit: &str,
        wanted: Option<u64>,
        limit: u64,
    ) -> Option<u64> {
        let Some(wanted) = wanted else {
            return Some(limit);
        };
        if wanted <= limit {
            return Some(wanted);
        }
        let span = self.spans.value(&format!("/batch/{key}"));
        let message = format!(
            "`{}` accepts at most {limit} {unit} per file, not {wanted}",
            provider.as_str()
        );
        self.error(
            "over-provider-limit",
            message,
            span,
            "lower it, or remove it to use the provider's limit",
        );
        None
    }
}

impl Resolver<'_> {
    /// The plugins: each `.wasm` must exist; its sha256 joins the fingerprint. Whether it is
    /// a plugin and takes its `with:` is checked by `batchlabel check` (which loads it).
    pub(super) fn plugins(
        &mut self,
        spec: &JobSpec,
    ) -> (Option<crate::job::PluginUse>, Vec<crate::job::PluginUse>) {
        let Some(plugins) = &spec.plugins else {
            return (None, Vec::new());
        };
        let request = plugins
            .request
            .as_ref()
            .and_then(|plugin| self.plugin(plugin, "/plugins/request".to_string()));
        let validators = plugins
            .validate
            .iter()
            .enumerate()
            .filter_map(|(index, plugin)| self.plugin(plugin, format!("/plugins/validate/{index}")))
            .collect();
        (request, validators)
    }

    fn plugin(
        &mut self,
        plugin: &crate::job_spec::PluginUseSpec,
        pointer: String,
    ) -> Option<crate::job::PluginUse> {
        use sha2::Digest as _;
        let path = self.path(&plugin.uses);
        let span = self.spans.value(&format!("{pointer}/uses"));
        let bytes = match crate::files::read_limited(&path, crate::files::MAX_PLUGIN_BYTES) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.error(
                    "plugin-not-found",
                    error.describe("plugin", Path::new(&plugin.uses)),
                    span,
                    "paths are relative to the spec file; build the example plugins with `cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml`",
                );
                return None;
            }
        };
        let sha256 = super::hex(&sha2::Sha256::digest(&bytes));
        Some(crate::job::PluginUse {
            path,
            sha256,
            config: plugin.with.clone().unwrap_or_else(|| serde_json::json!({})),
            pointer,
        })
    }
}
