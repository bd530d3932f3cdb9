//! The gzip block index a layout keeps beside its blobs (`ostree-encap-blocks/<digest>`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let settings = manifest::Compression::Gzip.settings();
    let digest = format!("sha256:{}", "ab".repeat(32));
    if let Some(entries) = manifest::blocks::parse(text, &settings, &digest, 1 << 30) {
        let again = manifest::blocks::serialize(&settings, &digest, &entries);
        assert_eq!(
            manifest::blocks::parse(&again, &settings, &digest, 1 << 30).as_deref(),
            Some(&entries[..])
        );
    }
});
