//! Turning file changes into reloads: the config file and every plugin file it names.
//!
//! We watch the files' directories, not the files: editors and deploy tools that write a temp
//! file and rename it over replace the inode, which a watch on the file itself would lose.
//! The set of files changes with the config, so it is shared with the watcher's callback and
//! replaced after every reload that read a valid config.
//!
//! Kubernetes mounts a ConfigMap as symlinks (`switchyard.toml -> ..data/switchyard.toml`,
//! `..data -> ..2026_12_02_...`) and updates it by swapping `..data`: no event names the
//! file. So an event on any other name in a watched directory re-checks each file's
//! fingerprint (its resolved path, inode, size and mtime: a `stat`, never a read) and
//! reloads when one changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

/// Writes usually arrive as several events (truncate, write, close); wait this long after the
/// first for the rest before reading the file.
pub const DEBOUNCE: Duration = Duration::from_millis(60);

pub struct FileWatch {
    watcher: Mutex<Watched>,
    files: Arc<RwLock<Vec<WatchedFile>>>,
}

struct WatchedFile {
    path: PathBuf,
    /// As last seen: a change behind a symlink shows here.
    seen: Option<Fingerprint>,
}

#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    target: PathBuf,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Fingerprint {
    fn of(path: &Path) -> Option<Fingerprint> {
        use std::os::unix::fs::MetadataExt;
        let target = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&target).ok()?;
        Some(Fingerprint {
            target,
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

struct Watched {
    watcher: notify::RecommendedWatcher,
    dirs: Vec<PathBuf>,
}

impl FileWatch {
    /// Watches `files` and sends one `()` per burst of changes (coalesced: the channel holds
    /// one).
    pub fn new(files: &[PathBuf], wake: mpsc::Sender<()>) -> notify::Result<FileWatch> {
        let shared: Arc<RwLock<Vec<WatchedFile>>> = Arc::default();
        let watched = Arc::clone(&shared);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let named = {
                let files = watched.read();
                event
                    .paths
                    .iter()
                    .any(|p| files.iter().any(|f| same_file_name(p, &f.path)))
            };
            // Every file's fingerprint is refreshed either way, so a change reported by
            // name is not reported again by fingerprint.
            let changed = refresh_fingerprints(&mut watched.write());
            if named || changed {
                // Full means a reload is already pending, which will read the newest content.
                let _ = wake.try_send(());
            }
        })?;
        let this = FileWatch {
            watcher: Mutex::new(Watched {
                watcher,
                dirs: Vec::new(),
            }),
            files: shared,
        };
        this.set_files(files)?;
        Ok(this)
    }

    /// Watches exactly `files` from now on.
    pub fn set_files(&self, files: &[PathBuf]) -> notify::Result<()> {
        let files: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
        let mut dirs: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut guard = self.watcher.lock();
        let watched = &mut *guard;
        for dir in dirs.iter().filter(|d| !watched.dirs.contains(d)) {
            watched.watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let gone: Vec<PathBuf> = watched
            .dirs
            .iter()
            .filter(|d| !dirs.contains(d))
            .cloned()
            .collect();
        for dir in gone {
            // A directory that vanished is already unwatched; nothing else can fail here.
            let _ = watched.watcher.unwatch(&dir);
        }
        watched.dirs = dirs;
        *self.files.write() = files
            .into_iter()
            .map(|path| WatchedFile {
                seen: Fingerprint::of(&path),
                path,
            })
            .collect();
        Ok(())
    }
}

/// Re-reads every file's fingerprint; true when one differs from what was seen before.
fn refresh_fingerprints(files: &mut [WatchedFile]) -> bool {
    let mut changed = false;
    for file in files {
        let now = Fingerprint::of(&file.path);
        if now != file.seen {
            changed = true;
            file.seen = now;
        }
    }
    changed
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn same_file_name(event_path: &Path, watched: &Path) -> bool {
    event_path == watched
        || (event_path.file_name() == watched.file_name()
            && event_path.parent() == watched.parent())
}
