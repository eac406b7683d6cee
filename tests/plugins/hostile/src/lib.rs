//! Deliberately misbehaving plugins for the sandbox tests. Each cargo feature builds one:
//! `looper` never returns, `hog` allocates until the memory cap stops it, `garbage`
//! answers with findings for checks it was never asked to run.

#[cfg(any(feature = "looper", feature = "hog"))]
use bulwark_sdk::prelude::*;

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

    #[cfg(target_arch = "wasm32")]
    bulwark_sdk::bindings::__export_check_plugin!(Garbage with_types_in bulwark_sdk::bindings);
}
