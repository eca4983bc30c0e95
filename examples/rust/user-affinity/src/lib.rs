//! User affinity: every request carrying the user-id header belongs to that user, and the
//! gateway keeps each user on the upstream first chosen for them. The client is told which
//! upstream it is pinned to in a cookie (useful for debugging and for clients that cache).

use switchyard_sdk::{Affinity, Host, Request};

pub struct UserAffinity {
    header: String,
    cookie: String,
}

impl Affinity for UserAffinity {
    fn new(config: &str, _host: &dyn Host) -> Result<(Self, Vec<String>), String> {
        let v: serde_json::Value = if config.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?
        };
        let header = v["header"]
            .as_str()
            .unwrap_or("x-user-id")
            .to_ascii_lowercase();
        let cookie = v["cookie"].as_str().unwrap_or("sy_upstream").to_owned();
        let headers = vec![header.clone()];
        Ok((UserAffinity { header, cookie }, headers))
    }

    fn key(&mut self, request: &Request<'_>, _host: &dyn Host) -> Option<String> {
        let user = request.header(&self.header)?.trim();
        (!user.is_empty()).then(|| format!("user:{user}"))
    }

    fn pinned(&mut self, _key: &str, upstream: &str, _host: &dyn Host) -> Option<String> {
        let value: String = upstream
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Some(format!("{}={value}; Path=/; HttpOnly", self.cookie))
    }
}

switchyard_sdk::affinity!(UserAffinity);
