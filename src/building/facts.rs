//! The plain facts an image's metadata is made from: the commit's (checksum, time, subject,
//! metadata, bootable) and the host's architecture as OCI names it.

use encapsulate::{CommitInfo, MetaValue};
use oci::keys;
use oci::spec::CommitFacts;

/// Turn commit info into the plain facts the image metadata is made from.
pub fn commit_facts(info: &CommitInfo) -> CommitFacts {
    CommitFacts {
        checksum: info.checksum.clone(),
        timestamp: info.timestamp,
        subject: info.subject.clone(),
        metadata: info
            .metadata
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    MetaValue::String(s) => Some(s.clone()),
                    _ => None,
                };
                (k.clone(), s)
            })
            .collect(),
        bootable: matches!(
            info.metadata.get(keys::meta::BOOTABLE),
            Some(MetaValue::Bool(true))
        ),
    }
}

/// The host architecture, as the default image architecture.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}
