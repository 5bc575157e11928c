//! other-version (test plugin): a pass-through validator built against a future interface,
//! `batchlabel:plugin@2.0.0`, so the host's version check can be tested.

// The generated export glue is `unsafe` (it defines the component's C ABI exports).
#![allow(unsafe_code, clippy::all, clippy::pedantic)]

wit_bindgen::generate!({ path: "wit", world: "validator-plugin" });

use exports::batchlabel::plugin as world;

#[allow(dead_code)]
struct OtherVersion;

impl world::plugin::Guest for OtherVersion {
    fn describe() -> world::plugin::PluginInfo {
        world::plugin::PluginInfo {
            name: "other-version".into(),
            version: "2.0.0".into(),
            config_schema: "{}".into(),
        }
    }

    fn configure(_config: String) -> Result<(), world::plugin::PluginError> {
        Ok(())
    }
}

impl world::validator::Guest for OtherVersion {
    fn validate(output: String, _row: String) -> Result<String, world::validator::PluginError> {
        Ok(output)
    }
}

#[cfg(target_arch = "wasm32")]
export!(OtherVersion);
