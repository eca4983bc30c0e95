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
    // The peer is not in `trusted_proxies` (none are by default): its claim is replaced.
    assert!(seen.contains("x-forwarded-for: 127.0.0.1\n"), "{seen}");
    assert!(!seen.contains("203.0.113.9"), "{seen}");
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

/// Whether the gateway closes `stream` within `limit`, polled every 100 ms; with `drip`, a
/// header line is written before each poll (a slowloris client).
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration, drip: bool) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    for _ in 0..limit.as_millis() / 100 {
        if drip && stream.write_all(b"X-Drip: 1\r\n").await.is_err() {
            return true;
        }
        let read = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_client_connections_close_after_client_timeout_and_slow_answers_do_not() {
    use tokio::io::AsyncWriteExt;
    let slow = Upstream::with_delay("slow", Duration::from_millis(2500));
    let gw = TestGateway::start(&format!(
        "client_timeout = \"1s\"\n[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(slow.addr, 1)])
    ));

    // A head that never completes is cut between one and two periods after the connection
    // opened (timed from before the connect: the gateway's clock starts at its accept).
    let began = std::time::Instant::now();
    let mut slowloris = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    slowloris
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slowloris, Duration::from_secs(6), true).await);
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );

    // An answer that takes longer than two periods is not cut: the request is in flight.
    let mut client = Client::new(gw.addr());
    let answered = client.get("/").await.unwrap();
    assert_eq!(answered.status, 200);
    assert_eq!(answered.served_by(), "slow");

    // A keep-alive connection left idle after its answer is closed.
    let mut idle = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let began = std::time::Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(10), false).await);
    assert!(
        began.elapsed() >= Duration::from_millis(3500),
        "{:?}",
        began.elapsed()
    );
}
