//! OCI documents read from layouts and archives: index, manifest, config, descriptors and
//! digests, the way `OciDir::resolve` parses them, then the uses that follow a parse.
#![no_main]
use libfuzzer_sys::fuzz_target;
use oci::types::{Descriptor, Digest, ImageConfig, Index, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(i) = serde_json::from_slice::<Index>(data) {
        for d in &i.manifests {
            let _ = d.digest.hex();
            let _ = d.digest.short();
        }
        let _ = oci::json::to_canonical(&i);
    }
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        let total = m.layers.iter().try_fold(0u64, |a, l| a.checked_add(l.size));
        let _ = total;
        let _ = oci::json::to_canonical(&m);
    }
    if let Ok(c) = serde_json::from_slice::<ImageConfig>(data) {
        let _ = c.labels();
    }
    let _ = serde_json::from_slice::<Descriptor>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = Digest::parse(s) {
            assert_eq!(d.as_str(), s);
            assert_eq!(d.hex().len(), 64);
        }
        let _ = oci::spec::check_tag(s);
        let _ = oci::spec::checked_arch(s, "--arch");
    }
});
