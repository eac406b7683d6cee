//! # Bulwark plugin SDK
//!
//! Write Bulwark checks in Rust, build them for `wasm32-unknown-unknown`, and turn the
//! module into a component with `cargo xtask componentize` (the host's build does this
//! for the built-in plugins). A plugin has no ambient authority: everything it knows
//! comes from the evidence queries in [`Ctx`].
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
mod finding;
pub mod locate;
mod runtime;

pub use finding::Finding;
pub use runtime::{__describe, __run, Check, Ctx, Verdict};

/// Raw bindings generated from `wit/bulwark.wit`. Prefer the typed API in [`Ctx`].
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "check-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_check_plugin",
        default_bindings_module: "bulwark_sdk::bindings",
        generate_all,
    });
}

pub use bindings::bulwark::plugin::evidence::{
    AuditRuleSet, AuditorInfo, CapSet, ContainerSummary, DaemonSettings, FileInfo, FileKind,
    Listener, Namespace, ProcessInfo,
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
    pub use crate::{Check, ContainerRef, Ctx, Finding, QueryError, Status, Subject, Verdict};
}

/// Declare the checks of a plugin and export them to the host.
///
/// Each argument is a [`Check`]; the order is the order of the report.
#[macro_export]
macro_rules! plugin {
    ($($check:expr),+ $(,)?) => {
        /// This plugin's checks (public so native unit tests can reach them).
        pub fn __bulwark_checks() -> ::std::vec::Vec<$crate::Check> {
            ::std::vec![$($check),+]
        }
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
