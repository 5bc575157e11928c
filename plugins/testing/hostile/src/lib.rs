//! hostile (test plugin): a validator that passes outputs through, except on the rows named
//! in `rows`, where it does what `behaviour` says: spin forever, allocate without end,
//! recurse without end, read a file, read the environment, panic, or answer invalid JSON.
//! The host's sandbox tests point specs at it. It implements the generated bindings itself
//! (not the SDK's trait) so it can return text that is not JSON.

use batchlabel_plugin_sdk::validator_world::exports::batchlabel::plugin as world;
use std::cell::RefCell;

thread_local! {
    static CONFIG: RefCell<(String, Vec<String>)> = const { RefCell::new((String::new(), Vec::new())) };
}

#[allow(dead_code)]
struct Hostile;

#[inline(never)]
#[allow(unconditional_recursion, dead_code)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1)) + 1)
}

impl world::plugin::Guest for Hostile {
    fn describe() -> world::plugin::PluginInfo {
        world::plugin::PluginInfo {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: serde_json::json!({
                "type": "object",
                "required": ["behaviour"],
                "properties": {
                    "behaviour": {"enum": ["loop", "memory", "recursion", "file", "env", "panic", "invalid-json"]},
                    "rows": {"type": "array", "items": {"type": "string"}}
                }
            })
            .to_string(),
        }
    }

    fn configure(config: String) -> Result<(), world::plugin::PluginError> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|error| world::plugin::PluginError {
                message: error.to_string(),
            })?;
        let behaviour = config["behaviour"].as_str().unwrap_or_default().to_string();
        let rows = config["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|row| row.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        CONFIG.with(|state| *state.borrow_mut() = (behaviour, rows));
        Ok(())
    }
}

impl world::validator::Guest for Hostile {
    fn validate(output: String, row: String) -> Result<String, world::validator::PluginError> {
        let row: serde_json::Value = serde_json::from_str(&row).unwrap_or_default();
        let id = row["id"].as_str().unwrap_or_default().to_string();
        let (behaviour, rows) = CONFIG.with(|state| state.borrow().clone());
        if !rows.is_empty() && !rows.contains(&id) {
            return Ok(output);
        }
        let refuse = |message: String| Err(world::validator::PluginError { message });
        match behaviour.as_str() {
            "loop" => {
                let mut counter = 0u64;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![7u8; 8 << 20]));
                }
            }
            "recursion" => Ok(recurse(0).to_string()),
            "file" => match std::fs::read_to_string("/etc/passwd") {
                Ok(content) => Ok(serde_json::json!({"leaked": content}).to_string()),
                Err(error) => refuse(format!("cannot open /etc/passwd: {error}")),
            },
            "env" => {
                let visible = std::env::vars().count();
                match std::env::var("HOME") {
                    Ok(home) => Ok(serde_json::json!({"leaked": home}).to_string()),
                    Err(error) => refuse(format!("HOME: {error} ({visible} variables visible)")),
                }
            }
            "panic" => panic!("hostile plugin panicked on row {id}"),
            "invalid-json" => Ok("{this is not json".into()),
            other => refuse(format!("unknown behaviour `{other}`")),
        }
    }
}

#[cfg(target_arch = "wasm32")]
batchlabel_plugin_sdk::validator_world::__export_validator_world!(Hostile);
