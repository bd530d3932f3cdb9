//! The root crate's structure (issue 30), read from the sources so it stays true as code
//! moves: its modules sit in families, each a folder (`reading` < `building` <
//! `repositories` < `publishing`, lowest first; `workdir`, `optfile`, `exit`
//! below them all), a module imports from its own family and the ones below, never above, and no two
//! modules import each other around a circle. A module's imports are its `crate::` paths
//! outside comments (re-exports of `lib.rs` resolved to the module that defines them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The families, lowest first.
const FAMILIES: [&str; 4] = ["reading", "building", "repositories", "publishing"];

/// A module: its family's rank (0: shared, below every family) and its files.
struct Module {
    rank: usize,
    files: Vec<PathBuf>,
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module of the library (not `lib.rs`, not the binary's `main.rs` and `cli/`, not the
/// families' own `mod.rs`, which only declare): name → module.
fn modules(src: &Path) -> BTreeMap<String, Module> {
    let mut out: BTreeMap<String, Module> = BTreeMap::new();
    let mut add = |name: String, rank: usize, path: &Path| {
        let m = out.entry(name).or_insert(Module {
            rank,
            files: Vec::new(),
        });
        if path.is_dir() {
            rs_files(path, &mut m.files);
        } else {
            m.files.push(path.to_path_buf());
        }
    };
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let name = stem(&p);
        if matches!(name.as_str(), "lib" | "main" | "cli") {
            continue;
        }
        match FAMILIES.iter().position(|f| *f == name) {
            Some(i) => {
                for m in std::fs::read_dir(&p).unwrap().flatten() {
                    let mp = m.path();
                    if stem(&mp) != "mod" {
                        add(stem(&mp), i + 1, &mp);
                    }
                }
            }
            None => add(name, 0, &p),
        }
    }
    out
}

/// `lib.rs`'s re-exports of items (`pub use request::{A, B}`): item → module.
fn reexports(lib: &str, names: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let text: String = lib
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    for stmt in text.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((path, items)) = rest.split_once("::") else {
            continue;
        };
        // `family::{modules}` re-exports modules; `module::{items}` items.
        let module = path.trim();
        for item in items
            .trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace())
            .split(',')
        {
            let item = item.trim();
            if names.contains(module) && !item.is_empty() {
                out.insert(item.to_string(), module.to_string());
            }
        }
    }
    out
}

/// Module → the modules it imports.
fn graph(src: &Path) -> (BTreeMap<String, Module>, BTreeMap<String, BTreeSet<String>>) {
    let mods = modules(src);
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let items = reexports(
        &std::fs::read_to_string(src.join("lib.rs")).unwrap(),
        &names,
    );
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut g = BTreeMap::new();
    for (name, m) in &mods {
        let mut deps = BTreeSet::new();
        for p in &m.files {
            for line in std::fs::read_to_string(p).unwrap().lines() {
                let code = line.split("//").next().unwrap_or("");
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let mut paths: Vec<&str> = Vec::new();
                    if let Some(group) = rest.strip_prefix('{') {
                        let end = group.find('}').unwrap_or(group.len());
                        paths.extend(group[..end].split(',').map(str::trim));
                    } else {
                        paths.push(rest);
                    }
                    for path in paths {
                        let mut first = ident(path);
                        // `crate::family::module`: the module.
                        if FAMILIES.contains(&first.as_str()) {
                            first = ident(path[first.len()..].trim_start_matches("::"));
                        }
                        let module = if names.contains(&first) {
                            Some(first)
                        } else {
                            items.get(&first).cloned()
                        };
                        if let Some(d) = module.filter(|d| d != name) {
                            deps.insert(d);
                        }
                    }
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    (mods, g)
}

/// A cycle in `g`, as the path that closes it, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_root_crates_modules_import_each_other_without_a_cycle() {
    let (mods, g) = graph(&src());
    assert!(mods.len() > 15, "{:?}", mods.keys());
    // The reader sees imports through every kind of path.
    assert!(g["build"].contains("reuse"), "{g:?}");
    assert!(g["flatten"].contains("image_ref"), "crate::ImageRef: {g:?}");
    if let Some(c) = find_cycle(&g) {
        panic!("import cycle among src/'s modules: {}", c.join(" -> "));
    }
}

#[test]
fn no_module_imports_from_a_family_above_its_own() {
    let (mods, g) = graph(&src());
    let family = |rank: usize| {
        if rank == 0 {
            "shared"
        } else {
            FAMILIES[rank - 1]
        }
    };
    let mut upward = Vec::new();
    for (name, deps) in &g {
        for d in deps {
            if mods[d].rank > mods[name].rank {
                upward.push(format!(
                    "{name} ({}) imports {d} ({})",
                    family(mods[name].rank),
                    family(mods[d].rank)
                ));
            }
        }
    }
    assert_eq!(upward, Vec::<String>::new());
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}
