//! Copying a local image to any skopeo destination with its digests unchanged (`push`,
//! `--push`). The destination is parsed and the options checked before the long work.

use crate::image_ref::ImageRef;
use anyhow::Result;
use oci::skopeo::PushOptions;

/// A checked push: where to, and how.
#[derive(Debug, Clone)]
pub struct Push {
    /// The destination, transport included.
    pub dest: ImageRef,
    /// Credentials, TLS and digest file options.
    pub options: PushOptions,
}

impl Push {
    /// Parse `dest` (it must name its transport) and check the options' files exist.
    ///
    /// # Errors
    /// A destination without a transport, a missing `--authfile` or `--cert-dir`.
    pub fn new(dest: &str, options: PushOptions) -> Result<Push> {
        let dest = ImageRef::parse_destination("destination", dest)?;
        oci::skopeo::check_options(&options)?;
        Ok(Push { dest, options })
    }

    /// Copy `src` (a local layout or archive) there; returns the pushed manifest digest.
    ///
    /// # Errors
    /// skopeo's own message, naming the destination.
    pub fn run(&self, src: &ImageRef) -> Result<oci::types::Digest> {
        Ok(oci::skopeo::copy(
            &src.to_string(),
            &self.dest.to_string(),
            &self.options,
        )?)
    }
}
