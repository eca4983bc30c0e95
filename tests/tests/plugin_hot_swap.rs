//! Issue 3, acceptance 2: a balancer plugin's file is replaced live, under load, without a
//! failed request; broken replacements are rejected with a clear message while the old
//! version keeps serving.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_tests::plugins::wasm;
use switchyard_tests::{Client, TestGateway, Upstream, eventually};

fn gateway(ups: &[Upstream; 3]) -> TestGateway {
    let list: Vec<String> = ups
        .iter()
        .map(|u| format!("{{ addr = \"{}\" }}", u.addr))
        .collect();
    TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\nbalancer = {{ plugin = \"lb\" }}\n\
             upstreams = [{}]\n[plugin.lb]\npath = \"lb.wasm\"\nconfig = \"first\"\n",
            list.join(", ")
        ),
        &[("fixture-balancer", "lb.wasm")],
    )
}

/// Replaces `dest` with `bytes`: atomically by rename, or in place (truncate and write).
fn replace(dest: &Path, bytes: &[u8], by_rename: bool) {
    if by_rename {
        let tmp = dest.with_extension("wasm.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, dest).unwrap();
    } else {
        std::fs::write(dest, bytes).unwrap();
    }
}

async fn served_by(gw: &TestGateway) -> String {
    Client::new(gw.addr())
        .get("/")
        .await
        .unwrap()
        .served_by()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_the_balancer_file_20_times_under_load_fails_no_request() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = gateway(&ups);
    assert_eq!(served_by(&gw).await, "a");
    let (first, last) = (
        std::fs::read(wasm("fixture-balancer")).unwrap(),
        std::fs::read(wasm("fixture-pick-last")).unwrap(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (stop, sent, failed, addr) = (stop.clone(), sent.clone(), failed.clone(), gw.addr());
        load.push(tokio::spawn(async move {
            let mut client = Client::new(addr);
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                match client.get("/").await {
                    Ok(r) if r.status == 200 => {}
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let file = gw.dir().join("lb.wasm");
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let (bytes, expect) = if i % 2 == 0 {
            (&last, "c")
        } else {
            (&first, "a")
        };
        replace(&file, bytes, i % 4 < 2);
        let took = eventually(Duration::from_secs(1), || async {
            served_by(&gw).await == expect
        })
        .await
        .unwrap_or_else(|| panic!("swap {i} not visible within 1 s"));
        slowest = slowest.max(took);
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 100);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during swaps"
    );
    eprintln!("slowest swap became visible after {slowest:?}");
    let status = gw.status().await;
    assert_eq!(status["plugins"][0]["metrics"]["fallbacks"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_replacements_are_rejected_and_the_old_plugin_keeps_serving() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = gateway(&ups);
    let file = gw.dir().join("lb.wasm");
    let router = std::fs::read(wasm("canary-router")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "corrupt",
            b"\0asm\x0d\0\x01\0garbage that is no component".to_vec(),
            "does not compile",
        ),
        (
            "junk",
            b"#!/bin/sh\necho not wasm\n".to_vec(),
            "is not a WebAssembly component",
        ),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "is a core Wasm module, not a component",
        ),
        (
            "wrong world",
            router,
            "does not implement the `balancer-plugin` world",
        ),
    ];
    for (failures, (what, bytes, message)) in (1u64..).zip(&cases) {
        replace(&file, bytes, true);
        let rejected = eventually(Duration::from_secs(2), || async {
            gw.status().await["reloads"]["failed"].as_u64() == Some(failures)
        })
        .await;
        assert!(rejected.is_some(), "{what}: not rejected");
        let status = gw.status().await;
        let detail = status["reloads"]["last"]["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("lb.wasm"), "{what}: {detail}");
        assert!(detail.contains(message), "{what}: {detail}");
        assert!(detail.contains("plugin `lb`"), "{what}: {detail}");
        // The old version keeps serving.
        for _ in 0..5 {
            assert_eq!(served_by(&gw).await, "a", "{what}");
        }
    }
    replace(
        &file,
        &std::fs::read(wasm("fixture-pick-last")).unwrap(),
        true,
    );
    let fixed = eventually(Duration::from_secs(1), || async {
        served_by(&gw).await == "c"
    })
    .await;
    assert!(fixed.is_some(), "a good file after bad ones is picked up");
}

/// Issue 14, acceptance 0: `cp new.wasm plugin.wasm` rewrites the file in place, and the
/// watcher sees it half written. The half-written file must not fail a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_copied_over_in_place_slowly_fails_no_reload() {
    use std::io::Write;
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = gateway(&ups);
    assert_eq!(served_by(&gw).await, "a");
    let (first, last) = (
        std::fs::read(wasm("fixture-balancer")).unwrap(),
        std::fs::read(wasm("fixture-pick-last")).unwrap(),
    );
    let file = gw.dir().join("lb.wasm");
    for i in 0..4 {
        let (bytes, expect) = if i % 2 == 0 {
            (&last, "c")
        } else {
            (&first, "a")
        };
        // Truncate, write half, pause longer than the watcher's debounce, write the rest.
        let mut out = std::fs::File::create(&file).unwrap();
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        out.write_all(head).unwrap();
        out.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        out.write_all(tail).unwrap();
        drop(out);
        let seen = eventually(Duration::from_secs(3), || async {
            served_by(&gw).await == expect
        })
        .await;
        assert!(seen.is_some(), "copy {i} not picked up");
    }
    let status = gw.status().await;
    assert_eq!(status["reloads"]["failed"], 0, "{}", status["reloads"]);
}
