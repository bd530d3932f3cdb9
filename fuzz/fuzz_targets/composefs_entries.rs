//! composefs digests of hostile layers (`composefs-digest`, `verify` of published digests,
//! `--composefs` of `--from`/`--base` images): reading a layer's entries and merging them must
//! refuse or succeed, never panic; the same bytes give the same digests.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn digests(data: &[u8]) -> Option<sealing::Digests> {
    let work = tempfile::tempdir().ok()?;
    let mut m = sealing::Merger::new(work.path()).ok()?;
    // Two layers: the input split in half, so whiteouts and overrides across layers happen.
    let (a, b) = data.split_at(data.len() / 2);
    m.add_layer(a).ok()?;
    m.add_layer(b).ok()?;
    m.finish().ok()
}

fuzz_target!(|data: &[u8]| {
    let first = digests(data);
    if let Some(d) = &first {
        assert_eq!(Some(d), digests(data).as_ref(), "deterministic");
    }
});
