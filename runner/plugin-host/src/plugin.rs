//! A loaded plugin (compiled, version-checked, described) and a configured one (a pool of
//! sandboxed instances that took the spec's `with:`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::host::{Limits, PluginHost};
use crate::instance::{CallError, State, describe_trap, new_store, set_deadline};
use crate::{INTERFACE_VERSION, PluginError};

/// Bindings for interface 1.x: one module per world.
mod v1 {
    pub(crate) mod validator {
        wasmtime::component::bindgen!({ path: "../../plugins/wit/v1", world: "validator-plugin" });
    }
    pub(crate) mod request_builder {
        wasmtime::component::bindgen!({ path: "../../plugins/wit/v1", world: "request-builder-plugin" });
    }
}

use v1::request_builder::{RequestBuilderPlugin, RequestBuilderPluginPre};
use v1::validator::{ValidatorPlugin, ValidatorPluginPre};

/// What a plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Row → request body.
    RequestBuilder,
    /// Output → normalized output.
    Validator,
}

impl PluginKind {
    fn interface(self) -> &'static str {
        match self {
            Self::RequestBuilder => "request-builder",
            Self::Validator => "validator",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Self::RequestBuilder => "a request builder",
            Self::Validator => "a validator",
        }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The JSON Schema of its configuration.
    pub config_schema: serde_json::Value,
}

enum Pre {
    Validator(ValidatorPluginPre<State>),
    RequestBuilder(RequestBuilderPluginPre<State>),
}

enum Bindings {
    Validator(ValidatorPlugin),
    RequestBuilder(RequestBuilderPlugin),
}

/// One live instance and its store.
struct Instance {
    store: Store<State>,
    bindings: Bindings,
}

/// A plugin file, compiled and checked.
pub struct LoadedPlugin {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// sha256 of its bytes (hex).
    pub sha256: String,
    /// What it does.
    pub kind: PluginKind,
    /// The interface version its exports carry.
    pub interface_version: String,
    /// Its name, version and configuration schema.
    pub info: PluginInfo,
    /// A request builder that reads the row's values (else the host sends `{}`).
    pub reads_row: bool,
    pre: Pre,
    host: Arc<PluginHost>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .finish_non_exhaustive()
    }
}

/// The version in an export name like `batchlabel:plugin/validator@1.0.0`.
fn exported_interfaces(component: &Component, engine: &wasmtime::Engine) -> Vec<(String, String)> {
    component
        .component_type()
        .exports(engine)
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix("batchlabel:plugin/")?;
            let (interface, version) = rest.split_once('@')?;
            Some((interface.to_string(), version.to_string()))
        })
        .collect()
}

impl LoadedPlugin {
    pub(crate) fn load(
        host: &Arc<PluginHost>,
        path: &Path,
        kind: PluginKind,
    ) -> Result<Self, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 =
            Sha256::digest(&bytes)
                .iter()
                .fold(String::with_capacity(64), |mut hex, byte| {
                    use std::fmt::Write as _;
                    let _ = write!(hex, "{byte:02x}");
                    hex
                });
        let component =
            crate::cache::component(&host.engine, host.cache_dir.as_deref(), &bytes, &sha256)
                .map_err(|error| PluginError::NotAComponent {
                    path: path.to_path_buf(),
                    message: first_line(&error),
                })?;
        let interfaces = exported_interfaces(&component, &host.engine);
        let wanted = interfaces
            .iter()
            .find(|(interface, _)| interface == kind.interface());
        let Some((_, version)) = wanted else {
            let problem = if interfaces.is_empty() {
                "is not a batchlabel plugin: it exports no `batchlabel:plugin` interface (build it with batchlabel-plugin-sdk)".to_string()
            } else if interfaces.iter().any(|(interface, _)| {
                interface == PluginKind::RequestBuilder.interface()
                    || interface == PluginKind::Validator.interface()
            }) {
                format!(
                    "is not {}: it exports {}",
                    kind.described(),
                    interfaces
                        .iter()
                        .map(|(interface, version)| format!("`{interface}@{version}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("does not export `batchlabel:plugin/{}`", kind.interface())
            };
            return Err(PluginError::WrongKind {
                path: path.to_path_buf(),
                problem,
            });
        };
        let major = |text: &str| text.split('.').next().map(str::to_string);
        if major(version) != major(INTERFACE_VERSION) {
            return Err(PluginError::IncompatibleVersion {
                path: path.to_path_buf(),
                plugin_version: version.clone(),
                host_version: INTERFACE_VERSION,
            });
        }
        let broken = |error: wasmtime::Error| PluginError::Broken {
            path: path.to_path_buf(),
            message: first_line(&error),
        };
        let mut linker: Linker<State> = Linker::new(&host.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(broken)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(broken)?;
        let pre = match kind {
            PluginKind::Validator => {
                Pre::Validator(ValidatorPluginPre::new(instance_pre).map_err(broken)?)
            }
            PluginKind::RequestBuilder => {
                Pre::RequestBuilder(RequestBuilderPluginPre::new(instance_pre).map_err(broken)?)
            }
        };
        let mut plugin = Self {
            path: path.to_path_buf(),
            sha256,
            kind,
            interface_version: version.clone(),
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                config_schema: serde_json::Value::Bool(true),
            },
            reads_row: true,
            pre,
            host: Arc::clone(host),
        };
        let mut instance = plugin
            .instantiate()
            .map_err(|message| PluginError::Broken {
                path: path.to_path_buf(),
                message,
            })?;
        let limits = plugin.host.limits;
        let described = match &instance.bindings {
            Bindings::Validator(bindings) => bindings
                .batchlabel_plugin_plugin()
                .call_describe(&mut instance.store)
                .map(|info| (info.name, info.version, info.config_schema)),
            Bindings::RequestBuilder(bindings) => bindings
                .batchlabel_plugin_plugin()
                .call_describe(&mut instance.store)
                .map(|info| (info.name, info.version, info.config_schema)),
        };
        let info = described.map_err(|error| PluginError::Broken {
            path: path.to_path_buf(),
            message: format!(
                "`describe` {}",
                describe_trap(&instance.store, &error, limits)
            ),
        })?;
        if let Bindings::RequestBuilder(bindings) = &instance.bindings {
            plugin.reads_row = bindings
                .batchlabel_plugin_request_builder()
                .call_reads_row(&mut instance.store)
                .map_err(|error| PluginError::Broken {
                    path: path.to_path_buf(),
                    message: format!(
                        "`reads-row` {}",
                        describe_trap(&instance.store, &error, limits)
                    ),
                })?;
        }
        let (name, version, config_schema) = info;
        plugin.info = PluginInfo {
            config_schema: serde_json::from_str(&config_schema).map_err(|error| {
                PluginError::Broken {
                    path: path.to_path_buf(),
                    message: format!("its configuration schema is not JSON: {error}"),
                }
            })?,
            name,
            version,
        };
        Ok(plugin)
    }

    /// `name@version`, as errors name the plugin.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    fn instantiate(&self) -> Result<Instance, String> {
        let limits = self.host.limits;
        let mut store = new_store(&self.host.engine, limits);
        let bindings = match &self.pre {
            Pre::Validator(pre) => pre.instantiate(&mut store).map(Bindings::Validator),
            Pre::RequestBuilder(pre) => pre.instantiate(&mut store).map(Bindings::RequestBuilder),
        };
        match bindings {
            Ok(bindings) => Ok(Instance { store, bindings }),
            Err(error) => Err(format!(
                "failed to start: {}",
                describe_trap(&store, &error, limits)
            )),
        }
    }

    /// Give the plugin its configuration (`with:` as JSON); a rejection names the plugin.
    pub fn configure(
        self: &Arc<Self>,
        config: &serde_json::Value,
    ) -> Result<ConfiguredPlugin, PluginError> {
        let configured = ConfiguredPlugin {
            plugin: Arc::clone(self),
            config: config.to_string(),
            idle: Mutex::new(Vec::new()),
        };
        // Configure one instance now, so a bad `with:` is an error before any row.
        let instance = configured
            .new_instance()
            .map_err(|error| PluginError::Config {
                plugin: self.label(),
                message: error.to_string(),
            })?;
        configured.check_in(instance);
        Ok(configured)
    }
}

/// A configured plugin: a pool of instances, safe to call from many threads.
pub struct ConfiguredPlugin {
    plugin: Arc<LoadedPlugin>,
    config: String,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for ConfiguredPlugin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConfiguredPlugin")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl ConfiguredPlugin {
    /// The plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    fn limits(&self) -> Limits {
        self.plugin.host.limits
    }

    fn new_instance(&self) -> Result<Instance, CallError> {
        let mut instance = self.plugin.instantiate().map_err(CallError::Crashed)?;
        let limits = self.limits();
        let outcome = match &instance.bindings {
            Bindings::Validator(bindings) => bindings
                .batchlabel_plugin_plugin()
                .call_configure(&mut instance.store, &self.config)
                .map(|answer| answer.map_err(|error| error.message)),
            Bindings::RequestBuilder(bindings) => bindings
                .batchlabel_plugin_plugin()
                .call_configure(&mut instance.store, &self.config)
                .map(|answer| answer.map_err(|error| error.message)),
        };
        match outcome {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(CallError::Rejected(message)),
            Err(error) => Err(CallError::Crashed(format!(
                "`configure` {}",
                describe_trap(&instance.store, &error, limits)
            ))),
        }
    }

    fn check_out(&self) -> Result<Instance, CallError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(instance) => Ok(instance),
            None => self.new_instance(),
        }
    }

    fn check_in(&self, instance: Instance) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(instance);
        }
    }

    /// Run one call on a pooled instance; a trapped instance is dropped, not returned.
    fn call(
        &self,
        run: impl FnOnce(&Bindings, &mut Store<State>) -> wasmtime::Result<Result<String, String>>,
    ) -> Result<String, CallError> {
        let mut instance = self.check_out()?;
        let limits = self.limits();
        set_deadline(&mut instance.store, limits);
        let outcome = run(&instance.bindings, &mut instance.store);
        match outcome {
            Ok(answer) => {
                self.check_in(instance);
                answer.map_err(CallError::Rejected)
            }
            Err(error) => Err(CallError::Crashed(describe_trap(
                &instance.store,
                &error,
                limits,
            ))),
        }
    }

    /// A request builder's messages (role, content) and body fields (JSON object text,
    /// checked; empty when none) for `row` (JSON object text) with `row_id`, from the
    /// templates' `messages`.
    pub fn build(
        &self,
        row: &str,
        (row_id, text_column): (&str, Option<&str>),
        messages: Vec<(String, String)>,
    ) -> Result<(Vec<(String, String)>, String), CallError> {
        use v1::request_builder::exports::batchlabel::plugin::request_builder::{
            Message, RowContext,
        };
        let context = RowContext {
            row_id: row_id.to_string(),
            text_column: text_column.map(str::to_string),
        };
        let messages: Vec<Message> = messages
            .into_iter()
            .map(|(role, content)| Message { role, content })
            .collect();
        let mut built = None;
        self.call(|bindings, store| match bindings {
            Bindings::RequestBuilder(bindings) => bindings
                .batchlabel_plugin_request_builder()
                .call_build(store, row, &context, &messages)
                .map(|answer| match answer {
                    Ok(request) => {
                        built = Some(request);
                        Ok(String::new())
                    }
                    Err(error) => Err(error.message),
                }),
            Bindings::Validator(_) => Ok(Err("not a request builder".into())),
        })?;
        let request = built.ok_or_else(|| CallError::Crashed("returned no request".into()))?;
        if !request.body_fields.is_empty() {
            let object = serde_json::from_str::<&serde_json::value::RawValue>(&request.body_fields)
                .is_ok_and(|raw| raw.get().starts_with('{'));
            if !object {
                return Err(CallError::Crashed(format!(
                    "returned body fields that are not a JSON object: {}",
                    preview(&request.body_fields)
                )));
            }
        }
        if request.messages.is_empty() {
            return Err(CallError::Crashed("returned no messages".into()));
        }
        Ok((
            request
                .messages
                .into_iter()
                .map(|message| (message.role, message.content))
                .collect(),
            request.body_fields,
        ))
    }

    /// A validator's normalized output for `output` (JSON) of `row` (JSON).
    pub fn validate(&self, output: &str, row: &str) -> Result<serde_json::Value, CallError> {
        let answer = self.call(|bindings, store| match bindings {
            Bindings::Validator(bindings) => bindings
                .batchlabel_plugin_validator()
                .call_validate(store, output, row)
                .map(|answer| answer.map_err(|error| error.message)),
            Bindings::RequestBuilder(_) => Ok(Err("not a validator".into())),
        })?;
        serde_json::from_str(&answer).map_err(|error| {
            CallError::Crashed(format!(
                "returned an output that is not JSON ({error}): {}",
                preview(&answer)
            ))
        })
    }
}

/// The error's first line: wasmtime's chains continue with backtraces and context.
fn first_line(error: &wasmtime::Error) -> String {
    format!("{error:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn preview(text: &str) -> String {
    let short: String = text.chars().take(80).collect();
    if short.len() < text.len() {
        format!("`{short}…`")
    } else {
        format!("`{short}`")
    }
}
