//! The composefs entries a build keeps beside each layer (`ostree-encap-composefs/`): bytes
//! from disk that may be torn, damaged or another version's. Decoding must refuse or succeed,
//! never panic or allocate beyond the input; what decodes encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Raw bytes almost never carry a matching checksum; the second form seals them so the
    // decoder's body is reached.
    let _ = sealing::stored::decode(data);
    let mut sealed = sealing::stored::MAGIC.to_vec();
    sealed.extend_from_slice(data);
    let sum = <sha2::Sha256 as sha2::Digest>::digest(&sealed);
    sealed.extend_from_slice(&sum);
    if let Ok(layer) = sealing::stored::decode(&sealed) {
        assert_eq!(sealing::stored::encode(&layer), sealed, "round trip");
    }
});
