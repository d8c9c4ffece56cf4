//! What `cargo package` puts in the published `breakerbox`: every file its
//! build and documentation read, and nothing a user downloads for nothing.

use std::process::Command;

fn packaged_files() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "-p", "breakerbox"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The screenshot is for the repository's README; the crate's docs never
/// show it, so it would only add to every download.
#[test]
fn the_published_crate_ships_no_images() {
    let images: Vec<_> = packaged_files()
        .into_iter()
        .filter(|file| file.ends_with(".png"))
        .collect();
    assert!(images.is_empty(), "{images:?}");
}

#[test]
fn the_published_crate_ships_what_its_docs_and_dashboard_include() {
    let files = packaged_files();
    for needed in [
        "README.md",
        "src/dashboard/page.html",
        "docs/semantics.md",
        "docs/configuration.md",
        "docs/runtime_api.md",
        "docs/integrations.md",
        "docs/fleet.md",
        "docs/testing.md",
        "docs/guarantees.md",
        "docs/performance.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(files.iter().any(|file| file == needed), "{needed} missing");
    }
}
