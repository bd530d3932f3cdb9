//! Planning at scale: group, pack and validate N objects in C components (default: a
//! million in ten thousand; `layering::synthetic`), timing each step. `cargo run --release
//! -p layering --example plan_scale [N] [C]`; docs/performance.md quotes it.

use layering::chunk::{components, pack, PackOptions};
use layering::synthetic::Tree;
use std::collections::BTreeSet;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let n = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let c = args.next().and_then(Result::ok).unwrap_or(10_000);
    let t = Tree::new(n as usize, c as u32);
    let clock = Instant::now();
    let comps = components(&t.objects, &t.sizes, &t.owner, &t.names, &BTreeSet::new());
    let t_comps = clock.elapsed();
    let clock = Instant::now();
    let plan = pack(&comps, &PackOptions { max_layers: 64 }, None);
    let t_pack = clock.elapsed();
    let clock = Instant::now();
    let valid = plan.validate(&t.objects).is_ok();
    let t_valid = clock.elapsed();
    let clock = Instant::now();
    let again = pack(
        &comps,
        &PackOptions { max_layers: 64 },
        Some(&plan.layout()),
    );
    let t_again = clock.elapsed();
    println!(
        "{n} objects, {} components -> {} layers (valid: {valid}, same again: {}): components {:.3} s, pack {:.3} s, validate {:.3} s, pack with layout {:.3} s",
        comps.len(),
        plan.layers.len(),
        again == plan,
        t_comps.as_secs_f64(),
        t_pack.as_secs_f64(),
        t_valid.as_secs_f64(),
        t_again.as_secs_f64()
    );
}
