//! A failover plugin behind the native [`Failover`] trait.

use std::sync::Arc;

use switchyard_plugins::{Attempt, AttemptOutcome, Failover, FailoverDecision, NoRetry};

use super::bindings::failover::FailoverPlugin;
use super::bindings::failover::exports::switchyard::policy::failover::{
    Attempt as WitAttempt, Decision, Outcome,
};
use super::exports;
use super::instances::Instances;
use super::plugin::{LoadedPlugin, PluginError, WorldPre};
use crate::config::{OnFailure, PolicyKind};

pub struct WasmFailover {
    instances: Instances<FailoverPlugin>,
    fail_closed: bool,
}

pub fn build(plugin: &Arc<LoadedPlugin>, workers: usize) -> Result<Box<dyn Failover>, PluginError> {
    let init_error = |message: String| plugin.init_error(message);
    let WorldPre::Failover(pre) = &plugin.pre else {
        return Err(init_error("is not a failover plugin".to_owned()));
    };
    let pre = pre.clone();
    let setup = Box::new(move |plugin: &LoadedPlugin, store: &mut _| {
        let bindings = exports::instantiate(
            PolicyKind::Failover,
            pre.instance_pre(),
            store,
            |store, instance| FailoverPlugin::new(store, instance),
        )?;
        if let Err(message) = bindings
            .switchyard_policy_failover()
            .call_init(&mut *store, &plugin.config.config)?
        {
            wasmtime::bail!("init rejected the config: {message}");
        }
        Ok(bindings)
    });
    let instances = Instances::new(Arc::clone(plugin), Arc::from(Vec::new()), workers, setup)
        .map_err(init_error)?;
    Ok(Box::new(WasmFailover {
        instances,
        fail_closed: plugin.config.on_failure == OnFailure::FailClosed,
    }))
}

impl Failover for WasmFailover {
    fn decide(&self, attempt: &Attempt) -> FailoverDecision {
        let wit = WitAttempt {
            number: attempt.number,
            upstream: attempt.upstream,
            outcome: match attempt.outcome {
                AttemptOutcome::ConnectFailed => Outcome::ConnectFailed,
                AttemptOutcome::TimedOut => Outcome::TimedOut,
                AttemptOutcome::Broken => Outcome::Broken,
                AttemptOutcome::Status(s) => Outcome::Status(s),
            },
            sent: attempt.sent,
            idempotent: attempt.idempotent,
            upstreams: attempt.upstreams,
            untried: attempt.untried,
        };
        let answer = self
            .instances
            .call(|plugin, store| plugin.switchyard_policy_failover().call_decide(store, wit));
        match answer {
            Ok(Decision::Accept) => FailoverDecision::Accept,
            Ok(Decision::RetrySame) => FailoverDecision::RetrySame,
            Ok(Decision::RetryOther) => FailoverDecision::RetryOther,
            Ok(Decision::GiveUp(status)) if (200..=599).contains(&status) => {
                FailoverDecision::GiveUp(status)
            }
            Ok(Decision::GiveUp(status)) => {
                self.instances
                    .invalid(&format!("give-up with status {status}"));
                self.fall_back(attempt)
            }
            Err(_) => self.fall_back(attempt),
        }
    }
}

impl WasmFailover {
    fn fall_back(&self, attempt: &Attempt) -> FailoverDecision {
        if self.fail_closed {
            return FailoverDecision::GiveUp(503);
        }
        self.instances.plugin.runtime.metrics.fell_back();
        NoRetry.decide(attempt)
    }
}
