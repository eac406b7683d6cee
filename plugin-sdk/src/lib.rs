//! # Bulwark plugin SDK
//!
//! Write Bulwark checks in Rust and build them with `bulwark plugin build` (for
//! `wasm32-unknown-unknown`, then componentized with the manifest and docs embedded; in
//! this repository `cargo xtask plugin` does the same, and the host's build does it for the
//! built-in plugins). A plugin has no ambient authority: everything it knows comes from
//! the evidence queries in [`Ctx`], answered by the host ([`evidence`]); native unit tests
//! answer them from a snapshot instead ([`testing`]).
//!
//! ```no_run
//! use bulwark_sdk::prelude::*;
//!
//! fn no_privileged(ctx: &mut Ctx) -> Verdict {
//!     Ok(ctx.each_container(|_, c| Ok(c.host_config.privileged.then(|| "privileged".to_string()))))
//! }
//!
//! bulwark_sdk::plugin! {
//!     Check::new("X.1", "Ensure no container is privileged", no_privileged)
//!         .section("X", "Example").automated().scored(),
//! }
//! ```

pub mod daemon;
pub mod docker;
pub mod engine;
pub mod evidence;
mod finding;
pub mod locate;
pub mod rules;
mod runtime;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use finding::Finding;
pub use rules::{__describe_rules, __describe_sources, __on_events, Rule};
pub use runtime::{__describe, __run, Check, Ctx, Verdict};

/// Raw bindings generated from `wit/bulwark.wit`. Prefer the typed API in [`Ctx`].
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "check-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_check_plugin",
        default_bindings_module: "bulwark_sdk::bindings",
        // Native tests read evidence records from snapshots (see `testing`).
        additional_derives: [serde::Deserialize],
        generate_all,
    });
}

pub use bindings::bulwark::plugin::evidence::{
    AuditRuleSet, AuditorInfo, CapSet, CapabilityUse, ContainerSummary, DaemonSettings, FileInfo,
    FileKind, Listener, Namespace, ObservedProfile, ProcessInfo, SeccompFit,
};
pub use bindings::bulwark::plugin::types::{ContainerRef, QueryError, Status, Subject};

impl QueryError {
    /// A one-line explanation for reports (the generated `Display` is the debug form).
    pub fn text(&self) -> String {
        match self {
            QueryError::Unavailable(m) => format!("evidence unavailable: {m}"),
            QueryError::Denied(m) => format!("evidence denied: {m}"),
            QueryError::NotFound(m) => format!("not found: {m}"),
        }
    }
}

/// Everything a check module usually needs.
pub mod prelude {
    pub use crate::daemon::DaemonOptions;
    pub use crate::docker::{ContainerInspect, DockerInfo, DockerVersion};
    pub use crate::rules::{
        is_syscall, Kind, Results, RuleEvent, DENIED, GRANTED, GRANTED_OR_DENIED,
    };
    pub use crate::{
        Check, ContainerRef, Ctx, Finding, QueryError, Rule, Status, Subject, Verdict,
    };
}

/// Declare the checks (and runtime rules) of a plugin and export them to the host.
///
/// `plugin! { check, check, ... }` declares checks only; `plugin! { checks: [...], rules:
/// [...] }` declares both (either list may be empty). Checks are [`Check`]s in report
/// order; rules are [`Rule`]s.
#[macro_export]
macro_rules! plugin {
    (checks: [$($check:expr),* $(,)?], rules: [$($rule:expr),* $(,)?] $(,)?) => {
        /// This plugin's checks (public so native unit tests can reach them).
        pub fn __bulwark_checks() -> ::std::vec::Vec<$crate::Check> {
            ::std::vec![$($check),*]
        }
        /// This plugin's runtime rules.
        pub fn __bulwark_rules() -> ::std::vec::Vec<$crate::Rule> {
            ::std::vec![$($rule),*]
        }
        impl $crate::bindings::exports::bulwark::plugin::rules::Guest for __BulwarkPlugin {
            fn describe_rules() -> ::std::vec::Vec<$crate::bindings::exports::bulwark::plugin::rules::RuleMeta> {
                $crate::__describe_rules(&__bulwark_rules())
            }
            fn on_events(
                events: ::std::vec::Vec<$crate::bindings::exports::bulwark::plugin::rules::Event>,
            ) -> ::std::vec::Vec<$crate::bindings::exports::bulwark::plugin::rules::Alert> {
                $crate::__on_events(&__bulwark_rules(), events)
            }
        }
        impl $crate::bindings::exports::bulwark::plugin::sources::Guest for __BulwarkPlugin {
            fn describe_sources() -> ::std::vec::Vec<$crate::bindings::exports::bulwark::plugin::sources::RuleSources> {
                $crate::__describe_sources(&__bulwark_rules())
            }
        }
        $crate::__plugin_checks!();
    };
    ($($check:expr),+ $(,)?) => {
        $crate::plugin! { checks: [$($check),+], rules: [] }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_checks {
    () => {
        #[allow(dead_code)]
        struct __BulwarkPlugin;
        impl $crate::bindings::exports::bulwark::plugin::checks::Guest for __BulwarkPlugin {
            fn describe() -> ::std::vec::Vec<$crate::bindings::bulwark::plugin::types::CheckMeta> {
                $crate::__describe(&__bulwark_checks())
            }
            fn run(
                ctx: $crate::bindings::bulwark::plugin::types::RunContext,
                ids: ::std::vec::Vec<::std::string::String>,
            ) -> ::std::vec::Vec<$crate::bindings::bulwark::plugin::types::Finding> {
                $crate::__run(&__bulwark_checks(), ctx, ids)
            }
        }
        // Exported only in wasm: component export names are not valid native symbols,
        // and a native build of a plugin crate exists only for its unit tests.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_check_plugin!(__BulwarkPlugin with_types_in $crate::bindings);
    };
}
