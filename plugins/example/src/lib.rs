//! A minimal Bulwark plugin to copy: one check over the selected containers.
//!
//! Build it with `cargo xtask plugin plugins/example` and run it with
//! `bulwark audit --plugins target/plugins`.

use bulwark_sdk::prelude::*;

/// Containers should not run as root: flag those whose configured user is empty or root.
fn runs_as_root(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_container(|_, c| {
        let user = c.config.user.split(':').next().unwrap_or_default();
        Ok(matches!(user, "" | "0" | "root").then(|| "runs as root".to_string()))
    }))
}

bulwark_sdk::plugin! {
    Check::new("EX.1", "Ensure containers do not run as root", runs_as_root)
        .section("EX", "Example checks")
        .automated()
        .scored()
        .description("A process that runs as root inside a container is root on the host if it escapes.")
        .remediation("Set USER in the Dockerfile or run the container with --user.")
        .tag("example"),
}
