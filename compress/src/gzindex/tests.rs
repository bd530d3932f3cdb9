use super::*;
use std::io::Write;

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).expect("write");
    e.finish().expect("finish")
}

/// Text, noise (stored blocks at any level), long runs (overlapping copies) and
/// Zipf-like bytes (codes longer than the lookup table).
fn mixed(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 4 {
            0 => out.extend_from_slice(
                format!("the {x} brown fox jumps over the lazy dog; ").as_bytes(),
            ),
            1 => {
                for _ in 0..3000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    out.push(x as u8);
                }
            }
            2 => out.extend(std::iter::repeat_n(b'z', (x % 300) as usize)),
            _ => out.extend((0..2000).map(|i| {
                let r = (x.rotate_left(i % 64) % 1000) as u32;
                (r * r / 4000) as u8
            })),
        }
    }
    out.truncate(len);
    out
}

fn all_points(gz: &[u8], span: u64) -> (Vec<Checkpoint>, u64) {
    let mut points = Vec::new();
    let total = checkpoints(gz, span, |c| {
        points.push(c);
        Ok(())
    })
    .expect("indexes");
    (points, total)
}

/// Every span between checkpoints, and reads that start at a checkpoint and cross the next,
/// give the original bytes.
fn check_spans(data: &[u8], gz: &[u8], span: u64) -> usize {
    let (points, total) = all_points(gz, span);
    assert_eq!(total, data.len() as u64);
    assert_eq!(points[0].out, 0);
    for (k, p) in points.iter().enumerate() {
        assert!(p.window.len() <= WINDOW);
        let end = points.get(k + 1).map_or(total, |n| n.out);
        assert!(end > p.out || (end == p.out && k + 1 == points.len()));
        let mut out = Vec::new();
        read_from(gz, p, (end - p.out) as usize, &mut out).expect("reads the span");
        assert_eq!(out, &data[p.out as usize..end as usize], "span {k}");
        let longer = (data.len() - p.out as usize).min((end - p.out) as usize + 70_000);
        out.clear();
        read_from(gz, p, longer, &mut out).expect("reads on");
        assert_eq!(out, &data[p.out as usize..p.out as usize + longer]);
    }
    points.len()
}

#[test]
fn every_checkpoint_reads_back_the_original_at_any_level() {
    let data = mixed(3 << 20);
    for level in [0, 1, 6, 9] {
        let n = check_spans(&data, &gzip(&data, level), 256 << 10);
        // zlib-rs's level 1 writes few, big blocks: fewer places to start.
        let least = if level == 1 { 2 } else { 8 };
        assert!(
            n >= least,
            "level {level}: {n} checkpoints for 3 MiB at 256 KiB"
        );
    }
}

#[test]
fn libdeflate_gzip_and_empty_streams() {
    let data = mixed(1 << 20);
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut gz = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(&data, &mut gz).expect("compress");
    gz.truncate(n);
    check_spans(&data, &gz, 64 << 10);
    check_spans(&[], &gzip(&[], 6), 64 << 10);
}

#[test]
fn several_members_and_header_fields() {
    let a = mixed(300_000);
    let b = b"second member".repeat(10_000);
    let mut named = Vec::new();
    let mut e = flate2::GzBuilder::new()
        .filename("layer.tar")
        .comment("made by another tool")
        .extra(vec![1, 2, 3, 4, 5])
        .write(&mut named, flate2::Compression::default());
    e.write_all(&b).expect("write");
    e.finish().expect("finish");
    let mut gz = gzip(&a, 6);
    gz.extend_from_slice(&named);
    gz.extend_from_slice(&gzip(&a, 9));
    let mut data = a.clone();
    data.extend_from_slice(&b);
    data.extend_from_slice(&a);
    let n = check_spans(&data, &gz, 50_000);
    assert!(n > 5, "{n} checkpoints");
}

#[test]
fn damaged_streams_are_errors() {
    let data = mixed(500_000);
    let gz = gzip(&data, 6);
    let index = |g: &[u8]| checkpoints(g, 64 << 10, |_| Ok(()));
    assert!(index(&gz).is_ok());
    assert!(index(&gz[..gz.len() / 2]).is_err(), "truncated in a block");
    assert!(index(&gz[..gz.len() - 4]).is_err(), "truncated trailer");
    assert!(index(&[]).is_err(), "empty file");
    let mut trailing = gz.clone();
    trailing.extend_from_slice(b"junk");
    assert!(index(&trailing).is_err(), "bytes after the last member");
    let mut crc = gz.clone();
    let at = crc.len() - 8;
    crc[at] ^= 1;
    let e = index(&crc).expect_err("wrong CRC-32");
    assert!(e.to_string().contains("CRC-32"), "{e}");
    // A changed byte in the middle must not pass: it either breaks the code or the CRC.
    for at in [gz.len() / 3, gz.len() / 2, 2 * gz.len() / 3] {
        let mut bad = gz.clone();
        bad[at] ^= 0x10;
        assert!(index(&bad).is_err(), "byte {at} changed");
    }
    let zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&data).expect("write");
        e.finish().expect("finish")
    };
    let e = index(&zlib).expect_err("zlib is not gzip");
    assert!(e.to_string().contains("not a gzip member"), "{e}");
}

#[test]
fn reading_past_the_end_is_an_error() {
    let data = mixed(100_000);
    let gz = gzip(&data, 6);
    let (points, _) = all_points(&gz, 1 << 20);
    let mut out = Vec::new();
    let e = read_from(&gz[..], &points[0], data.len() + 1, &mut out).expect_err("too far");
    assert!(e.to_string().contains("early"), "{e}");
}
