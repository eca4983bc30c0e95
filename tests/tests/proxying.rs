//! The proxy's own answers and header handling: 404, 502, 504, hop-by-hop, X-Forwarded-*.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use switchyard_tests::{Client, TestGateway, Upstream, service_toml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_request_gets_404_naming_the_reason() {
    let up = Upstream::start("a");
    let gw = TestGateway::start(&format!(
        "[[route]]\npath_prefix = \"/api/\"\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ));
    let r = Client::new(gw.addr()).get("/other").await.unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no route"), "{}", r.text());
    assert_eq!(
        Client::new(gw.addr())
            .get("/api/x")
            .await
            .unwrap()
            .served_by(),
        "a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_gets_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = TestGateway::start(&format!(
        "[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(closed, 1)])
    ));
    let r = Client::new(gw.addr()).get("/").await.unwrap();
    assert_eq!(r.status, 502);
    assert!(r.text().contains("could not be reached"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_gets_504_after_the_request_timeout() {
    let up = Upstream::with_delay("slow", Duration::from_secs(5));
    let gw = TestGateway::single_service(
        "round_robin",
        &[&up],
        "[service.web.timeouts]\nrequest = \"200ms\"\n",
    );
    let r = Client::new(gw.addr()).get("/").await.unwrap();
    assert_eq!(r.status, 504);
    assert!(r.text().contains("did not answer in time"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_x_forwarded_and_strips_hop_by_hop() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let r = Client::new(gw.addr())
        .request(
            "/headers",
            &[
                ("connection", "x-private"),
                ("x-private", "secret"),
                ("keep-alive", "timeout=5"),
                ("x-forwarded-for", "203.0.113.9"),
                ("x-kept", "1"),
            ],
        )
        .await
        .unwrap();
    let seen = r.text();
    assert!(
        seen.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
    assert!(seen.contains("x-forwarded-host: test.local\n"), "{seen}");
    assert!(seen.contains("x-kept: 1\n"), "{seen}");
    assert!(
        !seen.contains("x-private"),
        "Connection-listed header leaked: {seen}"
    );
    assert!(!seen.contains("keep-alive"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let mut client = Client::new(gw.addr());
    for _ in 0..50 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let status = gw.status().await;
    let upstream = &status["services"][0]["upstreams"][0];
    assert_eq!(upstream["requests"], 50);
    assert_eq!(upstream["failures"], 0);
    assert_eq!(upstream["in_flight"], 0);
}
