//! How fast `deflate_end` walks real deflate streams (what joining parallel gzip blocks
//! costs): the first 400 MB of an uncompressed layer (a `--compression none` build),
//! deflated in 96 KiB pieces by libdeflate level 6, then each piece unfinalized three times.
//!
//! Usage: cargo run --release -p compress --example walk_speed -- LAYER.tar
use compress::deflate_end::Walker;
use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: walk_speed LAYER.tar")?;
    let mut f = std::fs::File::open(&path)?;
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let (mut streams, mut input) = (Vec::new(), 0usize);
    let mut buf = vec![0u8; 96 * 1024];
    while input < 400 << 20 {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                r => n += r,
            }
        }
        if n == 0 {
            break;
        }
        input += n;
        let mut out = vec![0; c.deflate_compress_bound(n)];
        let m = c.deflate_compress(&buf[..n], &mut out)?;
        out.truncate(m);
        streams.push(out);
    }
    let total: usize = streams.iter().map(Vec::len).sum();
    println!("{} streams, {} MB compressed", streams.len(), total >> 20);
    let mut walker = Walker::default();
    for _ in 0..3 {
        let mut copies = streams.clone();
        let t = std::time::Instant::now();
        for s in &mut copies {
            walker.unfinalize(s)?;
        }
        let e = t.elapsed().as_secs_f64();
        println!(
            "walk: {e:.3} s, {:.0} MB/s compressed",
            total as f64 / 1e6 / e
        );
    }
    Ok(())
}
