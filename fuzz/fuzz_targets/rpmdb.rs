//! A whole sqlite rpmdb (rpmdb.sqlite) as found in a commit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = encapsulate::rpmdb::read_database(data, None);
});
