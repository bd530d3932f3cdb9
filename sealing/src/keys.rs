//! The annotation keys of composefs-rs's sealing draft (`composefs-oci`'s `sealing_spec`
//! module, July 2026; no release reads them yet, so expect change). One algorithm:
//! fs-verity SHA-512 with 4 KiB blocks, as bootc uses; values are lowercase hex.

/// The algorithm suffix of every key.
pub const ALGORITHM: &str = "fsverity-sha512-12";
/// Manifest annotation: the EROFS (format V1) of the merged filesystem.
pub const MERGED: &str = "composefs.merged.erofs.v1.fsverity-sha512-12";
/// Manifest annotation: the same after the boot transform.
pub const MERGED_BOOTABLE: &str = "composefs.merged.bootable.erofs.v1.fsverity-sha512-12";
/// Config descriptor annotation: the config JSON bytes as stored.
pub const CONFIG: &str = "composefs.config.fsverity-sha512-12";
/// Referrer-form entry annotation: the image manifest's bytes as stored.
pub const MANIFEST: &str = "composefs.manifest.fsverity-sha512-12";
/// `artifactType` of the referrer form.
pub const ARTIFACT_TYPE: &str = "application/vnd.composefs.metadata.v1";
/// Media type of a signed entry of the referrer form (its blob: a PKCS#7 signature).
pub const SIGNATURE: &str = "application/vnd.composefs.signature.v1+pkcs7";
/// Media type of an unsigned entry (no signing key): the OCI empty descriptor, as OCI 1.1
/// asks of a layer without content; the entry's digest is in its annotation.
pub const SIGNATURE_NONE: &str = "application/vnd.oci.empty.v1+json";
/// Annotation on the referrers-index entry of our referrer form (and on its manifest), so a
/// build made again replaces it; its value is the algorithm.
pub const REFERRER_MARK: &str = "ostree-encap.composefs";
