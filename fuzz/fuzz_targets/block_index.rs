//! The gzip block index a layout keeps beside its blobs (`ostree-encap-blocks/<digest>`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let settings = compress::Compression::Gzip.settings();
    let digest = format!("sha256:{}", "ab".repeat(32));
    if let Some(entries) = compress::blocks::parse(text, &settings, &digest, 1 << 30) {
        let again = compress::blocks::serialize(&settings, &digest, &entries);
        assert_eq!(
            compress::blocks::parse(&again, &settings, &digest, 1 << 30).as_deref(),
            Some(&entries[..])
        );
    }
});
