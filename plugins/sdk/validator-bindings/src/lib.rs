//! Generated WIT bindings of the `validator-plugin` world (interface 1.x), re-exported by
//! batchlabel-plugin-sdk. One crate per world: the export macros of two worlds would clash.

// Generated code: it is `unsafe` by nature (the C ABI glue) and not written for clippy.
#![allow(unsafe_code, clippy::all, clippy::pedantic)]

wit_bindgen::generate!({
    path: "../../wit/v1",
    world: "validator-plugin",
    pub_export_macro: true,
    export_macro_name: "__export_validator_world",
    default_bindings_module: "batchlabel_plugin_sdk::validator_world",
});
