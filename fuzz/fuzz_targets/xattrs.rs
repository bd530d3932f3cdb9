//! Serialized xattrs (`a(ayay)`) from objects, `.file-xattrs` blobs and dirmetas.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = encapsulate::checksum::xattr_entries_of(data);
});
