//! An archive repo's `.filez` object: its GVariant header, then raw deflate of the content.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((size, content)) = encapsulate::fuzzing::filez_content(data) {
        assert!(content.len() as u64 <= size.max(1) * 2 + (8 << 20));
    }
});
