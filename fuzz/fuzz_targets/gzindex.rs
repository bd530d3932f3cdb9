//! Checkpoints into any writer's gzip blob (`compress::gzindex`, what `serve` reads other
//! writers' layers through): hostile bytes give an error, never a panic or unbounded memory;
//! when a stream indexes, it agrees with flate2's reading of it, and every span read from its
//! checkpoint is that part of the output.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let mut points = Vec::new();
    let Ok(total) = compress::gzindex::checkpoints(data, 1024, |cp| {
        points.push(cp);
        Ok(())
    }) else {
        return;
    };
    let mut whole = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut whole)
        .expect("a stream that indexes inflates with flate2 too");
    assert_eq!(whole.len() as u64, total);
    for (k, p) in points.iter().enumerate() {
        let end = points.get(k + 1).map_or(total, |n| n.out);
        let mut out = Vec::new();
        compress::gzindex::read_from(data, p, (end - p.out) as usize, &mut out)
            .expect("a span reads back");
        assert_eq!(out, &whole[p.out as usize..end as usize]);
    }
});
