//! `verify` must reject images tampered with in every way an importer could be fooled by.
//! Each case rewrites the commit layer and then repairs every digest above it (blob digest,
//! diff_id, final-diffid label, manifest, index), so only the deep checks can catch it.

mod common;

use common::*;
use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::path::Path;

/// Header, full path, full link target, data (long names kept outside the header).
#[derive(Clone)]
struct Ent {
    h: tar::Header,
    path: String,
    link: Option<String>,
    pax: Vec<(String, Vec<u8>)>,
    data: Vec<u8>,
}

type Entries = Vec<Ent>;

fn read_entries(layer: &[u8]) -> Entries {
    let mut ar = tar::Archive::new(GzDecoder::new(layer));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned());
            let pax = match e.pax_extensions().unwrap() {
                Some(exts) => exts
                    .map(|x| {
                        let x = x.unwrap();
                        (x.key().unwrap().to_string(), x.value_bytes().to_vec())
                    })
                    .filter(|(k, _)| k.starts_with("SCHILY.xattr."))
                    .collect(),
                None => Vec::new(),
            };
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Ent {
                h,
                path,
                link,
                pax,
                data,
            }
        })
        .collect()
}

/// Rewrite layer 0 of the only image in `out` with `f`, then repair all digests above it.
fn tamper(out: &Path, f: impl FnOnce(&mut Entries)) {
    tamper_layer(out, 0, |e, _| f(e));
}

/// Rewrite layer `n` with `f` (which also sees layer 0's entries), then repair all digests.
fn tamper_layer(out: &Path, n: usize, f: impl FnOnce(&mut Entries, &Entries)) {
    let idx = index(out);
    let mdigest = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut m = json(&String::from_utf8(blob(out, &mdigest)).unwrap());
    let mut c =
        json(&String::from_utf8(blob(out, m["config"]["digest"].as_str().unwrap())).unwrap());
    let first = read_entries(&blob(out, m["layers"][0]["digest"].as_str().unwrap()));
    let layer = blob(out, m["layers"][n]["digest"].as_str().unwrap());
    let mut entries = read_entries(&layer);
    f(&mut entries, &first);
    let mut b = tar::Builder::new(Vec::new());
    for e in &entries {
        let mut h = e.h.clone();
        if !e.pax.is_empty() {
            b.append_pax_extensions(e.pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let raw = e.path.starts_with('/') || e.path.contains("..") || e.path.contains("//");
        if raw {
            // Names the tar crate refuses to write (the hostile cases): put them in the
            // header as they are.
            let name = &mut h.as_old_mut().name;
            name.fill(0);
            name[..e.path.len()].copy_from_slice(e.path.as_bytes());
            if let Some(l) = &e.link {
                h.set_link_name(l).unwrap();
            }
            h.set_size(e.data.len() as u64);
            h.set_cksum();
            b.append(&h, e.data.as_slice()).unwrap();
            continue;
        }
        match &e.link {
            Some(l) => b.append_link(&mut h, &e.path, l).unwrap(),
            None => b.append_data(&mut h, &e.path, e.data.as_slice()).unwrap(),
        }
    }
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    let diff = sha(&raw);
    let ldigest = put_blob(out, &gz);
    m["layers"][n]["digest"] = ldigest.into();
    m["layers"][n]["size"] = gz.len().into();
    c["rootfs"]["diff_ids"][n] = diff.clone().into();
    if n + 1 == m["layers"].as_array().unwrap().len() {
        c["config"]["Labels"]["ostree.final-diffid"] = diff.clone().into();
        m["annotations"]["ostree.final-diffid"] = diff.into();
    }
    let cbytes = serde_json::to_vec(&c).unwrap();
    m["config"]["digest"] = put_blob(out, &cbytes).into();
    m["config"]["size"] = cbytes.len().into();
    let mbytes = serde_json::to_vec(&m).unwrap();
    let mut idx = idx;
    idx["manifests"][0]["digest"] = put_blob(out, &mbytes).into();
    idx["manifests"][0]["size"] = mbytes.len().into();
    std::fs::write(out.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
}

fn pos(e: &Entries, f: impl Fn(&str, &tar::Header) -> bool) -> usize {
    e.iter()
        .position(|x| f(x.path.trim_end_matches('/'), &x.h))
        .expect("entry not found")
}

struct Case {
    fx: Fixture,
    out: std::path::PathBuf,
}

fn case() -> Case {
    let fx = Fixture::new("basic");
    let out = fx.path("oci");
    // Single layer: `rejects` edits layer 0 (chunk-layer rules are tested further down).
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--max-layers", "0"]));
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap()]);
    Case { fx, out }
}

impl Case {
    fn rejects(&self, f: impl FnOnce(&mut Entries), expect: &str) {
        tamper(&self.out, f);
        let err = encap_err(["verify", "--oci-dir", self.out.to_str().unwrap()]);
        assert!(err.contains(expect), "expected {expect:?} in: {err}");
    }
}

fn is_file_obj(n: &str, h: &tar::Header) -> bool {
    n.ends_with(".file") && h.entry_type() == tar::EntryType::Regular && h.size().unwrap() > 1000
}

#[test]
fn untouched_rewrite_still_verifies() {
    // The harness itself must not break a good image (else every rejection below is vacuous).
    let c = case();
    tamper(&c.out, |_| {});
    encap_ok(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    let (_, commit) = import(
        c.fx.dir.path(),
        &format!("ostree-unverified-image:oci:{}", c.out.display()),
    )
    .unwrap();
    assert_eq!(commit, c.fx.commit);
}

#[test]
fn flipped_content_byte() {
    case().rejects(
        |e| {
            let i = pos(e, is_file_obj);
            e[i].data[10] ^= 1;
        },
        "content does not match its name",
    );
}

#[test]
fn changed_owner_of_a_content_object() {
    case().rejects(
        |e| {
            let i = pos(e, is_file_obj);
            e[i].h.set_uid(1234);
        },
        "content does not match its name",
    );
}

#[test]
fn hardlink_pointed_at_another_object() {
    case().rejects(
        |e| {
            let other = e[pos(e, |n, h| {
                n.ends_with(".file") && h.entry_type() == tar::EntryType::Regular
            })]
            .path
            .clone();
            let i = pos(e, |n, h| {
                n == "usr/bin/hello" && h.entry_type() == tar::EntryType::Link
            });
            // The first object of the stream, written before this link, and the link stays
            // where it was (path order intact): only the tree check can notice.
            assert!(i > pos(e, |n, _| n == other.trim_end_matches('/')));
            e[i].link = Some(other);
        },
        "usr/bin/hello links to object",
    );
}

#[test]
fn directory_mode_changed() {
    case().rejects(
        |e| {
            let i = pos(e, |n, h| {
                n == "usr/share" && h.entry_type() == tar::EntryType::Directory
            });
            e[i].h.set_mode(0o777);
        },
        "directory usr/share",
    );
}

#[test]
fn dirtree_removed() {
    case().rejects(
        |e| {
            let i = pos(e, |n, _| n.ends_with(".dirtree"));
            e.remove(i);
        },
        "is missing",
    );
}

#[test]
fn commit_not_first() {
    case().rejects(
        |e| {
            let i = pos(e, |n, _| n.ends_with(".commit"));
            let x = e.remove(i);
            let j = pos(e, |n, _| n.ends_with(".dirmeta"));
            e.insert(j + 1, x);
        },
        "metadata object before the commit object",
    );
}

#[test]
fn xattrs_link_dropped() {
    case().rejects(
        |e| {
            let i = pos(e, |n, _| n.ends_with(".file-xattrs-link"));
            e.remove(i);
        },
        "not preceded by its .file-xattrs-link",
    );
}

#[test]
fn path_written_twice() {
    case().rejects(
        |e| {
            let i = pos(e, |n, h| {
                n == "usr/bin/hello" && h.entry_type() == tar::EntryType::Link
            });
            let x = e[i].clone();
            e.insert(i + 1, x);
        },
        "path appears twice",
    );
}

#[test]
fn file_missing_from_the_stream() {
    case().rejects(
        |e| {
            let i = pos(e, |n, _| n == "usr/share/doc/readme-copy");
            e.remove(i);
        },
        "usr/share/doc/readme-copy",
    );
}

#[test]
fn wrong_commit_label_and_bad_blob_and_diffid() {
    let c = case();
    // A label lying about the commit.
    let idx = index(&c.out);
    let mdigest = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
    let m = json(&String::from_utf8(blob(&c.out, &mdigest)).unwrap());
    let cfg_digest = m["config"]["digest"].as_str().unwrap().to_string();
    let mut cfg = json(&String::from_utf8(blob(&c.out, &cfg_digest)).unwrap());
    let original_cfg = cfg.clone();
    cfg["config"]["Labels"]["ostree.commit"] = "ab".repeat(32).into();
    let write_cfg = |cfg: &serde_json::Value| {
        let bytes = serde_json::to_vec(cfg).unwrap();
        let mut m = m.clone();
        m["config"]["digest"] = put_blob(&c.out, &bytes).into();
        m["config"]["size"] = bytes.len().into();
        m["annotations"] = serde_json::json!({});
        let mb = serde_json::to_vec(&m).unwrap();
        let mut idx = idx.clone();
        idx["manifests"][0]["digest"] = put_blob(&c.out, &mb).into();
        idx["manifests"][0]["size"] = mb.len().into();
        std::fs::write(c.out.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    };
    write_cfg(&cfg);
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains("label says"), "{err}");
    // A diff_id that does not match the layer.
    let mut cfg = original_cfg.clone();
    let bogus = format!("sha256:{}", "cd".repeat(32));
    cfg["rootfs"]["diff_ids"][0] = bogus.clone().into();
    cfg["config"]["Labels"]["ostree.final-diffid"] = bogus.into();
    write_cfg(&cfg);
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains("uncompressed content hashes to"), "{err}");
    // final-diffid not in diff_ids.
    let mut cfg = original_cfg.clone();
    cfg["config"]["Labels"]["ostree.final-diffid"] = format!("sha256:{}", "ef".repeat(32)).into();
    write_cfg(&cfg);
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains("appears 0 times"), "{err}");
    // A flipped bit in the layer blob itself.
    write_cfg(&original_cfg);
    encap_ok(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let p = c.out.join("blobs/sha256").join(&layer[7..]);
    let mut data = std::fs::read(&p).unwrap();
    data[100] ^= 0x80;
    std::fs::write(&p, data).unwrap();
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains(layer) && err.contains("hashes to"), "{err}");
}

fn chunked_case() -> Case {
    let fx = Fixture::new("components");
    let out = fx.path("oci");
    encap_ok(job(&fx.repo, FIXTURE_REF, &out, &["--max-layers", "4"]));
    encap_ok(["verify", "--oci-dir", out.to_str().unwrap()]);
    Case { fx, out }
}

/// Content objects come in path order (format.md); two objects swapped, links and all, are
/// still every byte the importer needs, but not the stream this tool writes.
#[test]
fn content_objects_out_of_path_order() {
    let c = chunked_case();
    tamper_layer(&c.out, 1, |e, _| {
        let starts: Vec<usize> = e
            .iter()
            .enumerate()
            .filter(|(_, x)| x.path.ends_with(".file-xattrs-link"))
            .map(|(i, _)| i)
            .collect();
        assert!(starts.len() >= 2, "the layer has two objects to swap");
        let (a, b, end) = (starts[0], starts[1], *starts.get(2).unwrap_or(&e.len()));
        let second: Vec<_> = e.drain(b..end).collect();
        e.splice(a..a, second);
    });
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(
        err.contains("layer 1") && err.contains("not in path order"),
        "{err}"
    );
}

#[test]
fn chunk_layer_with_a_metadata_object() {
    let c = chunked_case();
    tamper_layer(&c.out, 1, |e, first| {
        let t = first
            .iter()
            .find(|x| x.path.ends_with(".dirtree"))
            .unwrap()
            .clone();
        e.push(t);
    });
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(
        err.contains("layer 1") && err.contains("metadata object in a chunk layer"),
        "{err}"
    );
}

#[test]
fn content_object_in_two_layers() {
    let c = chunked_case();
    let idx = index(&c.out);
    let m = json(
        &String::from_utf8(blob(
            &c.out,
            idx["manifests"][0]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    );
    let second = read_entries(&blob(&c.out, m["layers"][2]["digest"].as_str().unwrap()));
    tamper_layer(&c.out, 1, |e, _| {
        // Append the first object (xattrs link + file) of layer 2 to layer 1.
        let i = second
            .iter()
            .position(|x| x.path.ends_with(".file-xattrs-link"))
            .unwrap();
        e.push(second[i].clone());
        e.push(second[i + 1].clone());
    });
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(
        err.contains("appears twice in the image") || err.contains("not in path order"),
        "{err}"
    );
}

#[test]
fn chunk_layer_without_components_annotation() {
    let c = chunked_case();
    let mut idx = index(&c.out);
    let mut m = json(
        &String::from_utf8(blob(
            &c.out,
            idx["manifests"][0]["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    );
    m["layers"][1]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let mb = serde_json::to_vec(&m).unwrap();
    idx["manifests"][0]["digest"] = put_blob(&c.out, &mb).into();
    idx["manifests"][0]["size"] = mb.len().into();
    std::fs::write(c.out.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(
        err.contains("without the ostree.components annotation"),
        "{err}"
    );
}

/// Whatever a runtime would unpack must be exactly the commit's tree: entries the commit
/// does not account for are refused, however harmless they look (issue 13, defect 4).
fn extra_entry_rejected(add: impl FnOnce(&mut Entries), expect: &str) {
    let c = case();
    tamper(&c.out, add);
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    // import takes the same stream the same way.
    let repo = c.fx.path("imported");
    let err = encap_err([
        "import",
        "--oci-dir",
        c.out.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
    ]);
    assert!(
        err.contains(expect),
        "import: expected {expect:?} in: {err}"
    );
}

/// A copy of the entry at `path` (trailing / ignored) under another name.
fn copy_as(e: &mut Entries, path: &str, new: &str) {
    let i = pos(e, |n, _| n == path);
    let mut x = e[i].clone();
    x.path = new.to_string();
    e.push(x);
}

#[test]
fn extra_hardlink_is_refused() {
    extra_entry_rejected(
        |e| copy_as(e, "usr/bin/hello", "etc/shadow_extra"),
        "etc/shadow_extra",
    );
}

#[test]
fn second_directory_entry_with_other_mode_is_refused() {
    extra_entry_rejected(
        |e| {
            let i = pos(e, |n, h| {
                n == "etc" && h.entry_type() == tar::EntryType::Directory
            });
            let mut x = e[i].clone();
            x.h.set_mode(0o777);
            e.push(x);
        },
        "etc",
    );
}

#[test]
fn extra_empty_file_and_directory_are_refused() {
    extra_entry_rejected(
        |e| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            e.push(Ent {
                h,
                path: "etc/dropped-in".into(),
                link: None,
                pax: vec![],
                data: vec![],
            });
        },
        "etc/dropped-in",
    );
    extra_entry_rejected(
        |e| {
            let i = pos(e, |n, h| {
                n == "etc" && h.entry_type() == tar::EntryType::Directory
            });
            let mut x = e[i].clone();
            x.path = "opt/newdir/".into();
            e.push(x);
        },
        "opt/newdir",
    );
}

#[test]
fn dot_dot_and_absolute_names_are_refused() {
    for bad in ["../escape", "/etc/abs", "usr/../../x", "usr//bin/hello2"] {
        extra_entry_rejected(|e| copy_as(e, "usr/bin/hello", bad), "path");
    }
}

/// A metadata object entry named by the sha256 of `data`, as a forger makes them.
fn meta_object(data: Vec<u8>, kind: &str) -> Ent {
    let hex = sha(&data)[7..].to_string();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    Ent {
        h,
        path: format!(
            "sysroot/ostree/repo/objects/{}/{}.{kind}",
            &hex[..2],
            &hex[2..]
        ),
        link: None,
        pax: vec![],
        data,
    }
}

// Issue 13, defect 5: metadata objects were buffered up to 128 MiB each with no total, so a
// small gzip blob of forged dirtrees took gigabytes.
#[test]
fn metadata_objects_are_bounded_each_and_in_total() {
    let c = case();
    tamper(&c.out, |e| {
        e.push(meta_object(vec![0; 33 << 20], "dirtree"))
    });
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(err.contains("exceeds the limit"), "{err}");
    let c = case();
    tamper(&c.out, |e| {
        for i in 0..17 {
            e.push(meta_object(vec![0; (31 << 20) + i], "dirtree"));
        }
    });
    let err = encap_err(["verify", "--oci-dir", c.out.to_str().unwrap()]);
    assert!(
        err.contains("bytes of metadata objects, the limit"),
        "{err}"
    );
}
