//! Compiled components on disk, keyed by content hash and engine compatibility, so a restart
//! or reload of an unchanged (possibly large) component skips Cranelift.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// Where compiled artifacts go: `$SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard`,
/// else `~/.cache/switchyard`; `None` (no caching) when none is set.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SWITCHYARD_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(xdg).join("switchyard"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("switchyard"))
}

/// Compiles `bytes`, or loads the artifact a previous compile of the same bytes left.
/// Cache problems are logged and never fail the load: compiling always works.
pub fn compile(engine: &Engine, bytes: &[u8], dir: Option<&Path>) -> wasmtime::Result<Component> {
    let Some(dir) = dir else {
        return Component::new(engine, bytes);
    };
    let file = dir.join(artifact_name(engine, bytes));
    if file.is_file() {
        match deserialize(engine, &file) {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "ignoring unusable compiled plugin artifact")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&component, dir, &file) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot cache compiled plugin");
    }
    Ok(component)
}

fn artifact_name(engine: &Engine, bytes: &[u8]) -> String {
    let mut compat = Xxh3::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    format!("{:032x}-{:016x}.cwasm", xxh3_128(bytes), compat.finish())
}

/// Loads an artifact this process (or an earlier one of the same build and engine settings)
/// wrote with [`Component::serialize`].
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, file: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires the bytes to come from `serialize` of a compatible engine.
    // The file sits in a directory we create owner-only (0700), is named by the hash of the
    // source and the engine's compatibility hash, and is written by `store` through an
    // atomic rename, so it is never partial; wasmtime re-checks its version header. Anyone
    // able to write there can already run code as this user.
    unsafe { Component::deserialize_file(engine, file) }
}

fn store(component: &Component, dir: &Path, file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.persist(file).map_err(|e| e.error)?;
    prune(dir);
    Ok(())
}

/// Artifacts kept; beyond this the least recently written go, so a long-lived host that sees
/// many plugin versions does not fill its disk.
const KEEP: usize = 64;

fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut artifacts: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if artifacts.len() <= KEEP {
        return;
    }
    artifacts.sort();
    for (_, path) in &artifacts[..artifacts.len() - KEEP] {
        let _ = std::fs::remove_file(path);
    }
}
