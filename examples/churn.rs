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
    let size: BTreeMap<&str, u64> = found
        .objects
        .iter()
        .map(|o| (o.checksum.as_str(), o.size))
        .collect();
    // Every object of NEW: (checksum, component, size, first path, changed since OLD).
    let objects: Vec<(&str, String, u64, &str, bool)> = new_inv
        .content
        .iter()
        .map(|(c, paths)| {
            (
                c.as_str(),
                found
                    .owner
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| "unowned".into()),
                size.get(c.as_str()).copied().unwrap_or(0),
                paths.first().map(String::as_str).unwrap_or(""),
                !old_inv.content.contains_key(c),
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
        for (c, paths) in &new_inv.content {
            if old_inv.content.contains_key(c) {
                continue;
            }
            let comp = found
                .owner
                .get(c)
                .cloned()
                .unwrap_or_else(|| "unowned".into());
            let s = size.get(c.as_str()).copied().unwrap_or(0);
            let e = s > 0 && is_elf(c);
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
