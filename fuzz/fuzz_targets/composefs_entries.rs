//! composefs digests of hostile layers (`composefs-digest`, `verify` of published digests,
//! `--composefs` of `--from`/`--base` images): reading a layer's entries and merging them must
//! refuse or succeed, never panic; the same bytes give the same digests; and the entries do
//! not depend on the pieces the bytes arrive in (a build feeds its reader what it writes).
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

/// The layer `data` read whole, and fed in pieces of `piece` bytes: the same, or both refused.
fn pieces_read_the_same(data: &[u8], piece: usize) {
    let whole = sealing::entries::read_layer(data).map(|l| format!("{l:?}"));
    let mut r = sealing::entries::LayerReader::new();
    let mut fed = Ok(());
    for p in data.chunks(piece) {
        if r.is_done() {
            break;
        }
        fed = r.feed(p);
        if fed.is_err() {
            break;
        }
    }
    let pieces = fed.and_then(|()| r.finish()).map(|l| format!("{l:?}"));
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "pieces of {piece}"),
        (Err(_), Err(_)) => {}
        _ => panic!("pieces of {piece}: {:?} vs {:?}", whole.err(), pieces.err()),
    }
}

fuzz_target!(|data: &[u8]| {
    let first = digests(data);
    if let Some(d) = &first {
        assert_eq!(Some(d), digests(data).as_ref(), "deterministic");
    }
    if let Some((&k, rest)) = data.split_first() {
        pieces_read_the_same(rest, usize::from(k) * 37 + 1);
    }
});
