//! Serialized xattrs (`a(ayay)`) from objects, `.file-xattrs` blobs and dirmetas.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ostree_format::checksum::xattr_entries_of(data);
});
