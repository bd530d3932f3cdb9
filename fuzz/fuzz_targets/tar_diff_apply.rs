//! The tar-diff applier over any bytes (a hostile delta): it must refuse or apply, never
//! panic, never allocate past its bounds; and `opened` must accept exactly when every OPEN
//! is well formed (it names what an apply would open).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io;
use tar_diff::apply::ReadSeek;

struct Tree;

impl tar_diff::ApplySource for Tree {
    fn open(&mut self, path: &str) -> io::Result<Box<dyn ReadSeek>> {
        match path {
            "usr/a" => Ok(Box::new(io::Cursor::new(b"hello, old world".to_vec()))),
            "usr/lib/b" => Ok(Box::new(io::Cursor::new(vec![7u8; 5000]))),
            _ => Err(io::Error::other("no such file")),
        }
    }
}

/// A sink that counts (and bounds) what the applier writes.
struct Count(u64);
impl io::Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        if self.0 > 1 << 30 {
            return Err(io::Error::other("too much output"));
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a valid magic and a zstd frame around the rest, so the op parser
    // is reached; the others exercise the framing itself.
    let delta = if data.first() == Some(&0) {
        let mut d = tar_diff::limits::MAGIC_V1.to_vec();
        d.extend(zstd::encode_all(&data[1..], 1).expect("zstd in memory"));
        d
    } else {
        data.to_vec()
    };
    let applied = tar_diff::apply(&delta[..], &mut Tree, Count(0));
    let opened = tar_diff::apply::opened(&delta[..]);
    if applied.is_ok() {
        let paths = opened.expect("a delta that applies lists what it opens");
        assert!(paths.iter().all(|p| p == "usr/a" || p == "usr/lib/b"), "{paths:?}");
    }
});
