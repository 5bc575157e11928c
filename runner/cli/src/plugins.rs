//! A job's plugins: loaded in the wasmtime sandbox (batchlabel-plugin-host), their `with:`
//! checked against the schema each plugin declares, configured, and adapted to the compile
//! and ingest hooks. Every problem is a spec diagnostic at the plugin's entry, all at once.

use std::sync::Arc;

use batchlabel_compile::{BuiltRequest, PluginFailure, RequestHook};
use batchlabel_lifecycle::{OutputCheck, Plugins};
use batchlabel_plugin_host::{CallError, ConfiguredPlugin, PluginHost, PluginKind};
use batchlabel_spec::{Diagnostics, Job, PluginUse};

/// What `check` says about a loaded plugin.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PluginSummary {
    /// Where it is in the spec.
    pub(crate) pointer: String,
    /// `request-builder` or `validator`.
    pub(crate) kind: &'static str,
    /// Its name and version.
    pub(crate) name: String,
    pub(crate) version: String,
    /// The interface version it was built against.
    pub(crate) interface: String,
    /// sha256 of the `.wasm`.
    pub(crate) sha256: String,
    /// The JSON Schema of its `with:`.
    pub(crate) config_schema: serde_json::Value,
}

struct RequestPlugin(ConfiguredPlugin);
struct ValidatorPlugin(ConfiguredPlugin);

fn failure(plugin: &ConfiguredPlugin, error: CallError, rejected: &str) -> PluginFailure {
    let label = plugin.plugin().label();
    match error {
        CallError::Rejected(message) => PluginFailure {
            crashed: false,
            message: format!("{label} rejected the {rejected}: {message}"),
        },
        CallError::Crashed(message) => PluginFailure {
            crashed: true,
            message: format!("{label} {message}"),
        },
    }
}

impl RequestHook for RequestPlugin {
    fn reads_row(&self) -> bool {
        self.0.plugin().reads_row
    }

    fn build(
        &self,
        row: &str,
        identity: (&str, Option<&str>),
        messages: Vec<(String, String)>,
    ) -> Result<BuiltRequest, PluginFailure> {
        self.0
            .build(row, identity, messages)
            .map(|(messages, body_fields)| BuiltRequest {
                messages,
                body_fields,
            })
            .map_err(|error| failure(&self.0, error, "row"))
    }
}

impl OutputCheck for ValidatorPlugin {
    fn check(&self, output: &str, row: &str) -> Result<serde_json::Value, PluginFailure> {
        self.0
            .validate(output, row)
            .map_err(|error| failure(&self.0, error, "output"))
    }
}

fn problem(
    job: &Job,
    pointer: &str,
    code: &'static str,
    message: String,
    help: &str,
) -> Diagnostics {
    batchlabel_spec::diagnostic_at(
        &job.spec_path,
        pointer,
        code,
        message,
        if help.is_empty() {
            Vec::new()
        } else {
            vec![help.to_string()]
        },
    )
}

/// Add `found` to the problems gathered so far (all are reported at once).
fn gather(all: &mut Option<Diagnostics>, found: Diagnostics) {
    match all {
        Some(all) => all.items.extend(found.items),
        None => *all = Some(found),
    }
}

/// The configuration schema when it is short enough to read in a terminal, else where to
/// find it.
fn schema_hint(schema: &serde_json::Value) -> String {
    let text = schema.to_string();
    if text.chars().count() <= 160 {
        format!("the plugin's configuration schema: {text}")
    } else {
        let properties: Vec<&String> = schema["properties"]
            .as_object()
            .map(|properties| properties.keys().collect())
            .unwrap_or_default();
        format!(
            "the plugin takes: {}; `batchlabel check --json` shows its whole configuration schema",
            properties
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Load, check and configure one plugin.
fn load_one(
    host: &Arc<PluginHost>,
    job: &Job,
    plugin: &PluginUse,
    kind: PluginKind,
) -> Result<(ConfiguredPlugin, PluginSummary), Diagnostics> {
    let uses = format!("{}/uses", plugin.pointer);
    let loaded = host.load(&plugin.path, kind).map_err(|error| {
        problem(
            job,
            &uses,
            "plugin-load",
            error.to_string(),
            "see plugins/README.md for building plugins",
        )
    })?;
    let loaded = Arc::new(loaded);
    // The configuration against the schema the plugin declares: every problem, positioned.
    if let Ok(validator) = jsonschema::validator_for(&loaded.info.config_schema)
        && !validator.is_valid(&plugin.config)
    {
        let mut all: Option<Diagnostics> = None;
        for error in validator.iter_errors(&plugin.config) {
            let pointer = format!("{}/with{}", plugin.pointer, error.instance_path());
            let found = problem(
                job,
                &pointer,
                "plugin-config",
                format!("{} configuration: {error}", loaded.label()),
                &schema_hint(&loaded.info.config_schema),
            );
            gather(&mut all, found);
        }
        if let Some(all) = all {
            return Err(all);
        }
    }
    let configured = loaded.configure(&plugin.config).map_err(|error| {
        problem(
            job,
            &format!("{}/with", plugin.pointer),
            "plugin-config",
            error.to_string(),
            "",
        )
    })?;
    let summary = PluginSummary {
        pointer: plugin.pointer.clone(),
        kind: match kind {
            PluginKind::RequestBuilder => "request-builder",
            PluginKind::Validator => "validator",
        },
        name: loaded.info.name.clone(),
        version: loaded.info.version.clone(),
        interface: loaded.interface_version.clone(),
        sha256: loaded.sha256.clone(),
        config_schema: loaded.info.config_schema.clone(),
    };
    Ok((configured, summary))
}

/// Every plugin of `job`, ready for compile and ingest, with a summary of each.
pub(crate) fn load_plugins(job: &Job) -> Result<(Plugins, Vec<PluginSummary>), Diagnostics> {
    let mut plugins = Plugins::default();
    let mut summaries = Vec::new();
    if job.request_plugin.is_none() && job.validator_plugins.is_empty() {
        return Ok((plugins, summaries));
    }
    let host = PluginHost::shared()
        .map_err(|error| problem(job, "/plugins", "plugin-host", error.to_string(), ""))?;
    let mut problems: Option<Diagnostics> = None;
    if let Some(plugin) = &job.request_plugin {
        match load_one(&host, job, plugin, PluginKind::RequestBuilder) {
            Ok((configured, summary)) => {
                plugins.request = Some(Arc::new(RequestPlugin(configured)));
                summaries.push(summary);
            }
            Err(found) => gather(&mut problems, found),
        }
    }
    for plugin in &job.validator_plugins {
        match load_one(&host, job, plugin, PluginKind::Validator) {
            Ok((configured, summary)) => {
                plugins
                    .validators
                    .push(Arc::new(ValidatorPlugin(configured)));
                summaries.push(summary);
            }
            Err(found) => gather(&mut problems, found),
        }
    }
    match problems {
        Some(problems) => Err(problems),
        None => Ok((plugins, summaries)),
    }
}
