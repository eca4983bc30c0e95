//! Turning file changes into reloads. We watch the config file's directory, not the file:
//! editors and deploy tools that write a temp file and rename it over the config replace the
//! inode, which a watch on the file itself would lose.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Writes usually arrive as several events (truncate, write, close); wait this long after the
/// first for the rest before reading the file.
pub const DEBOUNCE: Duration = Duration::from_millis(60);

/// Watches `files` and sends one `()` per burst of changes (coalesced: the channel holds one).
pub fn watch_files(
    files: &[PathBuf],
    wake: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let watched: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
    let names = watched.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| names.iter().any(|n| same_file_name(p, n)))
        {
            // Full means a reload is already pending, which will read the newest content.
            let _ = wake.try_send(());
        }
    })?;
    let mut dirs: Vec<&Path> = watched.iter().filter_map(|f| f.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn same_file_name(event_path: &Path, watched: &Path) -> bool {
    event_path == watched
        || (event_path.file_name() == watched.file_name()
            && event_path.parent() == watched.parent())
}
