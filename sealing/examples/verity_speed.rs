//! fs-verity SHA-512 throughput: composefs-rs's hasher as it comes (an OpenSSL EVP context per
//! 4 KiB block) beside `sealing::verity::Verity` (the same hasher over OpenSSL's low-level
//! SHA-512), over the same 256 MiB, alternating, five rounds; medians in MB/s.
//! `cargo run --release -p sealing --example verity_speed`

use composefs::fsverity::{FsVerityHasher, Sha512HashValue};
use std::time::Instant;

fn main() {
    const SIZE: usize = 256 << 20;
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4096) as u8).collect();
    let mb = |secs: f64| SIZE as f64 / 1e6 / secs;
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let mut h = FsVerityHasher::<Sha512HashValue, 12>::new();
        for block in data.chunks(4096) {
            h.add_block(block);
        }
        let want = h.digest();
        theirs.push(mb(t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let mut v = sealing::verity::Verity::new();
        for piece in data.chunks(1 << 20) {
            v.update(piece);
        }
        let got = v.digest();
        ours.push(mb(t.elapsed().as_secs_f64()));
        assert_eq!(got, want, "the same digest");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (theirs, ours) = (median(&mut theirs), median(&mut ours));
    println!(
        "fs-verity SHA-512, MB/s (median of 5): composefs-rs {theirs:.0}, sealing::verity {ours:.0} (x{:.3})",
        ours / theirs
    );
}
