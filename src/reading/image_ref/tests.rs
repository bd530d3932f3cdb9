//! The grammar, on a made-up file system.

use super::*;
use std::collections::HashMap;

/// A made-up file system: paths that exist and what they are.
struct Fake(HashMap<&'static str, PathKind>);
impl Probe for Fake {
    fn kind(&self, path: &Path) -> PathKind {
        path.to_str()
            .and_then(|p| self.0.get(p))
            .copied()
            .unwrap_or(PathKind::Missing)
    }
}
fn fs() -> Fake {
    Fake(HashMap::from([
        ("out", PathKind::Dir),
        ("a:b", PathKind::Dir),
        ("img.tar", PathKind::File { json: false }),
        ("m.json", PathKind::File { json: true }),
    ]))
}
const ALL: Accept = Accept {
    manifest: true,
    remote: true,
};
fn dir(p: &str, t: Option<&str>) -> ImageRef {
    ImageRef::Dir {
        path: p.into(),
        tag: t.map(Into::into),
    }
}

#[test]
fn sources_in_order() {
    let p = |s| ImageRef::parse_source("X", s, ALL, &fs());
    assert_eq!(p("out"), Ok(dir("out", None)));
    assert_eq!(p("out:v1"), Ok(dir("out", Some("v1"))));
    // A path that exists means itself, even with a ':' in it.
    assert_eq!(p("a:b"), Ok(dir("a:b", None)));
    assert_eq!(p("a:b:c"), Ok(dir("a:b", Some("c"))));
    assert_eq!(
        p("img.tar"),
        Ok(ImageRef::Archive {
            path: "img.tar".into(),
            tag: None
        })
    );
    assert_eq!(p("m.json"), Ok(ImageRef::Manifest("m.json".into())));
    assert_eq!(p("oci:elsewhere:t"), Ok(dir("elsewhere", Some("t"))));
    assert_eq!(
        p("oci-archive:x.tar:t"),
        Ok(ImageRef::Archive {
            path: "x.tar".into(),
            tag: Some("t".into())
        })
    );
    assert_eq!(
        p("docker://r/x:1"),
        Ok(ImageRef::Remote("docker://r/x:1".into()))
    );
}

#[test]
fn refusals_name_the_argument() {
    let p = |s, a| ImageRef::parse_source("--previous", s, a, &fs());
    let none = Accept::default();
    let e = p("nope", none).unwrap_err().to_string();
    assert_eq!(e, "--previous nope: no such OCI directory or oci-archive");
    let e = p("nope:t", ALL).unwrap_err().to_string();
    assert!(e.contains("or manifest file"), "{e}");
    assert!(matches!(p("out:", ALL), Err(ImageRefError::BadTag { .. })));
    assert!(matches!(p("", ALL), Err(ImageRefError::Empty { .. })));
    assert!(matches!(
        p("oci:", ALL),
        Err(ImageRefError::NotFound { .. })
    ));
    assert!(matches!(
        p("docker://", ALL),
        Err(ImageRefError::NotFound { .. })
    ));
    let e = p("docker://r/x", none).unwrap_err().to_string();
    assert!(e.contains("skopeo copy"), "{e}");
    // Without `manifest`, a JSON file is read as an archive (and refused when opened).
    assert!(matches!(p("m.json", none), Ok(ImageRef::Archive { .. })));
}

#[test]
fn destinations_need_a_transport() {
    let d = |s| ImageRef::parse_destination("DEST", s);
    assert!(matches!(d("out"), Err(ImageRefError::NoTransport { .. })));
    assert_eq!(d("oci:new:t"), Ok(dir("new", Some("t"))));
    assert_eq!(
        d("containers-storage:x"),
        Ok(ImageRef::Remote("containers-storage:x".into()))
    );
}

#[test]
fn flags() {
    let f =
        |d: Option<&str>, a: Option<&str>, t| ImageRef::from_flags(d, a.map(Path::new), t, &fs());
    assert_eq!(f(Some("out"), None, Some("v")), Ok(dir("out", Some("v"))));
    assert_eq!(f(Some("out:v"), None, None), Ok(dir("out", Some("v"))));
    assert!(matches!(
        f(Some("out:v"), None, Some("w")),
        Err(ImageRefError::BadTag { .. })
    ));
    assert!(matches!(
        f(Some("gone"), None, None),
        Err(ImageRefError::NotFound { .. })
    ));
    assert!(matches!(
        f(None, Some("img.tar"), Some("")),
        Err(ImageRefError::BadTag { .. })
    ));
    assert!(matches!(
        f(None, Some("gone.tar"), None),
        Err(ImageRefError::NotFound { .. })
    ));
    assert_eq!(f(None, None, None), Err(ImageRefError::NoLocation));
    assert_eq!(
        f(Some("out"), Some("img.tar"), None),
        Err(ImageRefError::NoLocation)
    );
}

#[test]
fn display_is_skopeo_spelling_and_parses_back() {
    for r in [
        dir("out", Some("v1")),
        ImageRef::Archive {
            path: "img.tar".into(),
            tag: None,
        },
        ImageRef::Remote("docker://r/x:1".into()),
    ] {
        let s = r.to_string();
        assert_eq!(ImageRef::parse_source("X", &s, ALL, &fs()), Ok(r), "{s}");
    }
    assert_eq!(dir("out", Some("v1")).to_string(), "oci:out:v1");
}

#[test]
fn a_docker_reference_splits_into_reference_repository_and_tag() {
    for (dest, reference, repository) in [
        (
            "docker://r.example/os:42",
            "r.example/os:42",
            "r.example/os",
        ),
        (
            "docker://127.0.0.1:5000/a/b:1",
            "127.0.0.1:5000/a/b:1",
            "127.0.0.1:5000/a/b",
        ),
        (
            "docker://127.0.0.1:5000/a/b",
            "127.0.0.1:5000/a/b",
            "127.0.0.1:5000/a/b",
        ),
        (
            "docker://r.example/os@sha256:00",
            "r.example/os@sha256:00",
            "r.example/os",
        ),
    ] {
        let d = DockerRef::parse(dest).unwrap();
        assert_eq!(d.reference, reference, "{dest}");
        assert_eq!(d.repository, repository, "{dest}");
    }
    assert_eq!(
        DockerRef::parse("docker://127.0.0.1:5000/a/b:1")
            .unwrap()
            .tag
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        DockerRef::parse("docker://127.0.0.1:5000/a/b").unwrap().tag,
        None
    );
    let e = DockerRef::parse("oci:/x:y").unwrap_err().to_string();
    assert!(e.contains("must be docker://"), "{e}");
}

#[test]
fn with_tag_keeps_the_layout_and_changes_only_the_tag() {
    let dir = ImageRef::Dir {
        path: "/out".into(),
        tag: Some("1".into()),
    };
    assert_eq!(
        dir.with_tag(None),
        ImageRef::Dir {
            path: "/out".into(),
            tag: None
        }
    );
    let archive = ImageRef::Archive {
        path: "/os.ociarchive".into(),
        tag: None,
    };
    assert_eq!(
        archive.with_tag(Some("sha256-x".into())).tag(),
        Some("sha256-x")
    );
    let remote = ImageRef::Remote("docker://r/i:1".into());
    assert_eq!(remote.with_tag(None), remote);
}
