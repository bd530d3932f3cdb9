//! dpkg's status file and the paths of its `.list` files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = encapsulate::components::parse_dpkg_status(&text);
    for line in text.lines().take(64) {
        let _ = encapsulate::components::dpkg_path_candidates(line);
    }
});
