//! Analysis helper: where an update's bytes are, per component. For each component of NEW
//! that has changed objects: total bytes, changed bytes, and the unchanged bytes by top path
//! prefix — the bytes a component-granular layout re-downloads for nothing.
//!
//! Also the download of a few ways to split components by file kind (ELF, docs, locale, ...),
//! and with `CHURN_LIST=1` every changed object. Reads object headers directly, so REPO must
//! be bare or bare-user.
//!
//! Usage: `churn REPO OLD_REV NEW_REV`

use anyhow::Result;
use std::collections::BTreeMap;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, old, new] = args.as_slice() else {
        anyhow::bail!("usage: churn REPO OLD_REV NEW_REV");
    };
    let old_src = encapsulate::open(repo.as_ref(), old)?;
    let new_src = encapsulate::open(repo.as_ref(), new)?;
    let old_inv = old_src.inventory()?;
    let new_inv = new_src.inventory()?;
    let found = encapsulate::components::discover(
        &new_src,
        &new_inv,
        &encapsulate::components::ComponentOptions {
            xattrs: true,
            packages: true,
            contentmeta: None,
        },
    )?;
    // Every object of NEW: (checksum, component, size, first path, changed since OLD).
    let objects: Vec<(String, String, u64, &str, bool)> = new_inv
        .objects()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.to_string(),
                found.owner_of(i).unwrap_or("unowned").to_string(),
                found.sizes[i],
                new_inv.first_path(i).unwrap_or(""),
                !old_inv.contains(c),
            )
        })
        .collect();
    // component -> (total, changed, unchanged by path class)
    let mut per: BTreeMap<String, (u64, u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (_, comp, s, p, changed) in &objects {
        let (s, p) = (*s, *p);
        let e = per.entry(comp.clone()).or_default();
        e.0 += s;
        if !changed {
            let class: String = p.split('/').take(4).collect::<Vec<_>>().join("/");
            *e.2.entry(class).or_default() += s;
        } else {
            e.1 += s;
        }
    }
    // Split hypotheses: download = sum of parts that hold any changed object.
    let is_elf = |c: &str| -> bool {
        let p = format!("{repo}/objects/{}/{}.file", &c[..2], &c[2..]);
        let mut b = [0u8; 4];
        std::fs::File::open(&p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .is_ok()
            && &b == b"\x7fELF"
    };
    type Part = fn(&str, u64, bool) -> &'static str;
    let hyps: Vec<(&str, Part)> = vec![
        ("whole", |_, _, _| "all"),
        ("elf|rest", |_, _, e| if e { "elf" } else { "rest" }),
        ("elf|doc|locale|rest", |p, _, e| {
            if e {
                "elf"
            } else if p.contains("/share/doc/") || p.contains("/share/man/") {
                "doc"
            } else if p.contains("/locale/") {
                "locale"
            } else {
                "rest"
            }
        }),
        ("elf|small|big", |_, s, e| {
            if e {
                "elf"
            } else if s < 32768 {
                "small"
            } else {
                "big"
            }
        }),
        ("elf|dpkg|doc|locale|pyc|rest", |p, _, e| {
            if e {
                "elf"
            } else if p.contains("sysimage/dpkg") || p.contains("var/lib/dpkg") {
                "dpkg"
            } else if p.contains("/share/doc/") || p.contains("/share/man/") {
                "doc"
            } else if p.contains("/locale/") {
                "locale"
            } else if p.contains("__pycache__") {
                "pyc"
            } else {
                "rest"
            }
        }),
    ];
    for (name, f) in &hyps {
        let mut parts: BTreeMap<(String, &str), (u64, bool)> = BTreeMap::new();
        for (c, comp, s, p, changed) in &objects {
            let e = parts
                .entry((comp.clone(), f(p, *s, *s > 0 && is_elf(c))))
                .or_default();
            e.0 += s;
            e.1 |= changed;
        }
        let dl: u64 = parts.values().filter(|v| v.1).map(|v| v.0).sum();
        let n = parts.len();
        println!(
            "{name:34} parts {n:5} download raw {:8.1} MB",
            dl as f64 / 1e6
        );
    }
    if std::env::var("CHURN_LIST").is_ok() {
        for (i, c) in new_inv.objects().iter().enumerate() {
            if old_inv.contains(c) {
                continue;
            }
            let comp = found.owner_of(i).unwrap_or("unowned");
            let s = found.sizes[i];
            let e = s > 0 && is_elf(&c.to_string());
            let paths: Vec<&str> = new_inv.paths(i).collect();
            println!("CHANGED {comp} {s} elf={e} {}", paths.join(" "));
        }
    }
    let mut rows: Vec<_> = per.into_iter().filter(|(_, v)| v.1 > 0).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1 .0 - r.1 .1));
    for (comp, (total, changed, classes)) in rows {
        println!(
            "{comp:30} total {:8.1} MB changed {:8.1} MB unchanged {:8.1} MB volatile={}",
            total as f64 / 1e6,
            changed as f64 / 1e6,
            (total - changed) as f64 / 1e6,
            found.volatile.contains(&comp)
        );
        let mut cl: Vec<_> = classes.into_iter().collect();
        cl.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (k, v) in cl.into_iter().take(4) {
            println!("    {:8.1} MB  {k}", v as f64 / 1e6);
        }
    }
    Ok(())
}
