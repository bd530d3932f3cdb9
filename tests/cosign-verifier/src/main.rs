//! `cosign-verifier IMAGE PUBLIC_KEY_PEM`: verify the cosign signatures of IMAGE (a
//! `REGISTRY/REPO:TAG` on a plain-HTTP registry) with the sigstore project's Rust client,
//! as `cosign verify --key` does. Exits 0 when a signature made with the key binds the
//! image's digest, 1 when none does (or there is none), 2 on usage or I/O errors. Used by
//! tests/signing.rs to check ostree-encap's signer with an implementation that is not ours.

use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, image, key] = args.as_slice() else {
        eprintln!("usage: cosign-verifier REGISTRY/REPO:TAG PUBLIC_KEY_PEM");
        return ExitCode::from(2);
    };
    match verify(image, key).await {
        Ok(n) => {
            println!("verified: {n} signature layer(s) found, one made with the key");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("not verified: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn verify(image: &str, key: &str) -> anyhow::Result<usize> {
    let reference: OciReference = image.parse()?;
    let pem = std::fs::read(key)?;
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .build()?;
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &reference)
        .await?;
    if layers.is_empty() {
        anyhow::bail!("{image} has no signature");
    }
    let constraints: VerificationConstraintVec = vec![Box::new(PublicKeyVerifier::new(
        &pem,
        &SigningScheme::default(),
    )?)];
    sigstore::cosign::verify_constraints(&layers, constraints.iter())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(layers.len())
}
