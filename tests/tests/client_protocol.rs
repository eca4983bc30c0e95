//! The client side of HTTP/1.1, spoken in raw bytes: pipelined requests, HTTP/1.0 and its
//! keep-alive, `Expect: 100-continue`, refused requests whose bodies were never read, and
//! the answers' framing.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use switchyard_tests::{TestGateway, Upstream, service_toml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer as it came off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one answer to a request made with `method`: Content-Length, chunked, or (with
/// neither) until the connection closes. Gives up after 5 s.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>, method: &str) -> Answer {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut slots);
            if let httparse::Status::Complete(n) = parsed.parse(buf).unwrap() {
                let status = parsed.code.unwrap();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                buf.drain(..n);
                let find = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                };
                let body = if method == "HEAD" || status == 204 || status == 304 || status < 200 {
                    Vec::new()
                } else if let Some(length) = find("content-length") {
                    let length: usize = length.parse().unwrap();
                    fill(stream, buf, length).await;
                    buf.drain(..length).collect()
                } else if find("transfer-encoding").is_some() {
                    dechunk(stream, buf).await
                } else {
                    while stream_read(stream, buf).await > 0 {}
                    std::mem::take(buf)
                };
                return Answer {
                    status,
                    headers,
                    body,
                };
            }
            assert!(stream_read(stream, buf).await > 0, "closed mid-head");
        }
    })
    .await
    .expect("an answer within 5 s")
}

async fn stream_read(stream: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await.unwrap_or(0);
    buf.extend_from_slice(&chunk[..n]);
    n
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, at_least: usize) {
    while buf.len() < at_least {
        assert!(stream_read(stream, buf).await > 0, "closed mid-body");
    }
}

async fn dechunk(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            assert!(stream_read(stream, buf).await > 0, "closed mid-chunk");
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap(), 16).unwrap();
        buf.drain(..line_end + 2);
        fill(stream, buf, size + 2).await;
        body.extend(buf.drain(..size));
        buf.drain(..2);
        if size == 0 {
            return body;
        }
    }
}

/// Whether the gateway closed the connection (reads end) within 5 s.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1024];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD /two HTTP/1.1\r\nHost: t\r\n\r\n\
              POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
              GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    let one = read_answer(&mut stream, &mut buf, "GET").await;
    assert_eq!((one.status, one.text().as_str()), (200, "a"));
    assert!(one.header("date").is_some(), "{one:?}");
    let two = read_answer(&mut stream, &mut buf, "HEAD").await;
    assert_eq!(two.status, 200);
    // HEAD: the length of what a GET would get, and no body.
    assert_eq!(two.header("content-length"), Some("1"));
    let three = read_answer(&mut stream, &mut buf, "POST").await;
    assert_eq!(three.text(), "received 5");
    let four = read_answer(&mut stream, &mut buf, "GET").await;
    assert_eq!(four.header("connection"), Some("close"));
    assert!(
        four.text().contains("x-forwarded-for: 127.0.0.1"),
        "{}",
        four.text()
    );
    assert!(!four.text().contains("connection"), "{}", four.text());
    assert!(buf.is_empty());
    assert!(closed(&mut stream).await);
    assert_eq!(up.hits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_clients_close_unless_they_ask_to_keep_alive() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");

    let mut plain = TcpStream::connect(gw.addr()).await.unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let answer = read_answer(&mut plain, &mut buf, "GET").await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "a"));
    assert!(closed(&mut plain).await);

    let mut kept = TcpStream::connect(gw.addr()).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..3 {
        kept.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut kept, &mut buf, "GET").await;
        assert_eq!(answer.header("connection"), Some("keep-alive"));
        assert_eq!(answer.text(), "a");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_expecting_100_continue_is_asked_for_its_body() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(
            b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    // Nothing of the body is sent until the gateway says so.
    let go_ahead = read_answer(&mut stream, &mut buf, "POST").await;
    assert_eq!(go_ahead.status, 100);
    stream.write_all(b"hello").await.unwrap();
    let answer = read_answer(&mut stream, &mut buf, "POST").await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "received 5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let up = Upstream::start("a");
    let gw = TestGateway::start(&format!(
        "[[route]]\npath_prefix = \"/api\"\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ));
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    let mut buf = Vec::new();
    // No route: the body is read and dropped, and the connection goes on.
    stream
        .write_all(b"POST /elsewhere HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        .await
        .unwrap();
    let refused = read_answer(&mut stream, &mut buf, "POST").await;
    assert_eq!(refused.status, 404);
    assert!(
        refused.text().starts_with("switchyard: "),
        "{}",
        refused.text()
    );
    assert_eq!(refused.header("connection"), None);
    stream
        .write_all(b"GET /api HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let served = read_answer(&mut stream, &mut buf, "GET").await;
    assert_eq!((served.status, served.text().as_str()), (200, "a"));

    // A body too large to drop: answered, then the connection closes.
    let mut big = TcpStream::connect(gw.addr()).await.unwrap();
    big.write_all(b"POST /elsewhere HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let refused = read_answer(&mut big, &mut buf, "POST").await;
    assert_eq!(refused.status, 404);
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(closed(&mut big).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_are_answered_and_the_connection_closed() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    for (bytes, status) in [
        (&b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"[..], 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
    ] {
        let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        let answer = read_answer(&mut stream, &mut buf, "GET").await;
        assert_eq!(answer.status, status, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(closed(&mut stream).await);
    }
    assert_eq!(up.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_by_the_client_is_its_fault_not_the_upstreams() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(b"POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut buf = Vec::new();
    let answer = read_answer(&mut stream, &mut buf, "POST").await;
    assert_eq!(answer.status, 400);
    assert!(answer.text().contains("request body"), "{}", answer.text());
    let status = gw.status().await;
    let upstream = &status["services"][0]["upstreams"][0];
    assert_eq!(upstream["failures"], 0, "{upstream}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_after_client_timeout() {
    const TOTAL: usize = 100 << 20;
    let up = Upstream::start("a");
    let gw = TestGateway::start(&format!(
        "client_timeout = \"1s\"\n[[route]]\nservice = \"web\"\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ));
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream
        .write_all(format!("GET /source/{TOTAL} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Socket buffers fill within milliseconds; then the gateway's writes stall.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("neither data nor an end within 5 s"),
        }
    }
    assert!(received < TOTAL / 2, "received {received} of {TOTAL}");
}
