//! The compiled-plugin cache holds native code: an entry that is not exactly what the
//! gateway stored for that component is recompiled, never loaded, and a directory others
//! can write is not used at all.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use switchyard::{Gateway, Options};
use switchyard_tests::{Client, LISTEN_ANY, Upstream, service_toml};

/// Serves once with `plugin` (a file in `dir`) as the balancer over `ups`; returns who
/// answered each of 6 requests.
async fn served_with(dir: &Path, plugin: &str, config: &str, ups: &[&Upstream]) -> Vec<String> {
    let set: Vec<_> = ups.iter().map(|u| (u.addr, 1)).collect();
    let path = dir.join("switchyard.toml");
    let service = service_toml("web", "round_robin", &set).replace(
        "balancer = \"round_robin\"",
        "balancer = { plugin = \"p\" }",
    );
    std::fs::write(
        &path,
        format!(
            "{LISTEN_ANY}[[route]]\nservice = \"web\"\n{service}[plugin.p]\npath = \"{plugin}\"\nconfig = \"{config}\"\n"
        ),
    )
    .unwrap();
    let gw = Gateway::start(Options::file(&path)).unwrap();
    let mut client = Client::new(gw.listen_addrs()[0]);
    let mut served = Vec::new();
    for _ in 0..6 {
        served.push(client.get("/").await.unwrap().served_by().to_owned());
    }
    served
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|x| x == "cwasm"));
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_or_corrupted_entry_is_recompiled_never_loaded() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let dir = tempfile::tempdir().unwrap();
    switchyard_tests::plugins::install("fixture-balancer", dir.path(), "first.wasm");
    switchyard_tests::plugins::install("fixture-pick-last", dir.path(), "last.wasm");
    let cache = dir.path().join("plugin-cache");

    assert_eq!(
        served_with(dir.path(), "first.wasm", "first", &[&a, &b]).await,
        ["a"; 6]
    );
    let first_entry = entries(&cache);
    assert_eq!(first_entry.len(), 1, "one artifact cached");
    assert_eq!(
        served_with(dir.path(), "last.wasm", "", &[&a, &b]).await,
        ["b"; 6]
    );
    let last_entry: Vec<_> = entries(&cache)
        .into_iter()
        .filter(|e| *e != first_entry[0])
        .collect();
    assert_eq!(last_entry.len(), 1);

    // A valid entry of another component under this component's name: its digest binds it
    // to its own name, so it is refused and recompiled; the picks stay those of `first`.
    let foreign = std::fs::read(&last_entry[0]).unwrap();
    std::fs::write(&first_entry[0], &foreign).unwrap();
    assert_eq!(
        served_with(dir.path(), "first.wasm", "first", &[&a, &b]).await,
        ["a"; 6]
    );
    assert_ne!(
        std::fs::read(&first_entry[0]).unwrap(),
        foreign,
        "the entry was rewritten"
    );

    // Flipped bytes in the artifact: the same.
    let mut corrupted = std::fs::read(&first_entry[0]).unwrap();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0xff;
    std::fs::write(&first_entry[0], &corrupted).unwrap();
    assert_eq!(
        served_with(dir.path(), "first.wasm", "first", &[&a, &b]).await,
        ["a"; 6]
    );
    assert_ne!(std::fs::read(&first_entry[0]).unwrap(), corrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_directory_others_can_write_is_not_used() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let dir = tempfile::tempdir().unwrap();
    switchyard_tests::plugins::install("fixture-balancer", dir.path(), "first.wasm");
    let cache = dir.path().join("plugin-cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The plugin still loads, compiled without the cache.
    assert_eq!(
        served_with(dir.path(), "first.wasm", "first", &[&a, &b]).await,
        ["a"; 6]
    );
    assert!(
        entries(&cache).is_empty(),
        "nothing was written to a 0777 cache"
    );

    // A symlink in its place is not followed either.
    std::fs::remove_dir(&cache).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &cache).unwrap();
    assert_eq!(
        served_with(dir.path(), "first.wasm", "first", &[&a, &b]).await,
        ["a"; 6]
    );
    assert!(
        entries(&elsewhere).is_empty(),
        "the symlinked cache was used"
    );
}
