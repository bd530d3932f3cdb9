//! `--contentmeta` JSON (ostree-ext's content-meta format).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = encapsulate::components::ContentMeta::parse(data, "fuzz");
});
