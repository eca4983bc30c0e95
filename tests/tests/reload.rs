//! Acceptance 3: hot reload under continuous traffic, and a broken file that changes nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_tests::{Client, TestGateway, Upstream, eventually};

/// Config number `i`: weights, the upstream set and the routes all change with `i`.
/// `ups[3]` serves only the route `/marker/{i}`, so a probe sees when config `i` is live.
fn config(i: usize, ups: &[Upstream]) -> String {
    let mut upstreams = vec![format!(
        "{{ addr = \"{}\", weight = {} }}",
        ups[0].addr,
        1 + i % 5
    )];
    upstreams.push(format!(
        "{{ addr = \"{}\", weight = {} }}",
        ups[1].addr,
        1 + (i * 3) % 4
    ));
    if i.is_multiple_of(2) {
        upstreams.push(format!("{{ addr = \"{}\" }}", ups[2].addr));
    }
    let mut text =
        format!("[[route]]\nname = \"marker-{i}\"\npath = \"/marker/{i}\"\nservice = \"marker\"\n");
    if i.is_multiple_of(3) {
        text.push_str("[[route]]\nname = \"extra\"\npath_prefix = \"/extra\"\nservice = \"web\"\n");
    }
    text.push_str("[[route]]\nname = \"all\"\npath_prefix = \"/\"\nservice = \"web\"\n");
    text += &format!(
        "[service.web]\nbalancer = \"smooth_weighted\"\nupstreams = [{}]\n",
        upstreams.join(", ")
    );
    text += &format!(
        "[service.marker]\nupstreams = [{{ addr = \"{}\" }}]\n",
        ups[3].addr
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_rewrites_under_load_lose_nothing_and_apply_within_a_second() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
        Upstream::start("marker"),
    ];
    let gw = TestGateway::start(&config(0, &ups));
    let addr = gw.addr();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        clients.push(tokio::spawn(async move {
            let mut client = Client::new(addr);
            // Bounded: stops when told, and never runs past 200k requests.
            for _ in 0..200_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match client.get("/").await {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    let mut probe = Client::new(addr);
    let mut slowest = Duration::ZERO;
    for i in 1..=50 {
        let text = config(i, &ups);
        if i.is_multiple_of(2) {
            gw.replace_config(&text)
        } else {
            gw.rewrite_config_in_place(&text)
        }
        let path = format!("/marker/{i}");
        let written = std::time::Instant::now();
        loop {
            if matches!(probe.get(&path).await, Ok(r) if r.served_by() == "marker") {
                break;
            }
            if written.elapsed() > Duration::from_secs(1) {
                panic!(
                    "config {i} was not serving within 1 s: {}",
                    gw.status().await["reloads"]
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = written.elapsed();
        slowest = slowest.max(took);
        // The previous marker route went away in the same swap: the catch-all has it now.
        assert_ne!(
            probe
                .get(&format!("/marker/{}", i - 1))
                .await
                .unwrap()
                .served_by(),
            "marker"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(ok.load(Ordering::Relaxed) > 100, "the clients barely ran");
    let status = gw.status().await;
    assert_eq!(status["reloads"]["failed"], 0, "{status}");
    assert!(gw.generation() >= 51, "generation {}", gw.generation());
    eprintln!("slowest reload to visible routing: {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_is_reported_and_the_old_one_keeps_serving() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
        Upstream::start("marker"),
    ];
    let gw = TestGateway::start(&config(0, &ups));
    let mut client = Client::new(gw.addr());
    assert_eq!(client.get("/marker/0").await.unwrap().served_by(), "marker");

    gw.replace_config("[[route]]\nservice = \"web\"\n[service.web]\nbalancer = \"fastest\"\nupstreams = [{ addr = \"127.0.0.1:1\" }]\n");
    let failed = eventually(Duration::from_secs(2), || async {
        gw.status().await["reloads"]["failed"] == 1
    })
    .await;
    assert!(failed.is_some(), "the broken config was not reported");
    let status = gw.status().await;
    let detail = status["reloads"]["last"]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    // Line 8: LISTEN_ANY adds four lines before the body's fourth line.
    assert!(detail.contains("switchyard.toml:8:12"), "{detail}");
    assert!(
        detail.contains("unknown balancer `fastest`") && detail.contains("smooth_weighted"),
        "{detail}"
    );
    assert_eq!(status["generation"], 1);
    assert_eq!(
        client.get("/marker/0").await.unwrap().served_by(),
        "marker",
        "old routing must keep serving"
    );

    // POST /reload reports the same error; fixing the file recovers.
    let admin = gw.admin();
    let reply = post_reload(admin).await;
    assert!(
        reply.contains("\"ok\": false") && reply.contains("fastest"),
        "{reply}"
    );
    gw.replace_config(&config(7, &ups));
    assert!(
        eventually(Duration::from_secs(2), || async { gw.generation() == 2 })
            .await
            .is_some()
    );
    assert_eq!(client.get("/marker/7").await.unwrap().served_by(), "marker");
}

async fn post_reload(admin: std::net::SocketAddr) -> String {
    use http_body_util::BodyExt;
    let req = http::Request::post("/reload")
        .header("host", "admin")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = switchyard_tests::client::send_once(admin, req)
        .await
        .unwrap();
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
