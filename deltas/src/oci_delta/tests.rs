//! The plan, as plain data: which layers a client holding the old image lacks.

use super::*;

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// An image whose layers have the blob digests `layers` and the diff_ids `ids`.
fn image(config: char, layers: &[char], ids: &[char]) -> ResolvedImage {
    let layer = |c: &char| serde_json::json!({"mediaType": media::LAYER_GZIP, "digest": digest(*c), "size": 10});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": {"mediaType": media::CONFIG, "digest": digest(config), "size": 5},
        "layers": layers.iter().map(layer).collect::<Vec<_>>(),
    });
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ids.iter().map(|c| digest(*c)).collect::<Vec<_>>()},
    });
    ResolvedImage {
        descriptor: Descriptor::new(media::MANIFEST, Digest::parse(&digest('f')).unwrap(), 100),
        manifest: serde_json::from_value(manifest).unwrap(),
        config: serde_json::from_value(config).unwrap(),
    }
}

#[test]
fn layers_the_old_image_has_by_diff_id_are_reused_whatever_their_blob() {
    let old = image('c', &['1', '2', '3'], &['a', 'b', 'd']);
    // Layer 4 holds diff_id b (recompressed: another blob), 5 is new.
    let new = image('e', &['1', '4', '5'], &['a', 'b', '9']);
    let p = plan(&old, &new).unwrap();
    assert_eq!(p.source_config.as_str(), digest('c'));
    assert_eq!(p.target_config.digest.as_str(), digest('e'));
    let reused: Vec<bool> = p.layers.iter().map(|l| l.reused).collect();
    assert_eq!(reused, [true, true, false]);
    assert_eq!(p.layers[2].descriptor.digest.as_str(), digest('5'));
    assert_eq!(p.layers[2].diff_id.as_str(), digest('9'));
}

#[test]
fn the_same_image_or_configs_that_do_not_match_their_layers_are_refused() {
    let a = image('c', &['1'], &['a']);
    let e = plan(&a, &a).unwrap_err().to_string();
    assert!(e.contains("same config"), "{e}");
    let bad = image('e', &['1', '2'], &['a']);
    let e = plan(&a, &bad).unwrap_err().to_string();
    assert!(e.contains("1 diff_ids for 2 layers"), "{e}");
}
