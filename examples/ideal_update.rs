//! Benchmark helper: the "ideal" download of an update, i.e. the gzip-compressed size of only
//! the content objects the new commit has and the old one lacks, written as a layer would
//! carry them. `bench/update-size` compares real downloads against this.
//!
//! Usage: `ideal_update REPO OLD_REV NEW_REV` → prints `objects bytes_uncompressed bytes_gzip`.

use anyhow::{Context, Result};
use layering::{LayerKind, LayerPlan};
use std::io::Write;

struct Count(u64);
impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, old, new] = args.as_slice() else {
        anyhow::bail!("usage: ideal_update REPO OLD_REV NEW_REV");
    };
    let old_src = encapsulate::open(repo.as_ref(), old)?;
    let new_src = encapsulate::open(repo.as_ref(), new)?;
    let old_inv = old_src.inventory()?;
    let new_inv = new_src.inventory()?;
    let changed: Vec<layering::Checksum> = new_inv
        .objects()
        .iter()
        .filter(|c| !old_inv.contains(c))
        .copied()
        .collect();
    let layer = LayerPlan {
        kind: LayerKind::Chunk,
        objects: changed.clone(),
        components: vec!["changed".into()],
    };
    // The same compressor and level as real layers, so the ratio compares like with like.
    let gz = compress::pgz::ParallelGz::new(Count(0), compress::tuning::GZIP_LEVEL, 2, None)?;
    let (gz, stats) = encapsulate::write_layer(
        &new_src,
        &new_inv,
        &encapsulate::OrderedLayer::new(&new_inv, &layer),
        encapsulate::StreamFormat::Ostree,
        gz,
        1,
        &mut |_| {},
    )
    .context("writing")?;
    let count = gz.finish()?;
    println!("{} {} {}", changed.len(), stats.content_bytes, count.sink.0);
    Ok(())
}
