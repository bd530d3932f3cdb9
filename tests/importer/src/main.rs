//! Test-only importer: pulls an image made by ostree-encap into an ostree repo with the real
//! ostree-ext 0.15.3 client, the way rpm-ostree and bootc do, and prints the imported commit.
//!
//! Usage: `encap-importer REPO IMGREF` where IMGREF is an ostree image reference such as
//! `ostree-unverified-image:oci:/path/to/dir:tag` or `ostree-remote-image:REMOTE:oci:/dir:tag`
//! (the latter verifies the commit signature against the remote's keys).
//! Prints `{"commit":"<checksum>","manifest_digest":"sha256:..."}` on stdout.
//!
//! `encap-importer --encapsulate REPO REV oci:DIR` runs ostree-ext's own encapsulation
//! instead (single layer, its defaults): the peer that `bench/compare` measures us against.
//!
//! `encap-importer --cli ARGS...` runs ostree-ext's own command line (`ostree-ext-cli ARGS...`),
//! e.g. `container encapsulate --repo R --contentmeta F REV oci:DIR` for chunked images made
//! by ostree-ext itself, which the tests feed to our `import` and `verify`.

use anyhow::{Context, Result};
use ostree_ext::container::store::ImageImporter;
use ostree_ext::container::OstreeImageReference;
use ostree_ext::containers_image_proxy::ImageProxyConfig;
use ostree_ext::ostree;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--cli") {
        let cli = std::iter::once("ostree-ext-cli".to_string()).chain(args[1..].iter().cloned());
        return ostree_ext::cli::run_from_iter(cli).await;
    }
    if let [flag, repo_path, rev, dest] = args.as_slice() {
        if flag == "--encapsulate" {
            let repo = ostree::Repo::new_for_path(repo_path);
            repo.open(ostree::gio::Cancellable::NONE)
                .with_context(|| format!("opening repo {repo_path}"))?;
            let dest: ostree_ext::container::ImageReference = dest.as_str().try_into()?;
            let config = ostree_ext::container::Config::default();
            let digest =
                ostree_ext::container::encapsulate(&repo, rev, &config, None, &dest).await?;
            println!("{{\"manifest_digest\":\"{digest}\"}}");
            return Ok(());
        }
    }
    // `--layered REPO IMGREF`: a derived image (the base's ostree layers, then plain layers),
    // imported as bootc and rpm-ostree do: the base commit, and the merge commit of all layers.
    if let [flag, repo_path, imgref] = args.as_slice() {
        if flag == "--layered" {
            let mut importer = open_importer(repo_path, imgref).await?;
            let state = match importer.prepare().await? {
                ostree_ext::container::store::PrepareResult::AlreadyPresent(s) => s,
                ostree_ext::container::store::PrepareResult::Ready(p) => importer.import(p).await?,
            };
            println!(
                "{{\"base_commit\":\"{}\",\"merge_commit\":\"{}\",\"manifest_digest\":\"{}\"}}",
                state.base_commit, state.merge_commit, state.manifest_digest
            );
            return Ok(());
        }
    }
    let [repo_path, imgref] = args.as_slice() else {
        anyhow::bail!("usage: encap-importer REPO IMGREF | --layered REPO IMGREF");
    };
    let importer = open_importer(repo_path, imgref).await?;
    let import = importer.unencapsulate().await?;
    println!(
        "{{\"commit\":\"{}\",\"manifest_digest\":\"{}\"}}",
        import.ostree_commit, import.image_digest
    );
    Ok(())
}

/// An ostree-ext importer of `imgref` into the repository at `repo_path`.
async fn open_importer(repo_path: &str, imgref: &str) -> Result<ImageImporter> {
    let repo = ostree::Repo::new_for_path(repo_path);
    repo.open(ostree::gio::Cancellable::NONE)
        .with_context(|| format!("opening repo {repo_path}"))?;
    let imgref: OstreeImageReference = imgref.try_into()?;
    // Run skopeo as ourselves: the tests own the files they hand it, and ostree-ext's default
    // (dropping to `nobody` when root) cannot read private temp dirs.
    let config = ImageProxyConfig {
        skopeo_cmd: Some(std::process::Command::new("skopeo")),
        ..Default::default()
    };
    ImageImporter::new(&repo, &imgref, config).await
}
