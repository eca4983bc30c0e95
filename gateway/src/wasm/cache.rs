//! Compiled components on disk, so a restart or reload of an unchanged (possibly large)
//! component skips Cranelift.
//!
//! An artifact is native code that is mapped and run as is, so nothing is loaded that
//! someone else could have written or that is not exactly what this process stored:
//! - the directory must be ours and writable by nobody else (else: no cache, a warning);
//! - entries are opened without following symlinks, and must be regular files we own that
//!   nobody else may write;
//! - an entry is named by the SHA-256 of the component and the engine's compatibility
//!   hash, and begins with the SHA-256 of that name and the artifact after it, checked
//!   before wasmtime sees a byte: a corrupted entry, or a valid entry of another component
//!   copied under this name, is recompiled and replaced, never loaded.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::Xxh3;

use crate::config::PluginCache;

/// Marks an entry of this layout: magic, then the SHA-256 of the entry's name and the
/// artifact, then the artifact.
const MAGIC: &[u8; 8] = b"SYCACHE1";
const HEADER: usize = MAGIC.len() + 32;
/// Larger entries are not read (a compiled 20 MiB JavaScript component is ~60 MiB).
const MAX_ENTRY: u64 = 1 << 30;

/// Where compiled artifacts go, or `None` for no caching: the config's `plugin_cache`, by
/// default `$SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard`, else
/// `~/.cache/switchyard`.
pub fn dir_for(choice: &PluginCache) -> Option<PathBuf> {
    match choice {
        PluginCache::Off => None,
        PluginCache::Dir(dir) => Some(dir.clone()),
        PluginCache::Default => default_dir(),
    }
}

fn default_dir() -> Option<PathBuf> {
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
    if let Err(why) = usable_dir(dir) {
        tracing::warn!(dir = %dir.display(), "not using the plugin cache: {why}");
        return Component::new(engine, bytes);
    }
    let name = artifact_name(engine, bytes);
    let file = dir.join(&name);
    match load(engine, &file, &name) {
        Ok(Some(component)) => return Ok(component),
        Ok(None) => {}
        Err(why) => {
            tracing::warn!(file = %file.display(), "recompiling a plugin whose cached artifact is unusable: {why}");
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&component, dir, &file, &name) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot cache compiled plugin");
    }
    Ok(component)
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

/// Nobody else may have written what is in here: ours, a directory, not a symlink, not
/// writable by group or others. Created owner-only when missing.
fn usable_dir(dir: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create it: {e}"))?;
            std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    owned_by_us_only(&meta, "directory")?;
    if !meta.is_dir() {
        return Err("it is not a directory (a symlink is not followed)".to_owned());
    }
    Ok(())
}

fn owned_by_us_only(meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    if meta.uid() != effective_uid() {
        return Err(format!(
            "the {what} belongs to uid {}, not to this process's user",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "the {what} is writable by group or others (mode {:o}); make it 0700",
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

fn artifact_name(engine: &Engine, bytes: &[u8]) -> String {
    let mut compat = Xxh3::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let source: [u8; 32] = Sha256::digest(bytes).into();
    format!("{}-{:016x}.cwasm", hex(&source), compat.finish())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The cached component, `Ok(None)` when there is no entry, `Err` when there is one that
/// must not be loaded.
fn load(engine: &Engine, file: &Path, name: &str) -> Result<Option<Component>, String> {
    let mut opened = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(file)
    {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let meta = opened.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    owned_by_us_only(&meta, "file")?;
    if meta.len() > MAX_ENTRY || meta.len() < HEADER as u64 {
        return Err(format!("its size ({} bytes) is implausible", meta.len()));
    }
    let entry = read_all(&mut opened, meta.len())?;
    let (header, artifact) = entry.split_at(HEADER);
    if &header[..MAGIC.len()] != MAGIC {
        return Err("it is not a Switchyard cache entry".to_owned());
    }
    if header[MAGIC.len()..] != entry_digest(name, artifact) {
        return Err("its digest does not match its content".to_owned());
    }
    deserialize(engine, artifact)
        .map(Some)
        .map_err(|e| format!("{e:#}"))
}

fn read_all(file: &mut File, len: u64) -> Result<Vec<u8>, String> {
    let mut entry = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_ENTRY)
        .read_to_end(&mut entry)
        .map_err(|e| e.to_string())?;
    Ok(entry)
}

/// Loads an artifact this process (or an earlier one of the same build and engine
/// settings) stored.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires the bytes to come from `serialize` of a compatible engine.
    // They are exactly the bytes `store` wrote under this name (the SHA-256 of name and
    // bytes, stored ahead of them, was just checked), read from a regular file of ours that nobody else can write, in a
    // directory of ours that nobody else can write, reached without following a symlink;
    // the name pins the source's SHA-256 and the engine's compatibility hash, and wasmtime
    // re-checks its own version header.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Binds the artifact to the name it is stored under.
fn entry_digest(name: &str, artifact: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(name.as_bytes());
    digest.update(artifact);
    digest.finalize().into()
}

fn store(component: &Component, dir: &Path, file: &Path, name: &str) -> std::io::Result<()> {
    let artifact = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let digest = entry_digest(name, &artifact);
    // Created 0600 by tempfile, renamed over any previous entry atomically: never partial.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, MAGIC)?;
    std::io::Write::write_all(&mut tmp, &digest)?;
    std::io::Write::write_all(&mut tmp, &artifact)?;
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
