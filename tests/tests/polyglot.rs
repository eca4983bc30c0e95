//! Issue 14, acceptance 0: policies built by the standard C, JavaScript and Python
//! toolchains with their default options load with the pooling allocator on and decide
//! correctly; the checks refuse a component whose export has the wrong type, naming the file
//! and the function.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use switchyard::config::Config;
use switchyard::runtime_state::RuntimeState;
use switchyard::snapshot::Snapshot;
use switchyard_tests::{Client, TestGateway, Upstream, polyglot};

/// A gateway whose one service is balanced by the component at `wasm`.
fn balanced_by(wasm: &Path, ups: &[Upstream; 3], config: &str) -> TestGateway {
    try_balanced_by(wasm, ups, config).expect("the plugin loads")
}

/// Like [`balanced_by`]; the error is why the gateway did not start.
fn try_balanced_by(wasm: &Path, ups: &[Upstream; 3], config: &str) -> Result<TestGateway, String> {
    let list: Vec<String> = ups
        .iter()
        .map(|u| format!("{{ addr = \"{}\" }}", u.addr))
        .collect();
    TestGateway::start_with_plugins_from(
        &format!(
            "[[route]]\nservice = \"web\"\n[service.web]\nbalancer = {{ plugin = \"lb\" }}\n\
             upstreams = [{}]\n[plugin.lb]\npath = \"lb.wasm\"\nconfig = \"{config}\"\n",
            list.join(", ")
        ),
        &[(wasm, "lb.wasm")],
    )
}

/// 30 requests are spread 10/10/10 in upstream order, and the plugin never failed.
async fn rotates(gw: &TestGateway, ups: &[Upstream; 3]) {
    let mut client = Client::new(gw.addr());
    let mut order = Vec::new();
    for _ in 0..30 {
        let r = client.get("/").await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        order.push(r.served_by().to_owned());
    }
    let hits: Vec<usize> = ups.iter().map(Upstream::hits).collect();
    assert_eq!(hits, [10, 10, 10], "{order:?}");
    let status = gw.status().await;
    let metrics = &status["plugins"][0]["metrics"];
    assert_eq!(metrics["fallbacks"], 0, "{metrics}");
    assert_eq!(metrics["traps"], 0, "{metrics}");
    assert_eq!(metrics["timeouts"], 0, "{metrics}");
    assert_eq!(metrics["limit_hits"], 0, "{metrics}");
    assert_eq!(status["services"][0]["balancer"], "plugin:lb");
    assert_eq!(
        switchyard::wasm::pooling_allocator(),
        Some(true),
        "instances must come from the pooling allocator"
    );
}

fn three() -> [Upstream; 3] {
    [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_plugin_using_printf_and_malloc_balances() {
    let wasm = polyglot::c("round-robin", "balancer-plugin");
    let ups = three();
    let gw = balanced_by(&wasm, &ups, "");
    rotates(&gw, &ups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_javascript_build_balances() {
    let wasm = polyglot::js("round-robin/balancer.js", "balancer-plugin");
    let ups = three();
    let gw = balanced_by(&wasm, &ups, "round-robin");
    rotates(&gw, &ups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_python_build_balances() {
    let wasm = polyglot::python("round_robin", "balancer-plugin");
    let ups = three();
    let gw = balanced_by(&wasm, &ups, "round-robin");
    rotates(&gw, &ups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_that_throws_is_reported_by_its_message_not_as_a_timeout() {
    let wasm = polyglot::js("round-robin/balancer.js", "balancer-plugin");
    let ups = three();
    let refused = try_balanced_by(&wasm, &ups, "no-such-mode");
    let Err(message) = refused else {
        panic!("a config the plugin's init throws on was accepted");
    };
    assert!(message.contains("unknown config"), "{message}");
    assert!(message.contains("lb.wasm"), "{message}");
    assert!(!message.contains("deadline"), "{message}");
}

#[test]
fn the_checks_refuse_a_wrong_export_type_naming_file_and_function() {
    // The JavaScript example built against a WIT whose `pick` returns option<u64>.
    let wit = tempfile::tempdir().unwrap();
    let ours =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/policy.wit"))
            .unwrap();
    let wrong = ours.replace(
        "loads: option<list<u32>>) -> option<u32>;",
        "loads: option<list<u32>>) -> option<u64>;",
    );
    assert_ne!(ours, wrong, "the pick signature moved: update this test");
    std::fs::write(wit.path().join("policy.wit"), wrong).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let built = polyglot::js_against("round-robin/balancer.js", "balancer-plugin", wit.path());
    let file = dir.path().join("wide-pick.wasm");
    std::fs::copy(&built, &file).unwrap();

    // `switchyard plugin check FILE`
    let verdicts =
        switchyard::wasm::check_file(&file, &switchyard::config::PluginCache::Off).unwrap();
    let (_, verdict) = &verdicts[0];
    let why = verdict.as_ref().unwrap_err();
    assert!(why.contains("`pick`"), "{why}");
    assert!(why.contains("wrong type"), "{why}");

    // `switchyard check CONFIG` builds what a reload would.
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "listen = [\"127.0.0.1:0\"]\nplugin_cache = \"off\"\n[[route]]\nservice = \"web\"\n[service.web]\n\
         balancer = { plugin = \"lb\" }\nupstreams = [{ addr = \"127.0.0.1:9\" }]\n\
         [plugin.lb]\npath = \"wide-pick.wasm\"\n",
    )
    .unwrap();
    let config = Config::load(&config).unwrap();
    let Err(e) = Snapshot::build(config, 0, &RuntimeState::default(), 1) else {
        panic!("a wrong export type was accepted");
    };
    let message = e.to_string();
    assert!(message.contains("wide-pick.wasm"), "{message}");
    assert!(message.contains("`pick`"), "{message}");
}
