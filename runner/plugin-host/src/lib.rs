//! batchlabel-plugin-host: runs WASM plugins (components built against the
//! `batchlabel:plugin` WIT interface, `plugins/wit/`) in a wasmtime sandbox. It is the only
//! crate that depends on wasmtime.
//!
//! - One [`PluginHost`] per process: one wasmtime engine, an epoch ticker thread, and an
//!   on-disk cache of compiled components keyed by the `.wasm`'s sha256.
//! - [`PluginHost::load`] checks the interface version in the component's export names (a
//!   1.x host runs 1.x plugins; another major is refused naming both versions) and asks the
//!   plugin for its name, version and configuration schema.
//! - [`LoadedPlugin::configure`] gives a [`ConfiguredPlugin`]: a pool of instances, one per
//!   calling thread at a time, each in its own store with a memory cap and a CPU deadline, no
//!   filesystem, network, environment or real clock.
//! - A call that traps (timeout, memory, stack, panic) or returns malformed data is a
//!   [`CallError::Crashed`] for that call only; the instance is replaced and the next call
//!   goes on. An expected rejection is a [`CallError::Rejected`].

mod cache;
mod host;
mod instance;
mod plugin;

pub use host::{Limits, PluginHost};
pub use instance::CallError;
pub use plugin::{ConfiguredPlugin, LoadedPlugin, PluginInfo, PluginKind};

/// The interface version this host implements.
pub const INTERFACE_VERSION: &str = "1.0.0";

/// Why a plugin could not be loaded or configured.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file cannot be read.
    #[error("cannot read plugin `{path}`: {source}")]
    Read {
        /// The `.wasm` file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a loadable component.
    #[error("`{path}` is not a WebAssembly component wasmtime can load: {message}")]
    NotAComponent {
        /// The `.wasm` file.
        path: std::path::PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// The component does not export a batchlabel interface of the wanted kind.
    #[error("`{path}` {problem}")]
    WrongKind {
        /// The `.wasm` file.
        path: std::path::PathBuf,
        /// What it is instead.
        problem: String,
    },
    /// Built against an interface version this host does not run.
    #[error(
        "`{path}` was built against the plugin interface {plugin_version}, but this batchlabel runs interface {host_version} (any 1.x); rebuild the plugin with the batchlabel-plugin-sdk for {host_version}"
    )]
    IncompatibleVersion {
        /// The `.wasm` file.
        path: std::path::PathBuf,
        /// The version its exports carry.
        plugin_version: String,
        /// [`INTERFACE_VERSION`].
        host_version: &'static str,
    },
    /// The plugin failed while starting or describing itself.
    #[error("`{path}`: {message}")]
    Broken {
        /// The `.wasm` file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// The plugin rejected its configuration.
    #[error("{plugin} rejected its configuration (`with:`): {message}")]
    Config {
        /// `name@version`.
        plugin: String,
        /// Its message.
        message: String,
    },
    /// The engine could not be set up.
    #[error("the WebAssembly engine could not start: {0}")]
    Engine(String),
}
