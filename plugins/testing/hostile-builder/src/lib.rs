//! hostile-builder (test plugin): a request builder that passes the templated request
//! through, except on the rows named in `rows`, where it spins forever (`loop`), panics
//! (`panic`), rejects the row (`reject`) or answers body fields that are not JSON
//! (`invalid-json`).

use batchlabel_plugin_sdk::request_builder_world::exports::batchlabel::plugin as world;
use std::cell::RefCell;

thread_local! {
    static CONFIG: RefCell<(String, Vec<String>)> = const { RefCell::new((String::new(), Vec::new())) };
}

#[allow(dead_code)]
struct HostileBuilder;

impl world::plugin::Guest for HostileBuilder {
    fn describe() -> world::plugin::PluginInfo {
        world::plugin::PluginInfo {
            name: "hostile-builder".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: serde_json::json!({
                "type": "object",
                "required": ["behaviour"],
                "properties": {
                    "behaviour": {"enum": ["loop", "panic", "reject", "invalid-json"]},
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

impl world::request_builder::Guest for HostileBuilder {
    fn reads_row() -> bool {
        false
    }

    fn build(
        _row: String,
        context: world::request_builder::RowContext,
        messages: Vec<world::request_builder::Message>,
    ) -> Result<world::request_builder::Request, world::request_builder::PluginError> {
        let id = context.row_id;
        let (behaviour, rows) = CONFIG.with(|state| state.borrow().clone());
        if !rows.contains(&id) {
            return Ok(world::request_builder::Request {
                messages,
                body_fields: String::new(),
            });
        }
        match behaviour.as_str() {
            "loop" => {
                let mut counter = 0u64;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "panic" => panic!("hostile builder panicked on row {id}"),
            "invalid-json" => Ok(world::request_builder::Request {
                messages,
                body_fields: "not json at all".into(),
            }),
            _ => Err(world::request_builder::PluginError {
                message: format!("row {id} is not allowed"),
            }),
        }
    }
}

#[cfg(target_arch = "wasm32")]
batchlabel_plugin_sdk::request_builder_world::__export_request_builder_world!(HostileBuilder);
