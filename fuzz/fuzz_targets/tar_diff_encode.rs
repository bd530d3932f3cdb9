//! The tar-diff encoder over any bytes as the new layer, against an old tree made of the
//! first half of them read as a layer: applying what it writes must give the input back,
//! byte for byte, whatever the input is (a tar, a broken tar, not a tar).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::io::{self, Read as _};
use tar_diff::apply::ReadSeek;
use tar_diff::{Source, SourceFile, SourceIndex};

struct Old {
    idx: SourceIndex,
    files: HashMap<String, Vec<u8>>,
}

impl Source for Old {
    fn same(&self, sha256: &[u8; 32], size: u64) -> Option<SourceFile> {
        self.idx.same(sha256, size)
    }
    fn similar(&self, path: &str, size: u64) -> Option<SourceFile> {
        self.idx.similar(path, size)
    }
    fn content(&self, f: &SourceFile) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.get(&f.path).cloned())
    }
}

impl tar_diff::ApplySource for &Old {
    fn open(&mut self, path: &str) -> io::Result<Box<dyn ReadSeek>> {
        self.idx.get(path).ok_or_else(|| io::Error::other("no such file"))?;
        let c = self.files.get(path).ok_or_else(|| io::Error::other("not kept"))?;
        Ok(Box::new(io::Cursor::new(c.clone())))
    }
}

fuzz_target!(|data: &[u8]| {
    let old_layer = &data[..data.len() / 2];
    let mut old = Old { idx: SourceIndex::new(), files: HashMap::new() };
    let mut files = HashMap::new();
    if old
        .idx
        .add_layer(old_layer, &|_, _| true, &mut |f, c| {
            let mut v = Vec::new();
            c.read_to_end(&mut v)?;
            files.insert(f.path.clone(), v);
            Ok(())
        })
        .is_err()
    {
        return;
    }
    old.idx.finish();
    old.files = files;
    let mut delta = Vec::new();
    let opts = tar_diff::Options { level: 1, ..Default::default() };
    let stats = tar_diff::encode(data, &old, &mut delta, &opts).expect("encoding from memory");
    assert_eq!(stats.tar_bytes, data.len() as u64);
    let mut back = Vec::new();
    tar_diff::apply(&delta[..], &mut &old, &mut back).expect("applying what was encoded");
    assert_eq!(back, data);
});
