//! A balancer whose `config` selects how it behaves, for the gateway's tests:
//! `first` always picks upstream 0; `loop` never returns; `grow` allocates without bound;
//! `trap` panics on every pick; `out-of-range` returns an index past the set;
//! `bad-init` rejects its config.

use switchyard_sdk::{Balancer, BalancerOptions, Host, Loads, Pick, Upstream};

pub enum Fixture {
    First,
    Loop,
    Grow(Vec<Vec<u8>>),
    Trap,
    OutOfRange,
}

impl Balancer for Fixture {
    fn new(config: &str, _host: &dyn Host) -> Result<(Self, BalancerOptions), String> {
        let mode = match config.trim() {
            "first" => Fixture::First,
            "loop" => Fixture::Loop,
            "grow" => Fixture::Grow(Vec::new()),
            "trap" => Fixture::Trap,
            "out-of-range" => Fixture::OutOfRange,
            other => return Err(format!("unknown fixture mode `{other}`")),
        };
        Ok((mode, BalancerOptions::sampled()))
    }

    fn set_upstreams(&mut self, _generation: u64, _upstreams: Vec<Upstream>) {}

    fn pick(&mut self, _request: &Pick<'_>, loads: &Loads<'_>, host: &dyn Host) -> Option<usize> {
        match self {
            Fixture::First => Some(0),
            Fixture::Loop => {
                // Depends on the host on every turn so the optimiser cannot remove it.
                let mut x = 0u64;
                while x != u64::MAX {
                    x = x.wrapping_add(host.random() | 1);
                }
                Some(0)
            }
            Fixture::Grow(hoard) => loop {
                hoard.push(vec![1u8; 1 << 20]);
            },
            Fixture::Trap => panic!("fixture: trap on every call"),
            Fixture::OutOfRange => Some(loads.len() + 7),
        }
    }
}

switchyard_sdk::balancer!(Fixture);
