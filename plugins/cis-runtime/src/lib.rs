use bulwark_sdk::prelude::*;
fn todo(_: &mut Ctx) -> Finding {
    Finding::note("todo")
}
bulwark_sdk::plugin! { Check::new("5.1", "x", todo) }
