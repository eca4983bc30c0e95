//! Retry on another upstream: an idempotent request that failed to connect, or got 502 or
//! 503, is retried on an upstream not tried yet, at most `max_retries` times. A request
//! that was never sent (connection refused) is retried whatever its method.

use switchyard_sdk::{Attempt, Decision, Failover, Host, Outcome};

pub struct RetryOther {
    max_retries: u32,
}

impl Failover for RetryOther {
    fn new(config: &str, _host: &dyn Host) -> Result<Self, String> {
        let v: serde_json::Value = if config.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?
        };
        let max_retries = v["max_retries"].as_u64().unwrap_or(2);
        let max_retries = u32::try_from(max_retries).map_err(|_| "max_retries is too large")?;
        Ok(RetryOther { max_retries })
    }

    fn decide(&mut self, attempt: &Attempt, _host: &dyn Host) -> Decision {
        let retryable = match attempt.outcome {
            Outcome::ConnectFailed => true,
            Outcome::Status(502 | 503) => attempt.idempotent,
            Outcome::TimedOut | Outcome::Broken | Outcome::Status(_) => false,
        };
        if retryable && attempt.number <= self.max_retries && attempt.untried > 0 {
            Decision::RetryOther
        } else {
            Decision::Accept
        }
    }
}

switchyard_sdk::failover!(RetryOther);
