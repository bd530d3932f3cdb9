//! verify::targuard against the tar crate alone: with a limit no input reaches, the guard
//! must change nothing the crate reads (entries, sizes, contents, errors); with a small
//! limit it must not panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

/// Each entry's path, size and content, or where reading stopped with an error.
fn read(r: impl Read) -> (Vec<(Vec<u8>, u64, Vec<u8>)>, bool) {
    let mut ar = tar::Archive::new(r);
    let mut out = Vec::new();
    let Ok(entries) = ar.entries() else {
        return (out, false);
    };
    for e in entries.take(256) {
        let Ok(mut e) = e else {
            return (out, false);
        };
        let mut data = Vec::new();
        if e.read_to_end(&mut data).is_err() {
            return (out, false);
        }
        out.push((e.path_bytes().into_owned(), e.size(), data));
    }
    (out, true)
}

fuzz_target!(|data: &[u8]| {
    let plain = read(data);
    let guarded = read(verify::targuard::TarGuard::with_limit(data, u64::MAX));
    assert_eq!(plain, guarded);
    let _ = read(verify::targuard::TarGuard::with_limit(data, 64));
});
