//! Host bindings for the plugin ABI (`plugin-sdk/wit/bulwark.wit`), the one contract between
//! the host and its plugins. The evidence records double as the snapshot format, hence serde.

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "check-plugin",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

pub use self::bulwark::plugin::evidence as ev;
pub use self::bulwark::plugin::types;
/// The runtime-rules interface plugins export (`bulwark watch`).
pub use self::exports::bulwark::plugin::rules;

/// The ABI version this host speaks (the WIT package version).
pub const ABI_VERSION: &str = "0.1.0";
