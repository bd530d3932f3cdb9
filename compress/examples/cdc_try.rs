//! How big should gzip's content-defined blocks be? For two builds of consecutive commits made
//! with `--compression none` (OLD, NEW: OCI layouts holding one image each), cuts every layer
//! stream with a gear hash like `pgz`'s (same table) at several (min, mask bits, max) settings and prints,
//! for the layers of NEW that are not in OLD, how many bytes lie in blocks OLD also has (their
//! compressed bytes could be reused), and what the whole of NEW compresses to with
//! libdeflate level 6 per block. Figures for the corpus update are in `keys::GZIP_BLOCK_MIN`.
//!
//! Usage: cargo run --release -p compress --example cdc_try -- OLD NEW   (~25 s per setting)

use std::collections::HashSet;
use std::io::Read;

fn gear() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut s: u64 = 0x6f73_7472_6565_2d65;
    for v in t.iter_mut() {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *v = z ^ (z >> 31);
    }
    t
}

fn cuts(data: &[u8], min: usize, avg_bits: u32, max: usize, g: &[u64; 256]) -> Vec<usize> {
    let mask: u64 = ((1u64 << avg_bits) - 1) << (64 - avg_bits);
    let mut out = vec![];
    let mut start = 0;
    while start < data.len() {
        let end = (start + max).min(data.len());
        let mut h: u64 = 0;
        let mut cut = end;
        let mut i = start + min;
        if i < end {
            // warm window over the 64 bytes before min
            for &b in &data[(start + min).saturating_sub(64)..start + min] {
                h = (h << 1).wrapping_add(g[b as usize]);
            }
            while i < end {
                h = (h << 1).wrapping_add(g[data[i] as usize]);
                i += 1;
                if h & mask == 0 {
                    cut = i;
                    break;
                }
            }
        }
        out.push(cut);
        start = cut;
    }
    out
}

fn layers(dir: &str) -> Vec<Vec<u8>> {
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/index.json")).unwrap()).unwrap();
    let d = idx["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_string();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/blobs/sha256/{d}")).unwrap()).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap().split(':').nth(1).unwrap();
            let mut v = vec![];
            std::fs::File::open(format!("{dir}/blobs/sha256/{d}"))
                .unwrap()
                .read_to_end(&mut v)
                .unwrap();
            v
        })
        .collect()
}

fn main() {
    let a = layers(&std::env::args().nth(1).unwrap());
    let b = layers(&std::env::args().nth(2).unwrap());
    let g = gear();
    let ahash: HashSet<Vec<u8>> = a.iter().map(|l| sha(l)).collect();
    let changed: Vec<&Vec<u8>> = b.iter().filter(|l| !ahash.contains(&sha(l))).collect();
    let ch_bytes: usize = changed.iter().map(|l| l.len()).sum();
    println!("changed layers {} bytes {}", changed.len(), ch_bytes);
    let mut z = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
    for (min, bits, max) in [
        (16usize << 10, 15u32, 256usize << 10),
        (32 << 10, 15, 512 << 10),
        (16 << 10, 16, 512 << 10),
    ] {
        let t = std::time::Instant::now();
        let mut seen = HashSet::new();
        for l in &a {
            let c = cuts(l, min, bits, max, &g);
            let mut s = 0;
            for e in c {
                seen.insert(sha(&l[s..e]));
                s = e;
            }
        }
        let mut reuse = 0usize;
        let mut nb = 0;
        let mut comp_changed = 0usize;
        let mut comp_new = 0usize;
        for l in &changed {
            let c = cuts(l, min, bits, max, &g);
            let mut s = 0;
            for e in c {
                nb += 1;
                let blk = &l[s..e];
                let mut o = vec![0; z.deflate_compress_bound(blk.len())];
                let n = z.deflate_compress(blk, &mut o).unwrap();
                comp_changed += n;
                if seen.contains(&sha(blk)) {
                    reuse += blk.len();
                } else {
                    comp_new += blk.len();
                }
                s = e;
            }
        }
        let mut total_c = 0usize;
        for l in &b {
            let c = cuts(l, min, bits, max, &g);
            let mut s = 0;
            for e in c {
                let blk = &l[s..e];
                let mut o = vec![0; z.deflate_compress_bound(blk.len())];
                total_c += z.deflate_compress(blk, &mut o).unwrap();
                s = e;
            }
        }
        println!("min {}K avg 2^{} max {}K: blocks(changed) {} reusable {:.1}% to-compress {:.1} MB; changed comp {:.1} MB; all-B comp {:.1} MB  ({:.1}s)", min>>10, bits, max>>10, nb, 100.0*reuse as f64/ch_bytes as f64, comp_new as f64/1e6, comp_changed as f64/1e6, total_c as f64/1e6, t.elapsed().as_secs_f64());
    }
}
fn sha(d: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(d).to_vec()
}
