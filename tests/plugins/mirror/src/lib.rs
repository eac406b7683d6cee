//! A test check plugin: `T.RECORD` reads every selected container twice, as the typed
//! record the host hands over (ABI 0.1.3, what `Ctx::inspect` returns) and by parsing its
//! whole inspect document in the plugin as SDKs before 0.1.3 did, and names each container
//! whose two readings differ, with where. Beside a daemon's varied containers it holds the
//! host's record to the document it is read from.
//!
//! Built with `read-records` or `read-documents` it is half of the scale benchmark's
//! parse-once comparison instead: `T.READ` reads every container one way only.

use bulwark_sdk::prelude::*;

/// A reading as text, Docker's leading slash off the name (the record has none).
fn shown(mut c: ContainerInspect) -> String {
    c.name = c.short_name().to_string();
    format!("{c:?}")
}

/// Where two readings part, with some context.
fn parting(record: &str, document: &str) -> String {
    let at = record
        .bytes()
        .zip(document.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(record.len().min(document.len()));
    let from = at.saturating_sub(40);
    let cut = |s: &str| {
        s.get(from..(at + 60).min(s.len()))
            .unwrap_or("")
            .to_string()
    };
    format!("record …{}… document …{}…", cut(record), cut(document))
}

fn same_both_ways(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_container(|ctx, record| {
        let text = ctx.inspect_json(&record.id)?;
        let document: ContainerInspect = serde_json::from_str(&text)
            .map_err(|e| QueryError::Unavailable(format!("inspect document: {e}")))?;
        let (r, d) = (shown(record.clone()), shown(document));
        Ok((r != d).then(|| parting(&r, &d)))
    }))
}

/// Every container as the host's record (what `Ctx::inspect` returns since ABI 0.1.3).
#[cfg(feature = "read-records")]
fn read(ctx: &mut Ctx) -> Verdict {
    Ok(ctx.each_container(|_, _| Ok(None)))
}

/// Every container's document parsed in the plugin, as each plugin did before ABI 0.1.3.
#[cfg(feature = "read-documents")]
fn read(ctx: &mut Ctx) -> Verdict {
    let ids: Vec<String> = ctx.containers()?.iter().map(|c| c.id.clone()).collect();
    for id in &ids {
        let text = ctx.inspect_json(id)?;
        serde_json::from_str::<ContainerInspect>(&text)
            .map_err(|e| QueryError::Unavailable(format!("inspect document: {e}")))?;
    }
    Ok(Finding::pass(format!("{} containers read", ids.len())))
}

#[cfg(not(any(feature = "read-records", feature = "read-documents")))]
bulwark_sdk::plugin! {
    Check::new("T.RECORD", "The container record says what the inspect document says", same_both_ways)
        .section("T", "Tests").automated(),
}

#[cfg(any(feature = "read-records", feature = "read-documents"))]
bulwark_sdk::plugin! {
    Check::new("T.READ", "Read every container", read).section("T", "Tests").automated(),
}
