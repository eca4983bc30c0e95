//! The edges a hostile or broken peer pushes on: reads that must end (a silent body, a
//! stalled upstream), one host and one path for routing and forwarding, forwarding headers
//! only from trusted proxies, smuggling through trailers and `_` names.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_tests::{TestGateway, Upstream, service_toml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An answer read to the connection's end (requests here say `Connection: close`).
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Sends `bytes` on a new connection and reads until the gateway closes it (10 s at most).
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the gateway closes within 10 s");
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, target: &str, fields: &str) -> Raw {
    let request = format!("GET {target} HTTP/1.1\r\n{fields}Connection: close\r\n\r\n");
    exchange(addr, request.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_cut_off_within_twice_client_timeout() {
    let up = Upstream::start("a");
    let client_timeout = Duration::from_secs(2);
    let gw = TestGateway::start(&format!(
        "client_timeout = \"2s\"\n[[route]]\npath_prefix = \"/sink\"\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ));
    // Refused (no route), its announced body never sent: the unread body is not waited on
    // for ever.
    let start = Instant::now();
    let refused = exchange(
        gw.addr(),
        b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
    )
    .await;
    assert_eq!(refused.status, 404, "{}", refused.head);
    assert!(
        start.elapsed() < 2 * client_timeout,
        "closed after {:?}",
        start.elapsed()
    );
    // Forwarded, then the client stops halfway: 408, and the upstream is not blamed.
    let start = Instant::now();
    let stalled = exchange(
        gw.addr(),
        b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nonly this",
    )
    .await;
    assert_eq!(stalled.status, 408, "{}", stalled.head);
    assert!(
        start.elapsed() < 2 * client_timeout,
        "closed after {:?}",
        start.elapsed()
    );
    let status = gw.status().await;
    let failures = &status["services"][0]["upstreams"][0]["failures"];
    assert!(
        failures.is_null() || failures == 0,
        "the upstream was charged: {status}"
    );
}

/// An upstream that sends a head and 10 of 100 body bytes, then nothing; reports when the
/// gateway closed its side.
async fn stalling_upstream() -> (SocketAddr, tokio::sync::oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await
            .unwrap();
        // Bounded: the test gives up long before this.
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while !matches!(stream.read(&mut buf).await, Ok(0) | Err(_)) {}
        })
        .await;
        let _ = closed_tx.send(());
    });
    (addr, closed_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_stalling_mid_body_is_cut_off_after_upstream_idle() {
    let (addr, upstream_closed) = stalling_upstream().await;
    let gw = TestGateway::start(&format!(
        "[timeouts]\nupstream_idle = \"1s\"\n[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(addr, 1)])
    ));
    let start = Instant::now();
    let cut = get(gw.addr(), "/", "Host: t\r\n").await;
    assert_eq!(cut.status, 200);
    assert_eq!(cut.header("content-length").as_deref(), Some("100"));
    assert_eq!(cut.body, "0123456789", "the client sees a cut-off body");
    tokio::time::timeout(Duration::from_secs(10), upstream_closed)
        .await
        .expect("the gateway closes the upstream connection")
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_steady_upload_outlives_the_request_timeout() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service(
        "round_robin",
        &[&up],
        "[service.web.timeouts]\nrequest = \"5s\"\n",
    );
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    // 90 s at 1 KiB per half second: 18 request timeouts long, never idle for one.
    let pieces = 180;
    let piece = [b'u'; 1024];
    let head = format!(
        "POST /sink HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        pieces * piece.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..pieces {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stream.write_all(&piece).await.unwrap();
    }
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("received 184320"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_target_names_the_host_and_bad_hosts_are_refused() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let gw = TestGateway::start(&format!(
        "[[route]]\nhost = \"a.example\"\nservice = \"a\"\n[[route]]\nhost = \"b.example\"\nservice = \"b\"\n{}{}",
        service_toml("a", "round_robin", &[(a.addr, 1)]),
        service_toml("b", "round_robin", &[(b.addr, 1)]),
    ));
    let absolute = get(gw.addr(), "http://a.example/headers", "Host: b.example\r\n").await;
    assert_eq!(absolute.status, 200);
    assert_eq!(absolute.header("x-served-by").as_deref(), Some("a"));
    assert!(
        absolute.body.contains("host: a.example\n"),
        "{}",
        absolute.body
    );
    assert!(
        absolute.body.contains("x-forwarded-host: a.example\n"),
        "{}",
        absolute.body
    );
    // Case and a trailing dot do not matter.
    let dotted = get(gw.addr(), "/", "Host: B.Example.:80\r\n").await;
    assert_eq!(dotted.header("x-served-by").as_deref(), Some("b"));
    for host in ["a b", "user@x", "x/y", "###", "a.example:port"] {
        let refused = get(gw.addr(), "/", &format!("Host: {host}\r\n")).await;
        assert_eq!(refused.status, 400, "Host: {host}");
    }
    let smuggled = get(gw.addr(), "http://a\\@b.example/", "Host: b.example\r\n").await;
    assert_eq!(smuggled.status, 400);
    assert_eq!(b.hits(), 1, "only the dotted request reached b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_routed_and_forwarded_normalised_and_prefixes_match_segments() {
    let (admin, public, api) = (
        Upstream::start("admin"),
        Upstream::start("public"),
        Upstream::start("api"),
    );
    let gw = TestGateway::start(&format!(
        "[[route]]\npath = \"/admin\"\nservice = \"admin\"\n\
         [[route]]\npath_prefix = \"/api\"\nservice = \"api\"\n\
         [[route]]\npath_prefix = \"/\"\nservice = \"public\"\n{}{}{}",
        service_toml("admin", "round_robin", &[(admin.addr, 1)]),
        service_toml("api", "round_robin", &[(api.addr, 1)]),
        service_toml("public", "round_robin", &[(public.addr, 1)]),
    ));
    for spelled in ["/public/../admin", "/./admin", "/%61dmin", "/%2e%2E/admin"] {
        let r = get(gw.addr(), spelled, "Host: t\r\n").await;
        assert_eq!(
            r.header("x-served-by").as_deref(),
            Some("admin"),
            "{spelled}"
        );
        assert_eq!(
            r.header("x-received-target").as_deref(),
            Some("/admin"),
            "{spelled}"
        );
    }
    let api_root = get(gw.addr(), "/api?x=/../y", "Host: t\r\n").await;
    assert_eq!(api_root.header("x-served-by").as_deref(), Some("api"));
    assert_eq!(
        api_root.header("x-received-target").as_deref(),
        Some("/api?x=/../y")
    );
    let apiary = get(gw.addr(), "/apiary", "Host: t\r\n").await;
    assert_eq!(apiary.header("x-served-by").as_deref(), Some("public"));
    let bad = get(gw.addr(), "/a%zz", "Host: t\r\n").await;
    assert_eq!(bad.status, 400);
}

/// Who the upstream was told asked, and which of three upstreams `client_ip` hashing chose,
/// for a request claiming to come from `claimed`.
async fn forwarded_as(gw: &TestGateway, claimed: &str) -> (String, String) {
    let r = get(
        gw.addr(),
        "/headers",
        &format!("Host: t\r\nX-Forwarded-For: {claimed}\r\nX_Forwarded_For: 9.9.9.9\r\nX-Real-IP: {claimed}\r\n"),
    )
    .await;
    let forwarded = r
        .body
        .lines()
        .find_map(|l| l.strip_prefix("x-forwarded-for: "))
        .unwrap_or("")
        .to_owned();
    assert!(!r.body.contains("x_forwarded_for"), "{}", r.body);
    (forwarded, r.header("x-served-by").unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let set: Vec<_> = ups.iter().map(|u| (u.addr, 1)).collect();
    let service = format!(
        "[[route]]\nservice = \"web\"\n{}hash_key = \"client_ip\"\n",
        service_toml("web", "hash", &set)
    );
    // Untrusted (the default): the claim is replaced and hashing ignores it.
    let gw = TestGateway::start(&service);
    let mut chosen = std::collections::HashSet::new();
    for i in 0..20 {
        let (forwarded, by) = forwarded_as(&gw, &format!("1.2.3.{i}")).await;
        assert_eq!(forwarded, "127.0.0.1");
        chosen.insert(by);
    }
    assert_eq!(
        chosen.len(),
        1,
        "one client address, one upstream: {chosen:?}"
    );
    let r = get(gw.addr(), "/headers", "Host: t\r\nX-Real-IP: 6.6.6.6\r\n").await;
    assert!(!r.body.contains("x-real-ip"), "{}", r.body);
    drop(gw);

    // Trusted: the chain is extended and the client it names is hashed.
    let gw = TestGateway::start(&format!("trusted_proxies = [\"127.0.0.0/8\"]\n{service}"));
    let mut chosen = std::collections::HashSet::new();
    for i in 0..20 {
        let (forwarded, by) = forwarded_as(&gw, &format!("1.2.3.{i}")).await;
        assert_eq!(forwarded, format!("1.2.3.{i}, 127.0.0.1"));
        chosen.insert(by);
    }
    assert!(chosen.len() > 1, "20 clients all hashed alike: {chosen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_hidden_in_trailers_is_refused() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let smuggled = exchange(
        gw.addr(),
        b"POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    assert_eq!(smuggled.status, 400, "{}", smuggled.head);
    for size_line in [" 5", "5\r;x", "fffffffffffffff"] {
        let wire = format!(
            "POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{size_line}\r\nhello\r\n0\r\n\r\n"
        );
        let refused = exchange(gw.addr(), wire.as_bytes()).await;
        assert_eq!(refused.status, 400, "{size_line:?}: {}", refused.head);
    }
    let zeros = exchange(
        gw.addr(),
        b"POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          0000000000000005\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(zeros.status, 200);
    assert_eq!(zeros.body, "received 5");
    let bad_line = exchange(gw.addr(), b"GET / FOO\r\nHost: t\r\n\r\n").await;
    assert_eq!(bad_line.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_reloads_within_a_second() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let dir = tempfile::tempdir().unwrap();
    let config = |up: &Upstream| {
        format!(
            "{}[[route]]\nservice = \"web\"\n{}",
            switchyard_tests::LISTEN_ANY,
            service_toml("web", "round_robin", &[(up.addr, 1)])
        )
    };
    // The layout kubelet writes: the file is a link through `..data` into a versioned dir.
    let version = |n: u32, text: String| {
        let versioned = dir.path().join(format!("..2026_12_02_{n}"));
        std::fs::create_dir(&versioned).unwrap();
        std::fs::write(versioned.join("switchyard.toml"), text).unwrap();
        versioned
    };
    let first = version(1, config(&a));
    std::os::unix::fs::symlink(first.file_name().unwrap(), dir.path().join("..data")).unwrap();
    let path = dir.path().join("switchyard.toml");
    std::os::unix::fs::symlink("..data/switchyard.toml", &path).unwrap();
    let gw = switchyard::Gateway::start(switchyard::Options::file(&path)).unwrap();
    let addr = gw.listen_addrs()[0];
    assert_eq!(
        get(addr, "/", "Host: t\r\n")
            .await
            .header("x-served-by")
            .as_deref(),
        Some("a")
    );

    // The update: a new versioned dir, a new link renamed over `..data`, the old dir gone.
    let second = version(2, config(&b));
    let tmp_link = dir.path().join("..data_tmp");
    std::os::unix::fs::symlink(second.file_name().unwrap(), &tmp_link).unwrap();
    std::fs::rename(&tmp_link, dir.path().join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();
    let swapped = switchyard_tests::eventually(Duration::from_secs(1), || async {
        get(addr, "/", "Host: t\r\n")
            .await
            .header("x-served-by")
            .as_deref()
            == Some("b")
    })
    .await;
    assert!(
        swapped.is_some(),
        "the swapped ConfigMap was not reloaded within 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_are_closed_at_once_and_counted() {
    let up = Upstream::start("a");
    let gw = TestGateway::start(&format!(
        "max_connections = 2\n[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ));
    // Two keep-alive connections, each with an answered request: both admitted and open.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
        open.push(stream);
    }
    // The third is accepted and closed without an answer (a write may already fail).
    let mut third = TcpStream::connect(gw.addr()).await.unwrap();
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed at once, not left waiting");
    assert!(answer.is_empty(), "no answer beyond the cap");
    let status = gw.status().await;
    assert_eq!(status["max_connections"], 2);
    assert_eq!(status["listeners"][0]["connections"], 2);
    assert!(status["listeners"][0]["refused"].as_u64().unwrap() >= 1);
    // A closed connection frees its place.
    drop(open.pop());
    let freed = switchyard_tests::eventually(Duration::from_secs(5), || async {
        gw.status().await["listeners"][0]["connections"] == 1
    })
    .await;
    assert!(freed.is_some(), "the closed connection was counted out");
    assert_eq!(get(gw.addr(), "/", "Host: t\r\n").await.status, 200);
}
