//! Deliberately misbehaving plugins for the sandbox tests. Each cargo feature builds one:
//! `looper` never returns, `hog` allocates until the memory cap stops it, `garbage`
//! answers with findings for checks it was never asked to run, `stack` recurses without
//! end, `panic` panics, `flood` returns millions of detail lines, `huge` one enormous
//! message, `snoop` asks for evidence outside its (empty) grants, `spam` asks ten thousand
//! questions in a loop.

#[cfg(any(
    feature = "looper",
    feature = "hog",
    feature = "stack",
    feature = "panic",
    feature = "flood",
    feature = "huge",
    feature = "snoop",
    feature = "spam"
))]
use bulwark_sdk::prelude::*;

#[cfg(feature = "stack")]
#[allow(unconditional_recursion)] // The point: it overflows the stack.
fn deeper(n: u64) -> u64 {
    // black_box keeps the recursion from being turned into a loop.
    std::hint::black_box(deeper(std::hint::black_box(n + 1))) + 1
}

#[cfg(feature = "stack")]
fn recurse(_: &mut Ctx) -> Verdict {
    Ok(Finding::pass(format!("{}", deeper(0))))
}

#[cfg(feature = "stack")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.STACK", "Recurses forever", recurse).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "panic")]
fn boom(_: &mut Ctx) -> Verdict {
    panic!("this plugin panics on purpose")
}

#[cfg(feature = "panic")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.PANIC", "Panics", boom).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "flood")]
fn flood(_: &mut Ctx) -> Verdict {
    let mut f = Finding::warn("a flood");
    for i in 0..1_000_000u32 {
        f = f.detail(format!("detail line {i}"));
    }
    Ok(f)
}

#[cfg(feature = "flood")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.FLOOD", "Floods the report", flood).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "huge")]
fn huge(_: &mut Ctx) -> Verdict {
    Ok(Finding::warn("x".repeat(32 << 20)))
}

#[cfg(feature = "huge")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.HUGE", "One enormous message", huge).section("HOSTILE", "Hostile"),
}

/// Reads what no check pack should: secrets, the Docker socket, other containers' data.
#[cfg(feature = "snoop")]
fn snoop(ctx: &mut Ctx) -> Verdict {
    let mut f = Finding::info("what the host answered");
    let shadow = ctx.file_read("/etc/shadow");
    f = f.detail(format!("read /etc/shadow: {:?}", shadow.map(|b| b.len())));
    let stat = ctx.file_stat("/etc/shadow");
    f = f.detail(format!("stat /etc/shadow: {:?}", stat.map(|s| s.mode)));
    let sock = ctx.file_stat("/var/run/docker.sock");
    f = f.detail(format!("stat docker.sock: {:?}", sock.map(|s| s.mode)));
    let list = ctx.containers();
    f = f.detail(format!("containers: {:?}", list.map(|c| c.len())));
    let other = ctx.inspect("web");
    f = f.detail(format!("inspect web: {:?}", other.map(|i| i.id.clone())));
    let escape = ctx.file_stat("/etc/docker/../shadow");
    f = f.detail(format!("stat via ..: {:?}", escape.map(|s| s.mode)));
    Ok(f)
}

#[cfg(feature = "snoop")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.SNOOP", "Reads outside its grants", snoop).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "spam")]
fn spam(ctx: &mut Ctx) -> Verdict {
    for i in 0..10_000u32 {
        let _ = ctx.file_stat(&format!("/tmp/bulwark-spam-{i}"));
    }
    Ok(Finding::pass("asked ten thousand questions"))
}

#[cfg(feature = "spam")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.SPAM", "Asks ten thousand questions", spam).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "looper")]
fn spin(_: &mut Ctx) -> Verdict {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[cfg(feature = "looper")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.LOOP", "Never returns", spin).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "hog")]
fn hog(_: &mut Ctx) -> Verdict {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

#[cfg(feature = "hog")]
bulwark_sdk::plugin! {
    Check::new("HOSTILE.HOG", "Eats memory", hog).section("HOSTILE", "Hostile"),
}

#[cfg(feature = "garbage")]
mod garbage {
    use bulwark_sdk::bindings::bulwark::plugin::types::{CheckMeta, Finding, RunContext, Status};
    use bulwark_sdk::bindings::exports::bulwark::plugin::checks::Guest;

    #[allow(dead_code)]
    pub struct Garbage;

    impl Guest for Garbage {
        fn describe() -> Vec<CheckMeta> {
            vec![CheckMeta {
                id: "HOSTILE.GARBAGE".into(),
                title: "Lies about its findings".into(),
                section: "HOSTILE".into(),
                section_title: "Hostile".into(),
                level: 1,
                scored: true,
                automated: true,
                description: String::new(),
                remediation: String::new(),
                remediation_impact: String::new(),
                tags: vec![],
            }]
        }
        fn run(_: RunContext, _: Vec<String>) -> Vec<Finding> {
            // Claims a verdict for a check of another plugin.
            vec![Finding {
                check_id: "5.5".into(),
                status: Status::Pass,
                message: "all good, trust me".into(),
                reason: None,
                subjects: vec![],
                details: vec![],
                evidence: vec![],
            }]
        }
    }

    impl bulwark_sdk::bindings::exports::bulwark::plugin::rules::Guest for Garbage {
        fn describe_rules() -> Vec<bulwark_sdk::bindings::exports::bulwark::plugin::rules::RuleMeta>
        {
            Vec::new()
        }
        fn on_events(
            _: Vec<bulwark_sdk::bindings::exports::bulwark::plugin::rules::Event>,
        ) -> Vec<bulwark_sdk::bindings::exports::bulwark::plugin::rules::Alert> {
            Vec::new()
        }
    }

    impl bulwark_sdk::bindings::exports::bulwark::plugin::sources::Guest for Garbage {
        fn describe_sources(
        ) -> Vec<bulwark_sdk::bindings::exports::bulwark::plugin::sources::RuleSources> {
            Vec::new()
        }
    }

    #[cfg(target_arch = "wasm32")]
    bulwark_sdk::bindings::__export_check_plugin!(Garbage with_types_in bulwark_sdk::bindings);
}
