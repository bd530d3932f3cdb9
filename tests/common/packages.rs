//! Real package databases in fixture trees: .debs built with dpkg-deb and installed with
//! `dpkg --root`, rpms built with rpmbuild and installed with `rpm --root` (sqlite rpmdb).

use super::*;
use std::path::Path;
use std::process::Command;

/// Build `.deb`s with dpkg-deb and install them into `root` with `dpkg --root`.
pub fn install_debs(work: &Path, root: &Path, pkgs: &[(&str, &str, &str)]) {
    install_debs_with(work, root, pkgs, |_, _| {});
}

/// [`install_debs`], with `more(name, package_root)` adding to each package before it is built.
pub fn install_debs_with(
    work: &Path,
    root: &Path,
    pkgs: &[(&str, &str, &str)],
    more: impl Fn(&str, &Path),
) {
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    for f in ["status", "available"] {
        let p = root.join("var/lib/dpkg").join(f);
        if !p.exists() {
            std::fs::write(p, "").unwrap();
        }
    }
    let mut debs = Vec::new();
    for (name, source, version) in pkgs {
        let d = work.join(format!("pkg-{name}-{version}"));
        std::fs::create_dir_all(d.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(d.join(format!("usr/share/{name}"))).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::write(
            d.join("DEBIAN/control"),
            format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\nSource: {source}\n"),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("usr/share/{name}/data")),
            pseudo_random(&format!("{name}{version}"), 40_000),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("usr/bin/{name}-tool")),
            format!("#!/bin/sh\necho {name} {version}\n"),
        )
        .unwrap();
        more(name, &d);
        let deb = work.join(format!("{name}_{version}.deb"));
        run_ok(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-b"])
                .arg(&d)
                .arg(&deb),
        );
        debs.push(deb);
    }
    run_ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "-i"])
            .args(&debs),
    );
}

/// Build rpms with rpmbuild and install them into `root` with an sqlite rpmdb at
/// usr/lib/sysimage/rpm, the way Fedora-style composes leave it.
pub fn install_rpms(work: &Path, root: &Path, foo_version: &str, bar_version: &str) {
    let top = work.join(format!("rpmbuild-{foo_version}-{bar_version}"));
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let mut specs = Vec::new();
    for (src, subs, version) in [
        ("foo", vec!["libfoo", "foo-tools"], foo_version),
        ("bar", vec![], bar_version),
    ] {
        let mut spec = format!(
            "Name: {src}\nVersion: {version}\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%description\nt\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{src} %{{buildroot}}/usr/lib\n\
             echo {src}-{version} > %{{buildroot}}/usr/share/{src}/data\n"
        );
        for s in &subs {
            spec.push_str(&format!(
                "echo {s}-{version} > %{{buildroot}}/usr/lib/{s}.data\n"
            ));
        }
        spec.push_str(&format!("%files\n/usr/share/{src}/data\n"));
        for s in &subs {
            spec.push_str(&format!("%package -n {s}\nSummary: t\n%description -n {s}\nt\n%files -n {s}\n/usr/lib/{s}.data\n"));
        }
        spec.push_str("%changelog\n* Mon Jan 01 2024 T <t@example.invalid> - 1\n- x\n");
        let p = top.join("SPECS").join(format!("{src}.spec"));
        std::fs::write(&p, spec).unwrap();
        specs.push(p);
    }
    for spec in &specs {
        run_ok(
            Command::new("rpmbuild")
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .arg("-bb")
                .arg(spec),
        );
    }
    let rpms: Vec<_> = std::fs::read_dir(top.join("RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    run_ok(
        Command::new("rpm")
            .arg(format!("--root={}", root.display()))
            .args([
                "--dbpath=/usr/lib/sysimage/rpm",
                "--define",
                "_db_backend sqlite",
                "--nodeps",
                "--noscripts",
                "-U",
                "--replacepkgs",
            ])
            .args(&rpms),
    );
}
