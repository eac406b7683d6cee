//! Host bindings for the plugin ABI (`plugin-sdk/wit/bulwark.wit`), the one contract between
//! the host and its plugins. The evidence records double as the snapshot format, hence serde.
//!
//! A host of ABI 0.1.x requires what every 0.1.x plugin has (the `check-plugin-base` world:
//! evidence in, checks and rules out) and looks for the `sources` export (added in 0.1.1)
//! on its own, so 0.1.0 plugins still load. Component names resolve along the semver track:
//! a 0.1.0 plugin's `bulwark:plugin/evidence@0.1.0` import links to this host's 0.1.3 (0.1.2
//! added the `seccomp` function and 0.1.3 `container`; older plugins do not import them).

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "check-plugin-base",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

/// The optional `sources` export: what each runtime rule needs to see.
pub mod sources {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "rule-sources",
    });
    pub use self::exports::bulwark::plugin::sources::{
        CapResults, RuleSources as RuleNeeds, Source,
    };
}

pub use self::bulwark::plugin::evidence as ev;
pub use self::bulwark::plugin::types;
/// The runtime-rules interface plugins export (`bulwark watch`).
pub use self::exports::bulwark::plugin::rules;
pub use self::{CheckPluginBase as CheckPlugin, CheckPluginBasePre as CheckPluginPre};

/// The ABI version this host speaks (the WIT package version).
pub const ABI_VERSION: &str = "0.1.3";

#[cfg(test)]
mod tests {
    #[test]
    fn the_abi_version_is_the_wit_package_version() {
        let wit = include_str!("../../plugin-sdk/wit/bulwark.wit");
        assert!(
            wit.contains(&format!("package bulwark:plugin@{};", super::ABI_VERSION)),
            "ABI_VERSION must follow the WIT package version"
        );
    }
}
