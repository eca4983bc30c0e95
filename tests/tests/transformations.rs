//! Per-route transformations without a plugin, each checked on both sides: what the `/echo`
//! upstream received and what the client got back.

#![allow(clippy::unwrap_used)]

use switchyard_tests::client::{Client, Reply};
use switchyard_tests::{TestGateway, Upstream, service_toml};

/// The `/echo` upstream's report: the request line it received and its header values.
struct Echoed {
    line: String,
    headers: Vec<(String, String)>,
}

impl Echoed {
    fn of(reply: &Reply) -> Echoed {
        let text = reply.text();
        let mut lines = text.lines();
        let line = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Echoed { line, headers }
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
    reply
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn gateway(routes: &str, up: &Upstream) -> TestGateway {
    TestGateway::start(&format!(
        "{routes}\n{}",
        service_toml("web", "round_robin", &[(up.addr, 1)])
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_prefix_and_rewrite_path_change_only_the_upstream_path() {
    let up = Upstream::start("a");
    let gw = gateway(
        r#"
[[route]]
path_prefix = "/old"
strip_prefix = "/old"
service = "web"
[[route]]
path_prefix = "/v1/"
rewrite_path = "/echo/v2/"
service = "web"
[[route]]
path = "/legacy"
rewrite_path = "/echo/new"
service = "web"
"#,
        &up,
    );
    let mut client = Client::new(gw.addr());
    let reply = client.get("/old/echo/x?q=1").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(Echoed::of(&reply).line, "GET /echo/x?q=1");
    // Whole segments only: `/olden` is not under `/old` and is not routed here.
    assert_eq!(client.get("/olden/echo").await.unwrap().status, 404);
    let reply = client.get("/v1/items?page=2").await.unwrap();
    assert_eq!(Echoed::of(&reply).line, "GET /echo/v2/items?page=2");
    let reply = client.get("/legacy").await.unwrap();
    assert_eq!(Echoed::of(&reply).line, "GET /echo/new");
    // Rewrites apply to the normalised path.
    let reply = client.get("/v1/a/../b").await.unwrap();
    assert_eq!(Echoed::of(&reply).line, "GET /echo/v2/b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_set_added_and_removed() {
    let up = Upstream::start("a");
    let gw = gateway(
        r#"
[[route]]
path_prefix = "/echo"
request_headers = { set = { "x-env" = "prod", "host" = "internal.example" }, add = { "x-extra" = "gw" }, remove = ["x-debug"] }
service = "web"
"#,
        &up,
    );
    let reply = Client::new(gw.addr())
        .request(
            "/echo",
            &[
                ("x-env", "dev"),
                ("X-Env", "staging"),
                ("x-extra", "client"),
                ("x-debug", "1"),
                ("x-kept", "yes"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let got = Echoed::of(&reply);
    assert_eq!(got.all("x-env"), ["prod"], "set replaces every sent value");
    assert_eq!(
        got.all("x-extra"),
        ["client", "gw"],
        "add keeps the sent value"
    );
    assert!(got.all("x-debug").is_empty(), "removed");
    assert_eq!(got.all("x-kept"), ["yes"]);
    assert_eq!(
        got.all("host"),
        ["internal.example"],
        "the upstream's Host is set"
    );
    // Forwarding fields still name the host the client asked for.
    assert_eq!(got.all("x-forwarded-host"), ["test.local"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_headers_are_set_added_and_removed() {
    let up = Upstream::start("a");
    let gw = gateway(
        r#"
[[route]]
path_prefix = "/echo"
response_headers = { set = { "x-upstream-note" = "from-gateway" }, add = { "strict-transport-security" = "max-age=31536000" }, remove = ["x-served-by"] }
service = "web"
[[route]]
service = "web"
"#,
        &up,
    );
    let mut client = Client::new(gw.addr());
    let reply = client.get("/echo").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(header(&reply, "x-upstream-note"), ["from-gateway"]);
    assert_eq!(
        header(&reply, "strict-transport-security"),
        ["max-age=31536000"]
    );
    assert!(header(&reply, "x-served-by").is_empty());
    // Another route's responses are untouched.
    let reply = client.get("/other").await.unwrap();
    assert_eq!(header(&reply, "x-served-by"), ["a"]);
    assert!(header(&reply, "strict-transport-security").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_answers_without_the_upstream() {
    let up = Upstream::start("a");
    let gw = gateway(
        r#"
[[route]]
path_prefix = "/moved"
strip_prefix = "/moved"
redirect = { to = "https://new.example{path}{query}", status = 301 }
response_headers = { set = { "cache-control" = "max-age=60" } }
[[route]]
path = "/temporary"
redirect = { to = "/echo" }
[[route]]
service = "web"
"#,
        &up,
    );
    let mut client = Client::new(gw.addr());
    let reply = client.get("/moved/a/b?c=1").await.unwrap();
    assert_eq!(reply.status, 301);
    assert_eq!(header(&reply, "location"), ["https://new.example/a/b?c=1"]);
    assert_eq!(header(&reply, "cache-control"), ["max-age=60"]);
    let reply = client.get("/temporary").await.unwrap();
    assert_eq!(reply.status, 302, "302 unless the route says otherwise");
    assert_eq!(header(&reply, "location"), ["/echo"]);
    assert_eq!(up.hits(), 0, "the upstream never saw a redirected request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_generated_when_absent_and_kept_when_sent() {
    let up = Upstream::start("a");
    let gw = gateway(
        r#"
[[route]]
path_prefix = "/echo"
add_request_id = true
service = "web"
"#,
        &up,
    );
    let mut client = Client::new(gw.addr());
    let reply = client.get("/echo").await.unwrap();
    let sent = Echoed::of(&reply).all("x-request-id").join(",");
    assert_eq!(sent.len(), 36, "a UUID: {sent}");
    assert_eq!(header(&reply, "x-request-id"), [sent.as_str()]);
    let again = client.get("/echo").await.unwrap();
    assert_ne!(
        header(&again, "x-request-id"),
        [sent.as_str()],
        "one per request"
    );
    let reply = client
        .request("/echo", &[("x-request-id", "client-chosen-7")])
        .await
        .unwrap();
    assert_eq!(Echoed::of(&reply).all("x-request-id"), ["client-chosen-7"]);
    assert_eq!(header(&reply, "x-request-id"), ["client-chosen-7"]);
}
