//! A synthetic tree as discovery hands it over, for tests and benchmarks of planning at
//! scale (`a_million_objects_plan_into_stable_layers`, `examples/plan_scale`).

use crate::Checksum;

/// `objects` (sorted, distinct, pseudo-random) with their sizes, and the component of
/// each (an index into `names`; a tenth unowned), skewed toward low-numbered components:
/// a few big ones, many small.
pub struct Tree {
    /// Content objects, sorted.
    pub objects: Vec<Checksum>,
    /// Payload size of each.
    pub sizes: Vec<u64>,
    /// Component of each.
    pub owner: Vec<Option<u32>>,
    /// Component names.
    pub names: Vec<String>,
}

impl Tree {
    /// `n` objects in `comps` components; the same arguments give the same tree.
    pub fn new(n: usize, comps: u32) -> Tree {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut objects: Vec<(Checksum, u64)> = (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                for k in 0..3 {
                    b[8 * k..8 * k + 8].copy_from_slice(&next().to_be_bytes());
                }
                // The index makes each checksum distinct.
                b[24..].copy_from_slice(&(i as u64).to_be_bytes());
                (
                    Checksum::from_bytes(&b).unwrap_or_default(),
                    100 + next() % 20_000,
                )
            })
            .collect();
        objects.sort_unstable();
        let owner = (0..n)
            .map(|_| {
                let r = next();
                let bound = 1 + ((r >> 40) % u64::from(comps.max(1)));
                (r % 10 != 0).then(|| ((r >> 8) % bound) as u32)
            })
            .collect();
        Tree {
            sizes: objects.iter().map(|o| o.1).collect(),
            objects: objects.into_iter().map(|o| o.0).collect(),
            owner,
            names: (0..comps).map(|k| format!("pkg{k:05}")).collect(),
        }
    }
}
