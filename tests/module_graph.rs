//! The root crate's modules import each other without a cycle (issue 30): a module that
//! needs another's piece and is needed by it is a sign the piece belongs lower down. The
//! graph is read from the sources (`crate::NAME` outside comments), so it stays true as code
//! moves; a cycle fails with its path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the modules its files name through `crate::`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        // The library's root and the binary's modules sit above every module.
        if matches!(name.as_str(), "lib" | "main" | "cli") {
            continue;
        }
        let list = files.entry(name).or_default();
        if p.is_dir() {
            let mut stack = vec![p];
            while let Some(d) = stack.pop() {
                for f in std::fs::read_dir(&d).unwrap().flatten() {
                    let f = f.path();
                    if f.is_dir() {
                        stack.push(f);
                    } else if f.extension().is_some_and(|x| x == "rs") {
                        list.push(f);
                    }
                }
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            list.push(p);
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    // What lib.rs re-exports at the root, so `crate::ImageRef` counts as image_ref.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut reexport: BTreeMap<String, String> = BTreeMap::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let rest = line.trim_start_matches("pub use ").trim_end_matches(';');
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            reexport.insert(item.trim().to_string(), module.to_string());
        }
    }
    let mut g = BTreeMap::new();
    for (name, paths) in &files {
        let mut deps = BTreeSet::new();
        for p in paths {
            for line in std::fs::read_to_string(p).unwrap().lines() {
                let code = line.split("//").next().unwrap_or("");
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let mut idents: Vec<&str> = Vec::new();
                    if let Some(group) = rest.strip_prefix('{') {
                        let end = group.find('}').unwrap_or(group.len());
                        idents.extend(group[..end].split(',').map(|s| s.trim()));
                    } else {
                        idents.push(rest);
                    }
                    for ident in idents {
                        let id: String = ident
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        let module = if names.contains(&id) {
                            Some(id)
                        } else {
                            reexport.get(&id).cloned()
                        };
                        if let Some(m) = module.filter(|m| m != name) {
                            deps.insert(m);
                        }
                    }
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    g
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

#[test]
fn the_root_crates_modules_import_each_other_without_a_cycle() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(g.len() > 10, "{g:?}");
    assert!(
        g["build"].contains("reuse"),
        "the reader misses imports: {g:?}"
    );
    if let Some(c) = find_cycle(&g) {
        panic!("import cycle among src/'s modules: {}", c.join(" -> "));
    }
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
