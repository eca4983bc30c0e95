//! Issue 3, acceptance 1: every example plugin, built from source in this test run, loads
//! and decides correctly in front of real upstreams.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use switchyard_tests::{Client, TestGateway, Upstream, requests_around_a_hold};

fn upstreams(list: &[&Upstream]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|u| format!("{{ addr = \"{}\" }}", u.addr))
        .collect();
    format!("upstreams = [{}]\n", items.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_loaded_balancer_rotates_when_idle_and_avoids_a_busy_upstream() {
    let ups = [
        Upstream::start("slow"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\nbalancer = {{ plugin = \"lb\" }}\n{}\
             [plugin.lb]\npath = \"least_loaded.wasm\"\n",
            upstreams(&[&ups[0], &ups[1], &ups[2]])
        ),
        &[("least-loaded", "least_loaded.wasm")],
    );
    // Idle upstreams tie; the plugin breaks ties in turn.
    let mut client = Client::new(gw.addr());
    for _ in 0..300 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let hits: Vec<usize> = ups.iter().map(Upstream::hits).collect();
    assert!(hits.iter().all(|&h| (90..=110).contains(&h)), "{hits:?}");

    // A held upstream keeps its request in flight: the plugin sees it and goes elsewhere.
    ups[0].hold();
    let (served, held) = requests_around_a_hold(gw.addr(), 30).await;
    assert!(
        held.len() <= 1,
        "the busy upstream got {} requests",
        held.len()
    );
    assert!(!served.contains_key("slow"));
    ups[0].release();
    for h in held {
        assert_eq!(h.await.unwrap(), "slow");
    }
    let status = gw.status().await;
    let metrics = &status["plugins"][0]["metrics"];
    assert!(metrics["calls"].as_u64().unwrap() >= 330, "{metrics}");
    assert_eq!(metrics["fallbacks"], 0, "{metrics}");
    assert_eq!(status["services"][0]["balancer"], "plugin:lb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_router_sends_the_header_and_a_tenth_of_the_rest_to_v2() {
    let (v1, v2) = (Upstream::start("v1"), Upstream::start("v2"));
    let gw = TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"v1\"\nrouter = {{ plugin = \"canary\" }}\n\
             [service.v1]\n{}[service.v2]\n{}\
             [plugin.canary]\npath = \"canary.wasm\"\nconfig = {{ to = \"v2\", percent = 10, header = \"x-canary\" }}\n",
            upstreams(&[&v1]),
            upstreams(&[&v2])
        ),
        &[("canary-router", "canary.wasm")],
    );
    let mut client = Client::new(gw.addr());
    for _ in 0..50 {
        let r = client.request("/", &[("x-canary", "1")]).await.unwrap();
        assert_eq!(r.served_by(), "v2");
    }
    let before = v2.hits();
    for _ in 0..1000 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let to_v2 = v2.hits() - before;
    // Binomial(1000, 0.1): mean 100, sd 9.5; these bounds are more than 6 sd away.
    assert!(
        (40..=170).contains(&to_v2),
        "{to_v2} of 1000 went to the canary"
    );
    assert_eq!(v1.hits() + to_v2, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_affinity_keeps_each_user_on_one_upstream_and_sets_a_cookie_once() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\n{}\
             [service.web.affinity]\nkind = {{ plugin = \"users\" }}\n\
             [plugin.users]\npath = \"users.wasm\"\nconfig = {{ header = \"x-user-id\", cookie = \"sy_upstream\" }}\n",
            upstreams(&[&ups[0], &ups[1], &ups[2]])
        ),
        &[("user-affinity", "users.wasm")],
    );
    let mut client = Client::new(gw.addr());
    let mut homes: HashMap<String, String> = HashMap::new();
    for round in 0..5 {
        for user in 0..30 {
            let id = format!("user-{user}");
            let r = client.request("/", &[("x-user-id", &id)]).await.unwrap();
            let cookie = r
                .headers
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().to_owned());
            if round == 0 {
                let cookie = cookie.expect("the first answer pins and sets the cookie");
                assert!(cookie.starts_with("sy_upstream=127.0.0.1_"), "{cookie}");
                homes.insert(id, r.served_by().to_owned());
            } else {
                assert_eq!(cookie, None, "the cookie is set once per pin");
                assert_eq!(homes[&id], r.served_by(), "{id} moved");
            }
        }
    }
    let used: HashSet<&String> = homes.values().collect();
    assert_eq!(used.len(), 3, "new pins follow the balancer: {homes:?}");
    // No key (no header): balanced normally, nothing pinned.
    let r = client.get("/").await.unwrap();
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failover_retries_idempotent_requests_elsewhere_at_most_n_times() {
    let bad = Upstream::failing("bad", 503);
    let good = Upstream::start("good");
    // A port nothing listens on: connections are refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\n\
             upstreams = [{{ addr = \"{}\" }}, {{ addr = \"{dead}\" }}, {{ addr = \"{}\" }}]\n\
             [service.web.retry]\nattempts = 4\nfailover = {{ plugin = \"retry\" }}\n\
             [plugin.retry]\npath = \"retry.wasm\"\nconfig = {{ max_retries = 2 }}\n",
            bad.addr, good.addr
        ),
        &[("retry-failover", "retry.wasm")],
    );
    let mut client = Client::new(gw.addr());
    for _ in 0..30 {
        let r = client.get("/").await.unwrap();
        assert_eq!((r.status.as_u16(), r.served_by()), (200, "good"));
    }
    // Not idempotent: a 503 stands; a refused connection (nothing sent) is still retried.
    let mut passed_503 = 0;
    for _ in 0..30 {
        let r = client.send("POST", "/", &[]).await.unwrap();
        match r.status.as_u16() {
            200 => assert_eq!(r.served_by(), "good"),
            503 => {
                assert_eq!(r.served_by(), "bad");
                passed_503 += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        passed_503 > 0,
        "round robin sends some POSTs to `bad` first"
    );

    // max_retries = 1 allows two attempts per request, however many the service allows.
    let gw = TestGateway::start_with_plugins(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\n\
             upstreams = [{{ addr = \"{}\" }}, {{ addr = \"{dead}\" }}, {{ addr = \"{}\" }}]\n\
             [service.web.retry]\nattempts = 4\nfailover = {{ plugin = \"retry\" }}\n\
             [plugin.retry]\npath = \"retry.wasm\"\nconfig = {{ max_retries = 1 }}\n",
            bad.addr, good.addr
        ),
        &[("retry-failover", "retry.wasm")],
    );
    let (bad_before, good_before) = (bad.hits(), good.hits());
    let mut client = Client::new(gw.addr());
    let mut failed = 0;
    for _ in 0..60 {
        if client.get("/").await.unwrap().status != 200 {
            failed += 1;
        }
    }
    let hits = (bad.hits() - bad_before) + (good.hits() - good_before);
    assert!(hits < 120, "{hits} upstream hits for 60 requests");
    assert!(failed > 0, "some requests must run out of retries");
    let status = gw.status().await;
    assert_eq!(status["plugins"][0]["kind"], "failover");
    assert!(status["plugins"][0]["metrics"]["calls"].as_u64().unwrap() > 0);
}
