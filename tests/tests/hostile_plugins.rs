//! Issue 3, acceptance 3: plugins that loop, hoard memory, trap or answer nonsense are cut
//! off and the request is served by the configured fallback, without harm to the gateway.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use switchyard::{Gateway, Options};
use switchyard_tests::{Client, TestGateway, Upstream, open_fds, rss_kib};

/// A service over `ups` whose balancer is the fixture plugin in `mode`, plus `plugin_extra`
/// lines in its `[plugin.fixture]` table.
fn fixture_gateway(mode: &str, ups: &[&Upstream], plugin_extra: &str) -> TestGateway {
    let list: Vec<String> = ups
        .iter()
        .map(|u| format!("{{ addr = \"{}\" }}", u.addr))
        .collect();
    TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\nbalancer = {{ plugin = \"fixture\" }}\n\
             upstreams = [{}]\n[plugin.fixture]\npath = \"fixture.wasm\"\nconfig = \"{mode}\"\n{plugin_extra}",
            list.join(", ")
        ),
        &[("fixture-balancer", "fixture.wasm")],
    )
}

async fn metrics(gw: &TestGateway) -> serde_json::Value {
    gw.status().await["plugins"][0]["metrics"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_cut_at_its_deadline_and_the_fallback_serves() {
    let ups = [Upstream::start("a"), Upstream::start("b")];
    // Default deadline (10 ms), fail_open to round robin.
    let gw = fixture_gateway("loop", &[&ups[0], &ups[1]], "");
    let mut client = Client::new(gw.addr());
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let r = client.get("/").await.unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(r.status, 200);
    }
    // The fallback (round robin) served: both upstreams got half.
    assert_eq!((ups[0].hits(), ups[1].hits()), (10, 10));
    let m = metrics(&gw).await;
    assert_eq!(m["timeouts"], 20, "{m}");
    assert_eq!(m["fallbacks"], 20, "{m}");
    // 10 ms deadline on a 1 ms epoch tick; the bound leaves room for a loaded CI machine
    // while still failing if the loop were never interrupted.
    let longest_call = Duration::from_nanos(m["decision_max_ns"].as_u64().unwrap());
    assert!(
        longest_call < Duration::from_millis(250),
        "{longest_call:?}"
    );
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_closed_plugin_that_times_out_answers_503() {
    let up = Upstream::start("a");
    let gw = fixture_gateway(
        "loop",
        &[&up],
        "on_failure = \"fail_closed\"\ndeadline = \"5ms\"\n",
    );
    let mut client = Client::new(gw.addr());
    for _ in 0..5 {
        assert_eq!(client.get("/").await.unwrap().status, 503);
    }
    assert_eq!(up.hits(), 0);
    let m = metrics(&gw).await;
    assert_eq!(
        (m["timeouts"].as_u64(), m["fallbacks"].as_u64()),
        (Some(5), Some(0)),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_growth_stops_at_the_plugin_limit() {
    let up = Upstream::start("a");
    // A generous deadline, so the memory limit (not a slow machine) is what stops each call.
    let gw = fixture_gateway("grow", &[&up], "memory = \"8MiB\"\ndeadline = \"1s\"\n");
    let mut client = Client::new(gw.addr());
    for _ in 0..5 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let baseline = rss_kib();
    for _ in 0..50 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let growth = rss_kib().saturating_sub(baseline);
    let m = metrics(&gw).await;
    assert_eq!(m["limit_hits"], 55, "{m}");
    assert_eq!(m["fallbacks"], 55, "{m}");
    // Each call filled its 8 MiB and was discarded; the slots' memory goes back each time.
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_trapping_on_every_call_serves_1000_requests_by_fallback_without_leaks() {
    let ups = [Upstream::start("a"), Upstream::start("b")];
    let gw = fixture_gateway("trap", &[&ups[0], &ups[1]], "");
    let mut client = Client::new(gw.addr());
    for _ in 0..100 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let (rss, fds) = (rss_kib(), open_fds());
    for _ in 0..1000 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let growth = rss_kib().saturating_sub(rss);
    assert!(
        growth < 8 * 1024,
        "RSS grew by {growth} KiB over 1000 trapped calls"
    );
    assert!(
        open_fds() <= fds + 2,
        "open files went from {fds} to {}",
        open_fds()
    );
    assert_eq!(ups[0].hits() + ups[1].hits(), 1100);
    let m = metrics(&gw).await;
    assert_eq!(m["traps"], 1100, "{m}");
    assert_eq!(m["fallbacks"], 1100, "{m}");
    // Every trap discarded its instance; each call got a fresh one.
    assert!(m["instantiations"].as_u64().unwrap() >= 1100, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_answer_is_counted_and_served_by_fallback() {
    let up = Upstream::start("a");
    let gw = fixture_gateway("out-of-range", &[&up], "");
    let mut client = Client::new(gw.addr());
    for _ in 0..10 {
        assert_eq!(client.get("/").await.unwrap().served_by(), "a");
    }
    let m = metrics(&gw).await;
    assert_eq!(
        (m["invalid_answers"].as_u64(), m["traps"].as_u64()),
        (Some(10), Some(0)),
        "{m}"
    );
}

#[test]
fn a_plugin_rejecting_its_config_stops_the_start_with_its_message() {
    let up = Upstream::start("a");
    let dir = tempfile::tempdir().unwrap();
    switchyard_tests::plugins::install("fixture-balancer", dir.path(), "fixture.wasm");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "{}[[route]]\nservice = \"web\"\n[service.web]\nbalancer = {{ plugin = \"fixture\" }}\n\
             upstreams = [{{ addr = \"{}\" }}]\n[plugin.fixture]\npath = \"fixture.wasm\"\nconfig = \"sideways\"\n",
            switchyard_tests::LISTEN_ANY,
            up.addr
        ),
    )
    .unwrap();
    let err = Gateway::start(Options::file(&config))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("plugin `fixture`"), "{err}");
    assert!(err.contains("unknown fixture mode `sideways`"), "{err}");
}
