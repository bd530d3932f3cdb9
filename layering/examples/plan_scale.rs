//! Planning at scale: group, pack and validate N objects in C components (default: a
//! million in ten thousand), timing each step. `cargo run --release -p layering --example
//! plan_scale [N] [C]`; docs/performance.md quotes it.

use layering::chunk::{components, pack, PackOptions};
use layering::{Checksum, ContentObject};
use std::collections::BTreeSet;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let c = args.next().and_then(Result::ok).unwrap_or(10_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut objects: Vec<ContentObject> = (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            for k in 0..3 {
                b[8 * k..8 * k + 8].copy_from_slice(&next().to_be_bytes());
            }
            b[24..].copy_from_slice(&(i as u64).to_be_bytes());
            ContentObject {
                checksum: Checksum::from_bytes(&b).unwrap_or_default(),
                size: 100 + next() % 20_000,
            }
        })
        .collect();
    objects.sort_unstable_by_key(|o| o.checksum);
    let owner: Vec<Option<u32>> = (0..n)
        .map(|_| {
            let r = next();
            (r % 10 != 0).then(|| ((r >> 8) % c as u64) as u32)
        })
        .collect();
    let names: Vec<String> = (0..c).map(|k| format!("pkg{k:05}")).collect();
    let sums: Vec<Checksum> = objects.iter().map(|o| o.checksum).collect();
    let sizes: Vec<u64> = objects.iter().map(|o| o.size).collect();
    let t = Instant::now();
    let comps = components(&sums, &sizes, &owner, &names, &BTreeSet::new());
    let t_comps = t.elapsed();
    let t = Instant::now();
    let plan = pack(&comps, &PackOptions { max_layers: 64 }, None);
    let t_pack = t.elapsed();
    let t = Instant::now();
    let valid = plan.validate(&sums).is_ok();
    let t_valid = t.elapsed();
    let t = Instant::now();
    let again = pack(
        &comps,
        &PackOptions { max_layers: 64 },
        Some(&plan.layout()),
    );
    let t_again = t.elapsed();
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
