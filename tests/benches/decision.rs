//! Per-decision cost of a balancer: native built-ins vs Wasm plugins, at 3, 16 and 256
//! upstreams, through the same `Balancer::pick` the proxy calls (for Wasm: the warm
//! instance, the epoch deadline, packing the loads, metrics).
//!
//!     cargo bench -p switchyard-tests --bench decision
//!
//! Prints the median of 5 runs of 200,000 picks each, in ns per pick.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use switchyard::config::Config;
use switchyard::runtime_state::RuntimeState;
use switchyard::snapshot::Snapshot;
use switchyard_plugins::PickContext;
use switchyard_tests::plugins;

const PICKS: u32 = 200_000;
const RUNS: usize = 5;

fn snapshot(upstreams: usize, balancer: &str, plugin: Option<(&str, &str)>) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let ups: Vec<String> = (0..upstreams)
        .map(|i| format!("{{ addr = \"127.0.0.{}:{}\" }}", 1 + i / 250, 1000 + i))
        .collect();
    let mut text = format!(
        "listen = [\"127.0.0.1:0\"]\n[[route]]\nservice = \"s\"\n[service.s]\nbalancer = {balancer}\nupstreams = [{}]\n",
        ups.join(", ")
    );
    if let Some((krate, config)) = plugin {
        plugins::install(krate, dir.path(), "p.wasm");
        text.push_str(&format!(
            "[plugin.p]\npath = \"p.wasm\"\nconfig = \"{config}\"\n"
        ));
    }
    let config = Config::parse_in(&text, "bench", dir.path()).unwrap();
    Snapshot::build(config, 1, &RuntimeState::default(), 1).unwrap()
}

fn ns_per_pick(snapshot: &Snapshot) -> f64 {
    let balancer = &snapshot.services[0].tiers[0].balancer;
    let ctx = PickContext::default();
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PICKS {
                black_box(balancer.pick(black_box(&ctx)));
            }
            start.elapsed().as_nanos() as f64 / f64::from(PICKS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

/// (row label, the `balancer` value, the plugin crate and its config when it is a plugin)
type Case = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

fn main() {
    let cases: [Case; 5] = [
        ("native round_robin", "\"round_robin\"", None),
        ("native least_conn (scans all)", "\"least_conn\"", None),
        ("native p2c", "\"p2c\"", None),
        (
            "wasm least-loaded (packed loads, scans all)",
            "{ plugin = \"p\" }",
            Some(("least-loaded", "")),
        ),
        (
            "wasm fixture `first` (no loads: the call itself)",
            "{ plugin = \"p\" }",
            Some(("fixture-balancer", "first")),
        ),
    ];
    println!(
        "{:<50} {:>10} {:>10} {:>10}",
        "ns per pick", "N=3", "N=16", "N=256"
    );
    for (name, balancer, plugin) in cases {
        let row: Vec<f64> = [3, 16, 256]
            .into_iter()
            .map(|n| ns_per_pick(&snapshot(n, balancer, plugin)))
            .collect();
        println!(
            "{name:<50} {:>10.0} {:>10.0} {:>10.0}",
            row[0], row[1], row[2]
        );
    }
}
