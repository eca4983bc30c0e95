//! Always picks the last upstream of the set.

use switchyard_sdk::{Balancer, BalancerOptions, Host, Loads, Pick, Upstream};

pub struct PickLast;

impl Balancer for PickLast {
    fn new(_config: &str, _host: &dyn Host) -> Result<(Self, BalancerOptions), String> {
        Ok((PickLast, BalancerOptions::sampled()))
    }

    fn set_upstreams(&mut self, _generation: u64, _upstreams: Vec<Upstream>) {}

    fn pick(&mut self, _request: &Pick<'_>, loads: &Loads<'_>, _host: &dyn Host) -> Option<usize> {
        loads.len().checked_sub(1)
    }
}

switchyard_sdk::balancer!(PickLast);
