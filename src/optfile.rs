//! Files that options name (`--config`, `--contentmeta`, `--previous`'s layout), read whole
//! with a limit. Shared by building and reading: below every family.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// Read a file named by an option, refusing one larger than `limit` bytes before it is read
/// whole (`--config /dev/zero` must not take all memory). Errors name the option and path.
///
/// # Errors
/// A missing or unreadable file, or one larger than `limit`.
pub fn read_option_file(option: &str, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("{option} {}: cannot open it", path.display()))?;
    let mut data = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("{option} {}: cannot read it", path.display()))?;
    if data.len() as u64 > limit {
        bail!(
            "{option} {}: the file is larger than {} bytes, the limit for this option",
            path.display(),
            limit
        );
    }
    Ok(data)
}
