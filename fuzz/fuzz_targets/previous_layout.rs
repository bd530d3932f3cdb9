//! A `--previous` image's layout: our `ostree-encap.layout` label (JSON) and the planner
//! that follows it, on a fixed set of components.
#![no_main]
use layering::chunk::{pack, Component, PackOptions, PreviousLayout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(layout) = serde_json::from_slice::<PreviousLayout>(data) else {
        return;
    };
    let comps: Vec<Component> = (0..12u64)
        .map(|i| Component {
            name: format!("c{i}"),
            size: 1000 * (i + 1),
            objects: vec![format!("{i:064x}").parse().expect("64 hex digits")],
            volatile: i % 5 == 0,
        })
        .collect();
    for max_layers in [1, 3, 64] {
        let plan = pack(&comps, &PackOptions { max_layers }, Some(&layout));
        assert!(plan.layers.len() <= max_layers + 1);
    }
});
