//! Acceptance 2: 50 MiB bodies stream both ways without the gateway buffering them.
//! One test in its own binary, so no other test's allocations move the RSS reading.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use switchyard_tests::client::send_once;
use switchyard_tests::upstream::ChunkStream;
use switchyard_tests::{TestGateway, Upstream, rss_kib};

const BODY: usize = 50 * 1024 * 1024;
/// "A few MiB": hyper's per-connection buffers on three hops, plus allocator slack.
const MAX_GROWTH_KIB: u64 = 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_each_way_streams_without_buffering() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    // Warm every path once so one-time allocations (pools, runtimes, buffers) are counted
    // before the baseline, not as growth.
    upload(&gw, 1024 * 1024).await;
    download(&gw, 1024 * 1024).await;
    let baseline = rss_kib();

    assert_eq!(upload(&gw, BODY).await, format!("received {BODY}"));
    let after_upload = rss_kib();
    assert_eq!(download(&gw, BODY).await, BODY);
    let after_download = rss_kib();

    let growth = after_upload.max(after_download).saturating_sub(baseline);
    assert!(
        growth <= MAX_GROWTH_KIB,
        "RSS grew by {growth} KiB streaming 50 MiB (baseline {baseline} KiB)"
    );
}

async fn upload(gw: &TestGateway, bytes: usize) -> String {
    let body = StreamBody::new(ChunkStream {
        left: bytes,
        chunk: Bytes::from(vec![b'u'; 64 * 1024]),
    });
    let req = Request::post("/sink")
        .header("host", "t")
        .body(body)
        .unwrap();
    let resp = send_once(gw.addr(), req).await.unwrap();
    assert_eq!(resp.status(), 200);
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// Reads the body frame by frame, keeping only a count.
async fn download(gw: &TestGateway, bytes: usize) -> usize {
    let req = Request::get(format!("/source/{bytes}"))
        .header("host", "t")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = send_once(gw.addr(), req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame.unwrap().data_ref() {
            total += d.len();
        }
    }
    total
}
