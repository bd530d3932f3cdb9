use super::*;

#[test]
fn compiled_python_comes_from_its_source() {
    let src = |p: &str| pyc_source(p);
    assert_eq!(
        src("usr/lib/python3/dist-packages/apt/__pycache__/cache.cpython-311.pyc").as_deref(),
        Some("usr/lib/python3/dist-packages/apt/cache.py")
    );
    assert_eq!(
        src("usr/lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc").as_deref(),
        Some("usr/lib/python3.11/os.py")
    );
    assert_eq!(
        src("__pycache__/a.cpython-311.pyc").as_deref(),
        Some("a.py")
    );
    assert_eq!(
        src("usr/lib/old/mod.pyc").as_deref(),
        Some("usr/lib/old/mod.py")
    );
    assert_eq!(src("usr/lib/old/mod.x.pyc"), None);
    assert_eq!(src("usr/lib/my__pycache__/a.cpython-311.pyc"), None);
    assert_eq!(src("usr/lib/x/__pycache__/.cpython-311.pyc"), None);
    assert_eq!(src("usr/lib/x/a.py"), None);
}

#[test]
fn var_data_is_grouped_by_its_directory() {
    assert_eq!(
        var_data_dir("var/lib/postgresql/15/main/base/1/112"),
        Some("var/lib/postgresql")
    );
    assert_eq!(var_data_dir("var/lib/sudo/lectured"), Some("var/lib/sudo"));
    assert_eq!(var_data_dir("var/www/index.html"), Some("var/www"));
    assert_eq!(var_data_dir("var/lib/x"), Some("var/lib"));
    assert_eq!(var_data_dir("var/file"), None);
    assert_eq!(var_data_dir("usr/var/lib/x/y"), None);
    assert_eq!(var_data_dir("variable/a/b"), None);
}

#[test]
fn state_and_caches_are_known_by_path() {
    for p in [
        "var/lib/dpkg/status",
        "var/lib/dpkg/triggers/File",
        "var/cache/man/index.db",
        "var/cache/ldconfig/aux-cache",
        "etc/ld.so.cache",
        "usr/share/rpm/rpmdb.sqlite",
        "var/log/apt/history.log",
    ] {
        assert!(is_state_path(p), "{p}");
    }
    for p in [
        "etc/ld.so.cache.d",
        "var/lib/dpkgx",
        "usr/share/info/dir.old",
        "usr/bin/apt",
    ] {
        assert!(!is_state_path(p), "{p}");
    }
}

#[test]
fn os_release_gives_id_and_version_id_unquoted() {
    let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\nID_LIKE=x\n";
    assert_eq!(
        parse_os_release(text),
        Some(("debian".to_string(), Some("12".to_string())))
    );
    assert_eq!(
        parse_os_release("ID='fedora'\n"),
        Some(("fedora".to_string(), None))
    );
    assert_eq!(parse_os_release("NAME=x\n"), None);
}

#[test]
fn dpkg_status_installed_only_with_sources() {
    let text = "Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.15-1)\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\nDescription: x\n more\n\n\
                Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                Package: bash\nStatus: install ok installed\nVersion: 5.2\nArchitecture: amd64\n";
    let p = parse_dpkg_status(text);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].name, "bash");
    assert_eq!(p[0].source, "bash");
    assert_eq!(p[1].source, "openssl");
    assert_eq!(p[1].version, "3.0.15-1~deb12u1");
}

#[test]
fn volatile_versions() {
    for v in [
        "5.36.0-7+deb12u3",
        "3.0.20-1~deb12u2",
        "12.4+deb12u15",
        "1.0+deb11u1",
    ] {
        assert!(is_volatile_version(v), "{v}");
    }
    for v in [
        "2.6.1",
        "1.0.9-2+b6",
        "10.42-1",
        "3.134",
        "1.0+debian",
        "2+deb12",
        "1+deb12ux",
    ] {
        assert!(!is_volatile_version(v), "{v}");
    }
}

#[test]
fn merged_usr_and_boot_paths() {
    assert_eq!(
        dpkg_path_candidates("/bin/ls"),
        vec!["bin/ls", "usr/bin/ls"]
    );
    assert_eq!(dpkg_path_candidates("/etc/passwd"), vec!["etc/passwd"]);
    assert!(is_boot_file("usr/lib/modules/6.1.0-9-amd64/vmlinuz"));
    assert!(is_boot_file("usr/lib/modules/6.1.0-9-amd64/initramfs.img"));
    assert!(!is_boot_file(
        "usr/lib/modules/6.1.0-9-amd64/kernel/x/vmlinuz"
    ));
    assert!(!is_boot_file("usr/bin/vmlinuz"));
}

#[test]
fn contentmeta_parses_ostree_ext_format() {
    let cm = ContentMeta::parse(br#"{"version":1,"created":"x","labels":{"a":"b"},"layers":{"1":"kernel"},"mapping":{"ab":"1"}}"#, "cm.json").unwrap();
    assert_eq!(cm.layers["1"], "kernel");
    let e = ContentMeta::parse(b"{", "cm.json").unwrap_err();
    assert!(e.to_string().contains("cm.json"));
    // The parser's error is kept as the source, not flattened into the message.
    assert!(std::error::Error::source(&e).is_some());
    assert!(ContentMeta::parse(br#"{"version":9}"#, "cm.json").is_err());
}
