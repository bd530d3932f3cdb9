//! The layer stream verifier and importer's reader: tar entries -> objects -> tree check.
//! The first byte picks strict mode and whether the rest is one layer or two (split at the
//! second byte's share of the input), as a commit layer and a chunk layer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut v = verify::StreamVerifier::new().strict(flags & 1 == 1);
    if flags & 2 == 2 && rest.len() > 1 {
        let cut = 1 + (rest[0] as usize * (rest.len() - 1)) / 255;
        let (a, b) = rest[1..].split_at(cut.min(rest.len() - 1));
        if v.layer(0, a).is_ok() && v.layer(1, b).is_ok() {
            let _ = v.finish();
        }
    } else if v.layer(0, rest).is_ok() {
        let _ = v.finish();
    }
});
