//! Packing components into a bounded number of chunk layers, stably.
//!
//! The goal is what a client downloads for an update: a layer blob is reused only if every
//! object in it is unchanged, so a changed component should drag as few unchanged bytes along
//! as possible, and a new or removed component must not reshuffle the others.
//!
//! Without prior state (see docs/chunking.md for the reasoning and measurements):
//! 1. A fixed number of layers, `max_layers / 6`, are hash bins; the rest are "own" layers.
//! 2. [`UNOWNED`] (small content no package claims) and [`STATE`] (package databases and
//!    caches, rewritten by every package operation) always get an own layer each, so they
//!    never drag a package along, and the state that changes in every update does not drag
//!    the rest of the unowned content along.
//! 3. Components are in one of two tiers: volatile (expected to change again, e.g. packages
//!    that already had a security update) or stable. The largest of each tier, by size then
//!    name, fill the remaining own layers, half each.
//! 4. Every other component goes to a hash bin of its tier, `fnv1a(name) % bins`. The bin
//!    depends on the name alone and the number of bins on `max_layers` alone, so adding,
//!    removing or upgrading a component changes its own bin and nothing else; only a
//!    component whose size crosses the own-layer boundary also moves one other component (at
//!    most four layers).
//!
//! With prior state (`--previous`), every component that existed before keeps the company it
//! had (its previous layer); components seen for the first time get a layer of their own if
//! they are outliers. The rest of the new ones join a previous layer that changes anyway
//! (when the caller says which are unchanged: [`PreviousLayout::unchanged`]), since adding
//! to a layer that is downloaded anyway costs nothing extra; otherwise they share one "new
//! components" layer. When that exceeds the budget, groups are merged, changing ones first
//! (free), then the smallest, deterministically.

use crate::{Checksum, LayerKind, LayerPlan, Plan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Name of the component holding content no source claimed (small unowned files).
pub const UNOWNED: &str = "unowned";

/// Name of the component holding package-manager state and caches (dpkg's status, the rpm
/// database, apt's and man-db's caches, `ld.so.cache`): whatever installs or upgrades a
/// package rewrites them, so they change together, in every update.
pub const STATE: &str = "state";

/// One component: a named set of content objects that change together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Component name (package, source package, `user.component` value, ...).
    pub name: String,
    /// Total payload bytes.
    pub size: u64,
    /// Its objects, sorted.
    pub objects: Vec<Checksum>,
    /// Expected to change more often than the rest (e.g. a package that already had a
    /// security update): kept apart from stable components.
    pub volatile: bool,
}

/// The layout of a previous image: component names per chunk layer, in image order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousLayout {
    /// Component names of each chunk layer of the previous image.
    pub layers: Vec<Vec<String>>,
    /// Per previous layer, when known: whether the same components would give the very same
    /// layer now (its blob is reused). Not stored: the caller works it out for each build
    /// (ostree-encap compares layer keys). Empty means unknown.
    #[serde(skip)]
    pub unchanged: Vec<bool>,
}

/// Packing parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// Chunk layers besides the commit layer; 0 means a single-layer image.
    pub max_layers: usize,
}

/// The component of object `i` where `owner[i]` indexes `names` (the convention of
/// [`components`] and of discovery's result); `None` if it has none.
pub fn owner_name<'a>(owner: &[Option<u32>], names: &'a [String], i: usize) -> Option<&'a str> {
    let n = owner.get(i).copied().flatten()?;
    names.get(n as usize).map(String::as_str)
}

/// Group objects into components: `sizes[i]` is the payload size of `objects[i]` and
/// `owner[i]` its component, an index into `names`; objects without one form [`UNOWNED`].
/// Components are returned sorted by name.
pub fn components(
    objects: &[Checksum],
    sizes: &[u64],
    owner: &[Option<u32>],
    names: &[String],
    volatile: &BTreeSet<String>,
) -> Vec<Component> {
    // Component of each object, then the objects of each, each vector made at its final size:
    // at a million objects, vectors grown by doubling leave tens of MB of freed blocks that
    // the allocator keeps for the rest of the run.
    let name_of = |i: usize| owner_name(owner, names, i).unwrap_or(UNOWNED);
    let mut by_name: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for i in 0..objects.len() {
        let e = by_name.entry(name_of(i)).or_default();
        e.0 += sizes.get(i).copied().unwrap_or(0);
        e.1 += 1;
    }
    let mut comps: BTreeMap<&str, Component> = by_name
        .into_iter()
        .map(|(name, (size, n))| {
            let c = Component {
                name: name.to_string(),
                size,
                objects: Vec::with_capacity(n),
                volatile: volatile.contains(name),
            };
            (name, c)
        })
        .collect();
    for (i, o) in objects.iter().enumerate() {
        if let Some(c) = comps.get_mut(name_of(i)) {
            c.objects.push(*o);
        }
    }
    comps
        .into_values()
        .map(|mut c| {
            c.objects.sort_unstable();
            c.objects.dedup();
            c
        })
        .collect()
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases (unlike `DefaultHasher`).
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// How many of `max_layers` are hash bins (the rest are for size outliers).
pub fn hash_bins(max_layers: usize) -> usize {
    (max_layers / 6).max(1).min(max_layers)
}

/// Pack components into a plan: commit layer first (empty of content unless
/// `max_layers == 0`), then chunk layers.
pub fn pack(comps: &[Component], opts: &PackOptions, previous: Option<&PreviousLayout>) -> Plan {
    if opts.max_layers == 0 || comps.is_empty() {
        return Plan::single_layer(comps.iter().flat_map(|c| &c.objects));
    }
    let groups = match previous {
        Some(prev) if !prev.layers.is_empty() => with_previous(comps, opts.max_layers, prev),
        _ => stateless(comps, opts.max_layers),
    };
    to_plan(comps, groups)
}

/// A group of component names destined for one layer, with a stable sort key.
type Groups = Vec<BTreeSet<String>>;

/// The largest components (size, then name) up to `budget`.
fn largest(comps: &[Component], budget: usize) -> BTreeSet<&str> {
    let mut by_size: Vec<&Component> = comps.iter().collect();
    by_size.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    by_size
        .into_iter()
        .take(budget)
        .map(|c| c.name.as_str())
        .collect()
}

/// Size outliers among `comps`: at least `total / max_layers` bytes, largest first, up to
/// `budget`.
fn outliers(comps: &[Component], max_layers: usize, budget: usize) -> BTreeSet<&str> {
    let total: u64 = comps.iter().map(|c| c.size).sum();
    let threshold = (total / max_layers.max(1) as u64).max(1);
    let big: Vec<Component> = comps
        .iter()
        .filter(|c| c.size >= threshold)
        .cloned()
        .collect();
    let names: BTreeSet<String> = largest(&big, budget)
        .into_iter()
        .map(str::to_string)
        .collect();
    comps
        .iter()
        .filter(|c| names.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect()
}

fn stateless(comps: &[Component], max_layers: usize) -> Groups {
    if comps.len() <= max_layers {
        return comps
            .iter()
            .map(|c| BTreeSet::from([c.name.clone()]))
            .collect();
    }
    let bins = hash_bins(max_layers);
    let mut own_budget = max_layers - bins;
    let mut own: BTreeSet<String> = BTreeSet::new();
    for special in [UNOWNED, STATE] {
        if own_budget > 0 && comps.iter().any(|c| c.name == special) {
            own.insert(special.to_string());
            own_budget -= 1;
        }
    }
    // Own layers: half for the largest volatile components (they will change again, and
    // alone they drag nothing along), the rest for the largest stable ones (so that a rare
    // change of a stable component does not drag a big neighbour along). Unused share goes
    // to the other tier.
    let (volatile, stable): (Vec<Component>, Vec<Component>) = comps
        .iter()
        .filter(|c| !own.contains(&c.name))
        .cloned()
        .partition(|c| c.volatile);
    let v_slots = volatile
        .len()
        .min(own_budget / 2)
        .max(own_budget.saturating_sub(stable.len()));
    let v_slots = v_slots.min(volatile.len()).min(own_budget);
    own.extend(largest(&volatile, v_slots).into_iter().map(str::to_string));
    own.extend(
        largest(&stable, own_budget - v_slots)
            .into_iter()
            .map(str::to_string),
    );
    let mut groups: Groups = own.iter().map(|s| BTreeSet::from([s.clone()])).collect();
    // Bins: volatile leftovers and stable ones hash into separate bins, so a stable bin is
    // not re-downloaded whenever a volatile neighbour changes.
    let v_rest = volatile.iter().any(|c| !own.contains(&c.name));
    let s_rest = stable.iter().any(|c| !own.contains(&c.name));
    let v_bins = if v_rest && s_rest && bins > 1 {
        bins / 2
    } else if v_rest {
        bins
    } else {
        0
    };
    let s_bins = bins - v_bins;
    let mut binned: Vec<BTreeSet<String>> = vec![BTreeSet::new(); bins];
    for c in comps.iter().filter(|c| !own.contains(&c.name)) {
        let h = fnv1a(&c.name);
        let bin = if c.volatile && v_bins > 0 {
            (h % v_bins as u64) as usize
        } else if s_bins > 0 {
            v_bins + (h % s_bins as u64) as usize
        } else {
            (h % bins as u64) as usize
        };
        binned[bin].insert(c.name.clone());
    }
    groups.extend(binned.into_iter().filter(|b| !b.is_empty()));
    groups
}

fn with_previous(comps: &[Component], max_layers: usize, prev: &PreviousLayout) -> Groups {
    let present: BTreeSet<&str> = comps.iter().map(|c| c.name.as_str()).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // (components, known to be unchanged)
    let mut groups: Vec<(BTreeSet<String>, bool)> = Vec::new();
    for (i, layer) in prev.layers.iter().enumerate() {
        // Odd prior input (duplicates across layers, unknown names) must not panic: first
        // occurrence wins, vanished names are dropped.
        let g: BTreeSet<String> = layer
            .iter()
            .filter(|n| present.contains(n.as_str()) && !seen.contains(n.as_str()))
            .cloned()
            .collect();
        seen.extend(g.iter().cloned());
        if !g.is_empty() {
            let unchanged =
                prev.unchanged.get(i).copied().unwrap_or(false) && g.len() == layer.len();
            groups.push((g, unchanged));
        }
    }
    let size: BTreeMap<&str, u64> = comps.iter().map(|c| (c.name.as_str(), c.size)).collect();
    let gsize = |g: &BTreeSet<String>| {
        g.iter()
            .map(|n| size.get(n.as_str()).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let new: Vec<&Component> = comps.iter().filter(|c| !seen.contains(&c.name)).collect();
    if !new.is_empty() {
        let budget = max_layers.saturating_sub(groups.len() + 1);
        let new_owned: Vec<Component> = new.iter().map(|c| (*c).clone()).collect();
        let singles = outliers(&new_owned, max_layers, budget);
        for s in &singles {
            groups.push((BTreeSet::from([s.to_string()]), false));
        }
        let rest: BTreeSet<String> = new
            .iter()
            .filter(|c| !singles.contains(c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        // Only when the caller told us which layers change: else "changing" is a guess.
        let known = !prev.unchanged.is_empty();
        let target = groups
            .iter()
            .enumerate()
            .filter(|(_, (_, unchanged))| known && !unchanged)
            .min_by(|(_, a), (_, b)| gsize(&a.0).cmp(&gsize(&b.0)).then_with(|| a.0.cmp(&b.0)))
            .map(|(i, _)| i);
        match target {
            _ if rest.is_empty() => {}
            Some(i) => groups[i].0.extend(rest),
            None => groups.push((rest, false)),
        }
    }
    // Merge until the budget fits: changing groups first (they are downloaded anyway), then
    // by size; ties by name.
    while groups.len() > max_layers.max(1) {
        groups.sort_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| gsize(&a.0).cmp(&gsize(&b.0)))
                .then_with(|| a.0.cmp(&b.0))
        });
        let (a, _) = groups.remove(0);
        groups[0].0.extend(a);
        groups[0].1 = false;
    }
    groups.into_iter().map(|(g, _)| g).collect()
}

fn to_plan(comps: &[Component], groups: Groups) -> Plan {
    let by_name: BTreeMap<&str, &Component> = comps.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut layers: Vec<LayerPlan> = groups
        .into_iter()
        .map(|g| {
            // Sized before filling: at a million objects, growing by doubling leaves tens of
            // MB of freed blocks that the allocator keeps for the rest of the run.
            let members: Vec<&Component> = g
                .iter()
                .filter_map(|n| by_name.get(n.as_str()).copied())
                .collect();
            let mut objects: Vec<Checksum> =
                Vec::with_capacity(members.iter().map(|c| c.objects.len()).sum());
            for c in members {
                objects.extend_from_slice(&c.objects);
            }
            objects.sort_unstable();
            objects.dedup();
            LayerPlan {
                kind: LayerKind::Chunk,
                objects,
                components: g.into_iter().collect(),
            }
        })
        .filter(|l| !l.objects.is_empty())
        .collect();
    // Image order: by component names. Order does not affect reuse (blobs are content
    // addressed) but must be deterministic.
    layers.sort_by(|a, b| a.components.cmp(&b.components));
    // Content shared by components in different layers goes to the first such layer only.
    // Rare (discovery gives each object one component): find the shared ones first, with
    // 8 bytes per object, rather than a set of every checksum.
    let mut all: Vec<&Checksum> = layers.iter().flat_map(|l| &l.objects).collect();
    all.sort_unstable();
    let shared: BTreeSet<Checksum> = all
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| *w[0])
        .collect();
    drop(all);
    let mut assigned: BTreeSet<Checksum> = BTreeSet::new();
    for l in &mut layers {
        l.objects
            .retain(|o| !shared.contains(o) || assigned.insert(*o));
    }
    layers.retain(|l| !l.objects.is_empty());
    let mut all = vec![LayerPlan {
        kind: LayerKind::Commit,
        objects: Vec::new(),
        components: Vec::new(),
    }];
    all.extend(layers);
    Plan { layers: all }
}

impl Plan {
    /// The layout to store for the next build: component names of each chunk layer.
    pub fn layout(&self) -> PreviousLayout {
        PreviousLayout {
            layers: self
                .layers
                .iter()
                .filter(|l| l.kind == LayerKind::Chunk)
                .map(|l| l.components.clone())
                .collect(),
            unchanged: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn comp(name: &str, size: u64, n: usize) -> Component {
        Component {
            name: name.into(),
            size,
            volatile: fnv1a(name).is_multiple_of(3),
            objects: (0..n)
                .map(|i| {
                    format!(
                        "{:064x}",
                        fnv1a(&format!("{name}/{i}")) as u128 * 7 + i as u128
                    )
                    .parse()
                    .expect("hex")
                })
                .collect(),
        }
    }

    fn groups_of(p: &Plan) -> Vec<Vec<String>> {
        let mut g: Vec<Vec<String>> = p
            .layers
            .iter()
            .filter(|l| l.kind == LayerKind::Chunk)
            .map(|l| l.components.clone())
            .collect();
        g.sort();
        g
    }

    #[test]
    fn new_components_join_a_layer_that_changes_anyway() {
        let comps = vec![
            comp("a", 100, 2),
            comp("b", 300, 2),
            comp("c", 200, 2),
            comp("d", 50, 2),
            comp("e", 10, 1),
        ];
        let layers = vec![
            vec!["a".to_string()],
            vec!["b".into()],
            vec!["c".into(), "d".into()],
        ];
        // No budget left for new own layers (as when the previous image used them all).
        let opts = PackOptions { max_layers: 4 };
        let known = PreviousLayout {
            layers: layers.clone(),
            unchanged: vec![true, false, true],
        };
        assert_eq!(
            groups_of(&pack(&comps, &opts, Some(&known))),
            vec![vec!["a"], vec!["b", "e"], vec!["c", "d"]]
        );
        // Without knowing what changes, new components share a layer of their own.
        let unknown = PreviousLayout {
            layers,
            unchanged: Vec::new(),
        };
        assert_eq!(
            groups_of(&pack(&comps, &opts, Some(&unknown))),
            vec![vec!["a"], vec!["b"], vec!["c", "d"], vec!["e"]]
        );
    }

    #[test]
    fn over_budget_merges_changing_layers_first() {
        let comps = vec![comp("a", 10, 1), comp("b", 500, 1), comp("c", 400, 1)];
        let layers = vec![vec!["a".to_string()], vec!["b".into()], vec!["c".into()]];
        let prev = PreviousLayout {
            layers,
            unchanged: vec![true, false, false],
        };
        // The smallest would be a+c; b and c change anyway, so merging them costs nothing.
        assert_eq!(
            groups_of(&pack(&comps, &PackOptions { max_layers: 2 }, Some(&prev))),
            vec![vec!["a"], vec!["b", "c"]]
        );
    }

    fn all_objects(comps: &[Component]) -> Vec<Checksum> {
        let mut v: Vec<Checksum> = comps.iter().flat_map(|c| c.objects.clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn layer_sets(p: &Plan) -> BTreeSet<Vec<Checksum>> {
        p.layers.iter().map(|l| l.objects.clone()).collect()
    }

    /// A million objects in ten thousand components: grouped, packed and validated, and
    /// packed again against its own layout (the next build) to the same layers. Time in
    /// release: `cargo run --release -p layering --example plan_scale`.
    #[test]
    fn a_million_objects_plan_into_stable_layers() {
        let t = crate::synthetic::Tree::new(1_000_000, 10_000);
        let comps = components(&t.objects, &t.sizes, &t.owner, &t.names, &BTreeSet::new());
        assert!(comps.len() > 5_000, "{} components", comps.len());
        let opts = PackOptions { max_layers: 64 };
        let plan = pack(&comps, &opts, None);
        assert!(plan.layers.len() <= 65, "{} layers", plan.layers.len());
        plan.validate(&t.objects)
            .expect("every object exactly once");
        let again = pack(&comps, &opts, Some(&plan.layout()));
        assert_eq!(layer_sets(&plan), layer_sets(&again));
    }

    fn distro(n: usize) -> Vec<Component> {
        (0..n)
            .map(|i| {
                comp(
                    &format!("pkg{i:04}"),
                    1000 + (fnv1a(&i.to_string()) % 5_000_000),
                    1 + i % 7,
                )
            })
            .collect()
    }

    #[test]
    fn zero_layers_is_single_layer() {
        let comps = distro(10);
        let p = pack(&comps, &PackOptions { max_layers: 0 }, None);
        assert_eq!(p.layers.len(), 1);
        p.validate(&all_objects(&comps)).unwrap();
    }

    #[test]
    fn unowned_content_and_state_get_a_layer_each_however_small() {
        let mut comps = distro(500);
        comps.push(comp(UNOWNED, 10, 3));
        comps.push(comp(STATE, 20, 2));
        comps.sort_by(|a, b| a.name.cmp(&b.name));
        let p = pack(&comps, &PackOptions { max_layers: 64 }, None);
        for special in [UNOWNED, STATE] {
            assert!(
                p.layers.iter().any(|l| l.components == [special]),
                "{special} alone in a layer: {:?}",
                groups_of(&p)
            );
        }
        p.validate(&all_objects(&comps)).unwrap();
    }

    #[test]
    fn few_components_each_get_a_layer() {
        let comps = distro(5);
        let p = pack(&comps, &PackOptions { max_layers: 64 }, None);
        assert_eq!(p.layers.len(), 6);
        assert!(p.layers[1..].iter().all(|l| l.components.len() == 1));
    }

    #[test]
    fn odd_inputs() {
        // No components at all.
        let p = pack(&[], &PackOptions { max_layers: 64 }, None);
        p.validate(&[]).unwrap();
        // Layers are not wasted when no component stands out.
        let even: Vec<Component> = (0..16)
            .map(|i| comp(&format!("e{i:02}"), 1000, 2))
            .collect();
        let p = pack(&even, &PackOptions { max_layers: 8 }, None);
        assert_eq!(p.layers.len(), 9);
        // One huge component among tiny ones.
        let mut comps = distro(300);
        comps.push(comp("huge", 10_000_000_000, 3));
        let p = pack(&comps, &PackOptions { max_layers: 8 }, None);
        assert!(p.layers.len() <= 9);
        assert!(p
            .layers
            .iter()
            .any(|l| l.components == vec!["huge".to_string()]));
        p.validate(&all_objects(&comps)).unwrap();
        // 10,000 tiny components.
        let comps: Vec<Component> = (0..10_000).map(|i| comp(&format!("t{i}"), 1, 1)).collect();
        let p = pack(&comps, &PackOptions { max_layers: 64 }, None);
        assert!(p.layers.len() <= 65);
        p.validate(&all_objects(&comps)).unwrap();
        // Garbage previous layout: unknown names, duplicates, empty layers, too many layers.
        let prev = PreviousLayout {
            layers: [
                vec![],
                vec!["nope".into(), "t1".into()],
                vec!["t1".into(), "t2".into()],
            ]
            .into_iter()
            .cycle()
            .take(500)
            .collect(),
            unchanged: vec![true; 7],
        };
        let p = pack(&comps, &PackOptions { max_layers: 64 }, Some(&prev));
        assert!(p.layers.len() <= 65);
        p.validate(&all_objects(&comps)).unwrap();
    }

    #[test]
    fn duplicate_content_across_components_lands_once() {
        let mut a = comp("a", 10, 2);
        let b = Component {
            name: "b".into(),
            size: 10,
            objects: a.objects.clone(),
            volatile: true,
        };
        a.objects.push("f".repeat(64).parse().expect("hex"));
        let comps = vec![a, b];
        let p = pack(&comps, &PackOptions { max_layers: 1 }, None);
        p.validate(&all_objects(&comps)).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_object_once_and_deterministic(n in 0usize..400, max in 0usize..130, seed in any::<u64>()) {
            let comps: Vec<Component> = (0..n)
                .map(|i| comp(&format!("c{}", seed.wrapping_add(i as u64)), fnv1a(&format!("{seed}{i}")) % 50_000_000, 1 + i % 5))
                .collect();
            let opts = PackOptions { max_layers: max };
            let p1 = pack(&comps, &opts, None);
            let p2 = pack(&comps, &opts, None);
            prop_assert_eq!(&p1, &p2);
            prop_assert!(p1.layers.len() <= max + 1);
            prop_assert!(p1.validate(&all_objects(&comps)).is_ok());
            let p3 = pack(&comps, &opts, Some(&p1.layout()));
            prop_assert!(p3.layers.len() <= max + 1);
            prop_assert!(p3.validate(&all_objects(&comps)).is_ok());
            // Unchanged input with its own layout as prior state: identical layers.
            prop_assert_eq!(layer_sets(&p1), layer_sets(&p3));
        }

        #[test]
        fn one_component_changed_added_or_removed_changes_few_layers(n in 100usize..400, pick in any::<usize>(), what in 0u8..3) {
            let comps = distro(n);
            let opts = PackOptions { max_layers: 64 };
            let before = pack(&comps, &opts, None);
            let mut after_comps = comps.clone();
            let i = pick % n;
            match what {
                0 => { after_comps[i].objects[0] = format!("{:064x}", pick).parse().expect("hex"); } // upgraded
                1 => { after_comps.push(comp("zz-new-package", 3000, 2)); }   // added
                _ => { after_comps.remove(i); }                             // removed
            }
            for prev in [None, Some(before.layout())] {
                let after = pack(&after_comps, &opts, prev.as_ref());
                let old = layer_sets(&before);
                let changed = layer_sets(&after).iter().filter(|l| !old.contains(*l)).count();
                // The commit layer never counts (it is empty of content here). The changed
                // component's layer, plus, when it crosses the own-layer boundary, the layer it
                // moves to and the two of the component it displaces.
                prop_assert!(changed <= 4, "{} layers changed", changed);
            }
        }
    }
}
