//! The Wasm plugins the tests load, built from source once per test run (every test binary
//! asks; cargo's own locking and freshness checks make all but the first a no-op).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Crates built to `wasm32-wasip2`: the examples and the test fixtures.
const CRATES: [&str; 6] = [
    "canary-router",
    "least-loaded",
    "user-affinity",
    "retry-failover",
    "fixture-balancer",
    "fixture-pick-last",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("wasm-plugins")
}

fn build_all() -> PathBuf {
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for name in CRATES {
        cmd.args(["-p", name]);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo to build the Wasm plugins");
    assert!(
        status.success(),
        "building the Wasm plugins failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    target.join("wasm32-wasip2").join("release")
}

/// Path of the built component of crate `name` (e.g. "least-loaded").
pub fn wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    assert!(CRATES.contains(&name), "{name} is not a plugin crate");
    BUILT
        .get_or_init(build_all)
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// Copies the component of `name` to `dir/file`, returning the destination.
pub fn install(name: &str, dir: &Path, file: &str) -> PathBuf {
    let dest = dir.join(file);
    std::fs::copy(wasm(name), &dest).unwrap();
    dest
}
