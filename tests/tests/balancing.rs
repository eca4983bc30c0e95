//! Acceptance 1: each native balancer, through a real gateway, against real upstreams.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use switchyard_tests::{Client, TestGateway, Upstream, requests_around_a_hold, service_toml};

fn route_all(service: &str) -> String {
    format!("[[route]]\nservice = \"{service}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smooth_weighted_gives_the_exact_nginx_sequence() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let svc = service_toml(
        "web",
        "smooth_weighted",
        &[(ups[0].addr, 5), (ups[1].addr, 1), (ups[2].addr, 1)],
    );
    let gw = TestGateway::start(&(route_all("web") + &svc));
    let mut client = Client::new(gw.addr());
    let mut seq = String::new();
    for _ in 0..21 {
        seq.push_str(client.get("/").await.unwrap().served_by());
    }
    // nginx's documented order for weights 5:1:1, three full periods.
    assert_eq!(seq, "aabacaa".repeat(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_300_requests_evenly() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let gw = TestGateway::single_service("round_robin", &[&ups[0], &ups[1], &ups[2]], "");
    let mut client = Client::new(gw.addr());
    for _ in 0..300 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    let hits: Vec<usize> = ups.iter().map(Upstream::hits).collect();
    assert_eq!(hits, [100, 100, 100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_conn_steers_away_from_a_busy_upstream() {
    let ups = [
        Upstream::start("slow"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    ups[0].hold();
    let gw = TestGateway::single_service("least_conn", &[&ups[0], &ups[1], &ups[2]], "");
    let (served, held) = requests_around_a_hold(gw.addr(), 30).await;
    assert!(
        held.len() <= 1,
        "the busy upstream got {} requests, expected at most the first",
        held.len()
    );
    assert_eq!(served.values().sum::<usize>() + held.len(), 30);
    assert!(!served.contains_key("slow"));
    ups[0].release();
    for h in held {
        assert_eq!(h.await.unwrap(), "slow");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_keys_when_one_of_ten_upstreams_leaves() {
    let ups: Vec<Upstream> = (0..10).map(|i| Upstream::start(&format!("u{i}"))).collect();
    let all: Vec<_> = ups.iter().map(|u| (u.addr, 1)).collect();
    let config = |set: &[(std::net::SocketAddr, u32)]| {
        route_all("web") + &service_toml("web", "hash", set) + "hash_key = \"header:x-user\"\n"
    };
    let gw = TestGateway::start(&config(&all));
    let mut client = Client::new(gw.addr());
    let mut before = Vec::new();
    for key in 0..1000 {
        let user = format!("user-{key}");
        before.push(
            client
                .request("/", &[("x-user", &user)])
                .await
                .unwrap()
                .served_by()
                .to_owned(),
        );
    }
    let mut fewer = all.clone();
    fewer.remove(4);
    gw.replace_config(&config(&fewer));
    switchyard_tests::eventually(Duration::from_secs(5), || async { gw.generation() == 2 })
        .await
        .unwrap();
    let (mut kept, mut eligible) = (0, 0);
    for (key, old) in before.iter().enumerate() {
        let user = format!("user-{key}");
        let now = client
            .request("/", &[("x-user", &user)])
            .await
            .unwrap()
            .served_by()
            .to_owned();
        assert_ne!(now, "u4", "the removed upstream must get nothing");
        if old != "u4" {
            eligible += 1;
            kept += usize::from(&now == old);
        }
    }
    assert!(
        kept * 100 >= eligible * 95,
        "only {kept} of {eligible} keys stayed put"
    );
    // And the same key always lands on the same upstream.
    let again = client
        .request("/", &[("x-user", "user-7")])
        .await
        .unwrap()
        .served_by()
        .to_owned();
    assert_eq!(
        again,
        client
            .request("/", &[("x-user", "user-7")])
            .await
            .unwrap()
            .served_by()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ewma_prefers_the_faster_upstream() {
    let fast = Upstream::start("fast");
    let slow = Upstream::with_delay("slow", Duration::from_millis(20));
    let gw = TestGateway::single_service("ewma", &[&fast, &slow], "");
    let mut client = Client::new(gw.addr());
    for _ in 0..100 {
        assert_eq!(client.get("/").await.unwrap().status, 200);
    }
    assert!(
        fast.hits() >= 90,
        "fast {} vs slow {}",
        fast.hits(),
        slow.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_and_random_serve_every_upstream() {
    for balancer in ["p2c", "random"] {
        let ups = [
            Upstream::start("a"),
            Upstream::start("b"),
            Upstream::start("c"),
        ];
        let gw = TestGateway::single_service(balancer, &[&ups[0], &ups[1], &ups[2]], "");
        let mut client = Client::new(gw.addr());
        for _ in 0..300 {
            assert_eq!(client.get("/").await.unwrap().status, 200);
        }
        for u in &ups {
            assert!(u.hits() >= 50, "{balancer}: {} got {}", u.name, u.hits());
        }
    }
}
