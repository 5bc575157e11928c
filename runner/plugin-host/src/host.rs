//! The process-wide engine: component model on, epoch interruption with a ticker thread
//! (the CPU deadline of every call), and the plugin cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::PluginError;
use crate::plugin::{LoadedPlugin, PluginKind};

/// How often the epoch advances: the granularity of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What one plugin call may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock CPU time per call.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(1),
        }
    }
}

/// The process's plugin runtime.
pub struct PluginHost {
    pub(crate) engine: Engine,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PluginHost")
            .field("cache_dir", &self.cache_dir)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<Arc<PluginHost>, String>> = OnceLock::new();

/// The cache folder: `$BATCHLABEL_CACHE_DIR/plugins`, else `$XDG_CACHE_HOME/batchlabel/plugins`,
/// else `~/.cache/batchlabel/plugins`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("BATCHLABEL_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|cache| PathBuf::from(cache).join("batchlabel"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/batchlabel"))
        })?;
    Some(base.join("plugins"))
}

impl PluginHost {
    /// The process's host (created on first use) with default limits and cache.
    pub fn shared() -> Result<Arc<Self>, PluginError> {
        SHARED
            .get_or_init(|| {
                Self::new(default_cache_dir(), Limits::default())
                    .map(Arc::new)
                    .map_err(|error| error.to_string())
            })
            .clone()
            .map_err(PluginError::Engine)
    }

    /// A host with its own engine, cache folder (none: compile every time) and limits.
    pub fn new(cache_dir: Option<PathBuf>, limits: Limits) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.concurrency_support(false);
        let engine =
            Engine::new(&config).map_err(|error| PluginError::Engine(format!("{error:#}")))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                // Ends when the engine is gone.
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|error| PluginError::Engine(error.to_string()))?;
        Ok(Self {
            engine,
            cache_dir,
            limits,
        })
    }

    /// Load the plugin at `path` as a `kind`.
    pub fn load(
        self: &Arc<Self>,
        path: &Path,
        kind: PluginKind,
    ) -> Result<LoadedPlugin, PluginError> {
        LoadedPlugin::load(self, path, kind)
    }
}
