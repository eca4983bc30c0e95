//! Acceptance 4: malformed configs get a located, specific error; malformed requests get
//! 400 and the gateway keeps serving.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use switchyard::config::Config;
use switchyard_tests::{Client, TestGateway, Upstream};

const GOOD_TAIL: &str = "[service.web]\nupstreams = [{ addr = \"127.0.0.1:9000\" }]\n";

/// (what is wrong, config text, expected line:column, words the message must contain)
type Case = (&'static str, String, (usize, usize), Vec<&'static str>);

fn broken_configs() -> Vec<Case> {
    let head = "listen = [\"127.0.0.1:8080\"]\n[[route]]\nservice = \"web\"\n";
    vec![
        (
            "client_timeout out of range",
            format!("listen = [\"127.0.0.1:8080\"]\nclient_timeout = \"0s\"\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (2, 18),
            vec!["client_timeout must be from 1s to 1h"],
        ),
        (
            "client_timeout not a duration",
            format!("listen = [\"127.0.0.1:8080\"]\nclient_timeout = \"soon\"\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (2, 18),
            vec!["client_timeout", "30s"],
        ),
        (
            "trusted_proxies entry not a network",
            format!("listen = [\"127.0.0.1:8080\"]\ntrusted_proxies = [\"10.0.0.0/8\", \"lan\"]\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (2, 34),
            vec!["trusted_proxies entry `lan`", "10.0.0.0/8"],
        ),
        (
            "escaped_slashes unknown",
            format!("listen = [\"127.0.0.1:8080\"]\nescaped_slashes = \"decode\"\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (2, 19),
            vec!["escaped_slashes `decode`", "\"keep\" or \"reject\""],
        ),
        (
            "header_underscores unknown",
            format!("listen = [\"127.0.0.1:8080\"]\nheader_underscores = \"allow\"\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (2, 22),
            vec!["header_underscores `allow`", "\"drop\" or \"keep\""],
        ),
        (
            "syntax error",
            format!("{head}[service.web\nupstreams = []\n"),
            (4, 13),
            vec!["unclosed table", "expected `]`"],
        ),
        (
            "unknown field",
            format!("{head}{GOOD_TAIL}retries = 3\n"),
            (6, 1),
            vec!["unknown field `retries`", "balancer", "upstreams"],
        ),
        (
            "unknown balancer",
            format!(
                "{head}[service.web]\nbalancer = \"fastest\"\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n"
            ),
            (5, 12),
            vec![
                "unknown balancer `fastest`",
                "round_robin",
                "smooth_weighted",
                "least_conn",
                "p2c",
                "hash",
                "ewma",
                "random",
            ],
        ),
        (
            "upstream without port",
            format!("{head}[service.web]\nupstreams = [{{ addr = \"10.0.0.1\" }}]\n"),
            (5, 23),
            vec!["has no port"],
        ),
        (
            "bad listen address",
            format!("listen = [\"localhost:80:80\"]\n[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (1, 11),
            vec!["not an IP:PORT"],
        ),
        (
            "duplicate service",
            format!("{head}{GOOD_TAIL}{GOOD_TAIL}"),
            (6, 10),
            vec!["`web` is defined twice"],
        ),
        (
            "duplicate route name",
            format!(
                "listen = [\"127.0.0.1:8080\"]\n[[route]]\nname = \"r\"\nservice = \"web\"\n[[route]]\nname = \"r\"\nservice = \"web\"\n{GOOD_TAIL}"
            ),
            (6, 8),
            vec!["duplicate route name `r`"],
        ),
        (
            "duplicate upstream",
            format!(
                "{head}[service.web]\nupstreams = [{{ addr = \"127.0.0.1:1\" }}, {{ addr = \"127.0.0.1:1\" }}]\n"
            ),
            (5, 49),
            vec!["lists upstream `127.0.0.1:1` twice"],
        ),
        (
            "route to missing service",
            format!("listen = [\"127.0.0.1:8080\"]\n[[route]]\nservice = \"nope\"\n{GOOD_TAIL}"),
            (3, 11),
            vec!["service `nope`", "not defined", "services: web"],
        ),
        (
            "zero weight",
            format!(
                "{head}[service.web]\nupstreams = [{{ addr = \"127.0.0.1:1\", weight = 0 }}]\n"
            ),
            (5, 47),
            vec!["weight must be from 1"],
        ),
        (
            "bad duration",
            format!("{head}[timeouts]\nconnect = \"soon\"\n{GOOD_TAIL}"),
            (5, 11),
            vec!["soon"],
        ),
        (
            "lowercase method",
            format!(
                "listen = [\"127.0.0.1:8080\"]\n[[route]]\nmethods = [\"get\"]\nservice = \"web\"\n{GOOD_TAIL}"
            ),
            (3, 12),
            vec!["not an HTTP method"],
        ),
        (
            "undefined plugin",
            format!(
                "{head}[service.web]\nbalancer = {{ plugin = \"nope\" }}\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n"
            ),
            (5, 12),
            vec![
                "names plugin `nope`",
                "not defined",
                "plugins: none are defined",
            ],
        ),
        (
            "malformed policy slot",
            format!(
                "{head}[service.web]\nbalancer = {{ plugins = \"x\" }}\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n"
            ),
            (5, 12),
            vec![
                "balancer must be one of",
                "least_conn",
                "{ plugin = \"NAME\" }",
            ],
        ),
        (
            "plugin file missing",
            format!(
                "{head}[service.web]\nbalancer = {{ plugin = \"p\" }}\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n[plugin.p]\npath = \"missing.wasm\"\n"
            ),
            (8, 8),
            vec!["plugin `p`", "cannot read", "missing.wasm"],
        ),
        (
            "plugin in two kinds of slot",
            "listen = [\"127.0.0.1:8080\"]\n[[route]]\nservice = \"web\"\nrouter = { plugin = \"p\" }\n[service.web]\nbalancer = { plugin = \"p\" }\nupstreams = [{ addr = \"127.0.0.1:9000\" }]\n[plugin.p]\npath = \"Cargo.toml\"\n"
                .to_owned(),
            (4, 10),
            vec![
                "plugin `p` is already used as a balancer",
                "cannot also be a router",
            ],
        ),
        (
            "bad on_failure",
            format!(
                "{head}[service.web]\nbalancer = {{ plugin = \"p\" }}\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n[plugin.p]\npath = \"Cargo.toml\"\non_failure = \"sometimes\"\n"
            ),
            (9, 14),
            vec!["on_failure `sometimes`", "fail_open", "fail_closed"],
        ),
        (
            "plugin memory too large",
            format!(
                "{head}[service.web]\nbalancer = {{ plugin = \"p\" }}\nupstreams = [{{ addr = \"127.0.0.1:9000\" }}]\n[plugin.p]\npath = \"Cargo.toml\"\nmemory = \"4GiB\"\n"
            ),
            (9, 10),
            vec!["memory must be from 64KiB to 1GiB"],
        ),
        (
            "missing listen",
            format!("[[route]]\nservice = \"web\"\n{GOOD_TAIL}"),
            (1, 1),
            vec!["missing field `listen`"],
        ),
    ]
}

#[test]
fn every_broken_config_names_its_place_and_the_fix() {
    for (what, text, (line, column), words) in broken_configs() {
        let err = Config::parse(&text, "gw.toml")
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted\n{text}"));
        let msg = err.to_string();
        if line > 0 {
            assert_eq!(
                err.location(),
                Some((line, column)),
                "{what}: wrong place in `{msg}`"
            );
            assert!(
                msg.starts_with(&format!("gw.toml:{line}:{column}: ")),
                "{what}: `{msg}`"
            );
        } else {
            assert!(msg.starts_with("gw.toml"), "{what}: `{msg}`");
        }
        for w in words {
            assert!(msg.contains(w), "{what}: `{msg}` lacks `{w}`");
        }
    }
}

/// Loads an example config; one naming plugins is loaded from a temp copy with the freshly
/// built plugins next to it under `plugins/`, as its comment tells users to do.
fn load_example(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    if !text.contains("[plugin.") {
        Config::load(path).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    for krate in [
        "canary-router",
        "least-loaded",
        "user-affinity",
        "retry-failover",
    ] {
        let file = format!("{}.wasm", krate.replace('-', "_"));
        switchyard_tests::plugins::install(krate, &dir.path().join("plugins"), &file);
    }
    let copy = dir.path().join(path.file_name().unwrap());
    // Compiled plugins are cached in the temporary directory, not the developer's home.
    std::fs::write(&copy, format!("plugin_cache = \"plugin-cache\"\n{text}")).unwrap();
    let config = Config::load(&copy).unwrap_or_else(|e| panic!("{e}"));
    // The plugins must also compile and initialise: build a real snapshot.
    switchyard::snapshot::Snapshot::build(config, 1, &Default::default(), 1)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn every_example_config_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load_example(&path);
            checked += 1;
        }
    }
    assert!(checked >= 3, "found only {checked} example configs");
    let demo = switchyard::demo::config_text(
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        &["127.0.0.1:3".parse().unwrap(); 3],
    );
    assert!(
        Config::parse(&demo, "demo").is_err(),
        "duplicate upstreams must be rejected even in the demo"
    );
    let demo = switchyard::demo::config_text(
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        &["127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5"].map(|a| a.parse().unwrap()),
    );
    Config::parse(&demo, "demo").unwrap();
}

/// Sends raw bytes and returns the status line of the answer.
fn raw_status(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = vec![0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_never_break_the_gateway() {
    let up = Upstream::start("a");
    let gw = TestGateway::single_service("round_robin", &[&up], "");
    let addr = gw.addr();
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "garbage request line",
            b"GARBAGE\r\n\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "bad method token",
            b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "header without colon",
            b"GET / HTTP/1.1\r\nHost t\r\n\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "bad content-length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "two content-lengths",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"
                .to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "missing Host on HTTP/1.1",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            &["HTTP/1.1 400"],
        ),
        (
            "oversized header",
            long_header.into_bytes(),
            &["HTTP/1.1 431", "HTTP/1.1 400"],
        ),
        (
            "unsupported version",
            b"GET / HTTP/3.0\r\nHost: t\r\n\r\n".to_vec(),
            &["HTTP/1.1 400", "HTTP/1.1 505"],
        ),
    ];
    for (what, bytes, allowed) in cases {
        let line = tokio::task::spawn_blocking(move || raw_status(addr, &bytes))
            .await
            .unwrap();
        assert!(
            allowed
                .iter()
                .any(|a| line.starts_with(a) && (!a.is_empty() || line.is_empty())),
            "{what}: got `{line}`"
        );
    }
    // HTTP/1.0 without Host is legal and served.
    let line = tokio::task::spawn_blocking(move || raw_status(addr, b"GET / HTTP/1.0\r\n\r\n"))
        .await
        .unwrap();
    assert!(
        line.starts_with("HTTP/1.0 200") || line.starts_with("HTTP/1.1 200"),
        "HTTP/1.0: `{line}`"
    );
    // Still serving.
    assert_eq!(Client::new(addr).get("/").await.unwrap().served_by(), "a");
}
