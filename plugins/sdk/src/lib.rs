//! batchlabel-plugin-sdk: write a batchlabel plugin by implementing [`RequestBuilder`] or
//! [`Validator`] and calling [`export_request_builder!`] or [`export_validator!`] once. The
//! WIT bindings (interface `batchlabel:plugin@1.0.0`, `plugins/wit/v1`) are generated here and
//! kept out of sight; plugins see plain Rust and `serde_json` values.
//!
//! ```ignore
//! use batchlabel_plugin_sdk::{PluginError, PluginInfo, Row, Validator, Value, export_validator, json};
//!
//! struct Upper;
//! impl Validator for Upper {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("upper", env!("CARGO_PKG_VERSION"), json!({"type": "object"}))
//!     }
//!     fn configure(_config: Value) -> Result<Self, PluginError> { Ok(Upper) }
//!     fn validate(&self, output: Value, _row: &Row) -> Result<Value, PluginError> { Ok(output) }
//! }
//! export_validator!(Upper);
//! ```

pub use serde_json::{Map, Value, json};

/// The interface version this SDK builds against.
pub const INTERFACE_VERSION: &str = "1.0.0";

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Short name, e.g. `pii-scrub`.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// JSON Schema of the configuration (`with:` in the spec).
    pub config_schema: Value,
}

impl PluginInfo {
    /// Name, version and configuration schema.
    pub fn new(name: &str, version: &str, config_schema: Value) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            config_schema,
        }
    }
}

/// An expected failure, reported against the row (say what was expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl PluginError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        Self(message.to_string())
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// What a request builder gets besides the row's values.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The row's id.
    pub row_id: String,
    /// The spec's `input.text` column, if named.
    pub text_column: Option<String>,
    /// The messages the spec's templates rendered for the row.
    pub messages: Vec<Message>,
}

/// What a request builder sends.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// Other body fields to set or replace (e.g. `temperature`); usually none.
    pub body_fields: Map<String, Value>,
}

impl Request {
    /// A request with these messages and the job's other fields unchanged.
    pub fn messages(messages: Vec<Message>) -> Self {
        Self {
            messages,
            body_fields: Map::new(),
        }
    }
}

/// Which row an output belongs to.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's id.
    pub id: String,
    /// The request's custom_id.
    pub custom_id: String,
}

/// A plugin that turns rows into request bodies.
pub trait RequestBuilder: Sized + 'static {
    /// Whether `build` reads the row's values; `false` means the host does not even send
    /// them (the rendered messages have the text already), which makes each call cheaper.
    const READS_ROW: bool = true;
    /// Name, version and configuration schema.
    fn info() -> PluginInfo;
    /// Build the plugin from the spec's `with:` (`{}` when absent).
    fn configure(config: Value) -> Result<Self, PluginError>;
    /// What to send for `row` (start from `context.messages`).
    fn build(
        &self,
        row: &Map<String, Value>,
        context: RequestContext,
    ) -> Result<Request, PluginError>;
}

/// A plugin that checks and normalizes outputs.
pub trait Validator: Sized + 'static {
    /// Name, version and configuration schema.
    fn info() -> PluginInfo;
    /// Build the plugin from the spec's `with:` (`{}` when absent).
    fn configure(config: Value) -> Result<Self, PluginError>;
    /// The normalized output, or why `output` is rejected.
    fn validate(&self, output: Value, row: &Row) -> Result<Value, PluginError>;
}

#[doc(hidden)]
pub use batchlabel_plugin_request_builder_bindings as request_builder_world;
#[doc(hidden)]
pub use batchlabel_plugin_validator_bindings as validator_world;

/// Glue the export macros call; not for plugin code.
#[doc(hidden)]
pub mod glue {
    use super::{
        Map, Message, PluginError, PluginInfo, RequestBuilder, RequestContext, Row, Validator,
        Value,
    };

    fn parse(what: &str, text: &str) -> Result<Value, PluginError> {
        serde_json::from_str(text)
            .map_err(|error| PluginError(format!("the host sent {what} that is not JSON: {error}")))
    }

    /// `describe`, as text fields.
    pub fn info(info: PluginInfo) -> (String, String, String) {
        (info.name, info.version, info.config_schema.to_string())
    }

    /// `configure` for any plugin type.
    pub fn configure<T>(
        config: &str,
        make: fn(Value) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        make(parse("a configuration", config)?)
    }

    /// Messages as they cross the interface: (role, content).
    pub type Messages = Vec<(String, String)>;

    /// `build` for a request builder: the messages and the body fields (JSON text, empty
    /// when none) to send.
    pub fn build<T: RequestBuilder>(
        plugin: Option<&T>,
        row: &str,
        (row_id, text_column): (String, Option<String>),
        messages: Messages,
    ) -> Result<(Messages, String), PluginError> {
        let plugin = plugin.ok_or_else(|| PluginError::new("build called before configure"))?;
        let row = if T::READS_ROW {
            let Value::Object(row) = parse("a row", row)? else {
                return Err(PluginError::new("the row is not a JSON object"));
            };
            row
        } else {
            Map::new()
        };
        let context = RequestContext {
            row_id,
            text_column,
            messages: messages
                .into_iter()
                .map(|(role, content)| Message { role, content })
                .collect(),
        };
        let request = plugin.build(&row, context)?;
        let body_fields = if request.body_fields.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&request.body_fields).unwrap_or_default()
        };
        Ok((
            request
                .messages
                .into_iter()
                .map(|message| (message.role, message.content))
                .collect(),
            body_fields,
        ))
    }

    /// `validate` for a validator.
    pub fn validate<T: Validator>(
        plugin: Option<&T>,
        output: &str,
        row: &str,
    ) -> Result<String, PluginError> {
        let plugin = plugin.ok_or_else(|| PluginError::new("validate called before configure"))?;
        let output = parse("an output", output)?;
        let row = parse("a row", row)?;
        let row = Row {
            id: row["id"].as_str().unwrap_or_default().to_string(),
            custom_id: row["custom_id"].as_str().unwrap_or_default().to_string(),
        };
        plugin
            .validate(output, &row)
            .map(|output| output.to_string())
    }
}

/// The instance's plugin value and the `plugin` interface (describe, configure), shared by
/// both export macros; expanded where `__world` names the world's exports.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_state_and_setup {
    ($plugin:ty, $kind:path) => {
        #[allow(dead_code)]
        struct __Export;
        ::std::thread_local! {
            static __STATE: ::core::cell::RefCell<::core::option::Option<$plugin>> =
                const { ::core::cell::RefCell::new(::core::option::Option::None) };
        }
        impl __world::plugin::Guest for __Export {
            fn describe() -> __world::plugin::PluginInfo {
                let (name, version, config_schema) = $crate::glue::info(<$plugin as $kind>::info());
                __world::plugin::PluginInfo {
                    name,
                    version,
                    config_schema,
                }
            }
            fn configure(config: String) -> Result<(), __world::plugin::PluginError> {
                let plugin = $crate::glue::configure(&config, <$plugin as $kind>::configure)
                    .map_err(|error| __world::plugin::PluginError { message: error.0 })?;
                __STATE.with(|state| *state.borrow_mut() = Some(plugin));
                Ok(())
            }
        }
    };
}

/// Export a [`RequestBuilder`] as the plugin's component exports.
#[macro_export]
macro_rules! export_request_builder {
    ($plugin:ty) => {
        const _: () = {
            use $crate::request_builder_world::exports::batchlabel::plugin as __world;
            $crate::__plugin_state_and_setup!($plugin, $crate::RequestBuilder);
            impl __world::request_builder::Guest for __Export {
                fn reads_row() -> bool {
                    <$plugin as $crate::RequestBuilder>::READS_ROW
                }
                fn build(
                    row: String,
                    context: __world::request_builder::RowContext,
                    messages: Vec<__world::request_builder::Message>,
                ) -> Result<__world::request_builder::Request, __world::request_builder::PluginError>
                {
                    let messages = messages
                        .into_iter()
                        .map(|message| (message.role, message.content))
                        .collect();
                    __STATE
                        .with(|state| {
                            $crate::glue::build(
                                state.borrow().as_ref(),
                                &row,
                                (context.row_id, context.text_column),
                                messages,
                            )
                        })
                        .map(|(messages, body_fields)| __world::request_builder::Request {
                            messages: messages
                                .into_iter()
                                .map(|(role, content)| __world::request_builder::Message {
                                    role,
                                    content,
                                })
                                .collect(),
                            body_fields,
                        })
                        .map_err(|error| __world::request_builder::PluginError { message: error.0 })
                }
            }
            // Native builds (the plugin's unit tests) have no component exports.
            #[cfg(target_arch = "wasm32")]
            $crate::request_builder_world::__export_request_builder_world!(__Export);
        };
    };
}

/// Export a [`Validator`] as the plugin's component exports.
#[macro_export]
macro_rules! export_validator {
    ($plugin:ty) => {
        const _: () = {
            use $crate::validator_world::exports::batchlabel::plugin as __world;
            $crate::__plugin_state_and_setup!($plugin, $crate::Validator);
            impl __world::validator::Guest for __Export {
                fn validate(
                    output: String,
                    row: String,
                ) -> Result<String, __world::validator::PluginError> {
                    __STATE
                        .with(|state| {
                            $crate::glue::validate(state.borrow().as_ref(), &output, &row)
                        })
                        .map_err(|error| __world::validator::PluginError { message: error.0 })
                }
            }
            // Native builds (the plugin's unit tests) have no component exports.
            #[cfg(target_arch = "wasm32")]
            $crate::validator_world::__export_validator_world!(__Export);
        };
    };
}
