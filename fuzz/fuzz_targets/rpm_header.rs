//! One rpm header blob, as stored in the rpmdb's Packages table.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = encapsulate::rpmdb::parse_header(data) {
        let _ = p;
    }
});
