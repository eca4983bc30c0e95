//! The upstream side of HTTP/1.1, against a scripted upstream that writes raw bytes: every
//! way a response can be framed, informational heads, upstreams closing pooled connections,
//! and broken answers (502, never a crash).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_tests::{Client, TestGateway, service_toml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers each request by its path with fixed bytes; counts the connections it accepted.
struct Scripted {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
}

fn answer(path: &str) -> (&'static [u8], bool) {
    // (bytes, close the connection after them)
    match path {
        "/chunked" => (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
            false,
        ),
        "/until-close" => (b"HTTP/1.0 200 OK\r\n\r\nuntil close", true),
        "/early-hints" => (
            b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            false,
        ),
        "/no-content" => (b"HTTP/1.1 204 No Content\r\n\r\n", false),
        "/length" => (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false),
        "/then-close" => (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true),
        "/truncated" => (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", true),
        _ => (b"SSH-2.0-not-http\r\n\r\n", true),
    }
}

async fn serve(mut stream: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let (bytes, close) = answer(&path);
            if stream.write_all(bytes).await.is_err() || close {
                return;
            }
        }
    }
}

impl Scripted {
    async fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream));
            }
        });
        Scripted { addr, connections }
    }
}

fn gateway(up: &Scripted) -> TestGateway {
    TestGateway::start(&format!(
        "[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_framing_reaches_the_client_intact() {
    let up = Scripted::start().await;
    let gw = gateway(&up);
    let mut client = Client::new(gw.addr());

    let chunked = client.get("/chunked").await.unwrap();
    assert_eq!(chunked.status, 200);
    assert_eq!(chunked.text(), "hello world");

    let until_close = client.get("/until-close").await.unwrap();
    assert_eq!(until_close.status, 200);
    assert_eq!(until_close.text(), "until close");

    // Bodiless and sized answers leave the connection reusable: 20 requests, one connection.
    let before = up.connections.load(Ordering::SeqCst);
    for i in 0..20 {
        let path = if i % 2 == 0 { "/no-content" } else { "/length" };
        let reply = client.get(path).await.unwrap();
        assert!(
            reply.status == 204 || reply.text() == "ok",
            "{path}: {}",
            reply.status
        );
    }
    assert_eq!(up.connections.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_hints_reach_an_http11_client_before_the_answer() {
    let up = Scripted::start().await;
    let gw = gateway(&up);
    let addr = gw.addr();
    let read_all = |request: &'static [u8]| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text))
            .await
            .unwrap()
            .unwrap();
        text
    };
    let text = read_all(b"GET /early-hints HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert!(
        text.starts_with(
            "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    // HTTP/1.0 has no informational answers: only the 200.
    let text = read_all(b"GET /early-hints HTTP/1.0\r\nHost: t\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_not_used() {
    let up = Scripted::start().await;
    let gw = gateway(&up);
    let mut client = Client::new(gw.addr());
    for _ in 0..5 {
        // Each answer's connection is closed by the upstream right after it. POST: were the
        // closed connection used, the request could not be retried (not idempotent).
        let reply = client.send("POST", "/then-close", &[]).await.unwrap();
        assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "ok"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answers_become_502_or_a_cut_body_and_the_gateway_serves_on() {
    let up = Scripted::start().await;
    let gw = gateway(&up);
    let garbage = Client::new(gw.addr()).get("/garbage").await.unwrap();
    assert_eq!(garbage.status, 502);
    assert!(garbage.text().contains("upstream"), "{}", garbage.text());
    // The head promised 10 bytes and 3 came: the client must not get a complete answer.
    assert!(Client::new(gw.addr()).get("/truncated").await.is_err());
    let after = Client::new(gw.addr()).get("/chunked").await.unwrap();
    assert_eq!(after.text(), "hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_go_out_sized_or_chunked() {
    use bytes::Bytes;
    use http::Request;
    use http_body_util::{BodyExt, Full, StreamBody};
    use switchyard_tests::upstream::ChunkStream;
    use switchyard_tests::{Upstream, client::send_once};

    let up = Upstream::start("sink");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    for round in 0..3 {
        // Content-Length known up front: forwarded as is.
        let sized = Request::post("/sink")
            .header("host", "t")
            .body(Full::new(Bytes::from(vec![b'x'; 100_000 + round])))
            .unwrap();
        let reply = send_once(gw.addr(), sized).await.unwrap();
        let text = reply.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &text[..],
            format!("received {}", 100_000 + round).as_bytes()
        );

        // Unknown length (the client sent it chunked): chunked upstream too.
        let chunks = ChunkStream {
            left: 40,
            chunk: Bytes::from_static(b"abcdefgh"),
        };
        let streamed = Request::post("/sink")
            .header("host", "t")
            .body(StreamBody::new(chunks))
            .unwrap();
        let reply = send_once(gw.addr(), streamed).await.unwrap();
        let text = reply.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], b"received 40");
    }
    assert_eq!(up.hits(), 6);
}
