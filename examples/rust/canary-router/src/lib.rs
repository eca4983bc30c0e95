//! A canary router: requests carrying the canary header go to the canary service, and so does
//! `percent`% of all other traffic; everything else stays on the route's own service.
//!
//! ```toml
//! [plugin.canary]
//! path = "canary_router.wasm"
//! config = { to = "api-v2", percent = 10, header = "x-canary" }
//! ```

use switchyard_sdk::{Host, Request, Router, Routing};

pub struct Canary {
    to: String,
    percent: u64,
    header: String,
}

impl Canary {
    pub fn from_config(config: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?;
        let to = v["to"]
            .as_str()
            .ok_or("config needs `to`: the canary service")?
            .to_owned();
        let percent = v["percent"].as_u64().unwrap_or(0);
        if percent > 100 {
            return Err(format!("percent must be 0 to 100, not {percent}"));
        }
        let header = v["header"]
            .as_str()
            .unwrap_or("x-canary")
            .to_ascii_lowercase();
        Ok(Canary {
            to,
            percent,
            header,
        })
    }
}

impl Router for Canary {
    fn new(config: &str, _host: &dyn Host) -> Result<(Self, Vec<String>), String> {
        let canary = Canary::from_config(config)?;
        let headers = vec![canary.header.clone()];
        Ok((canary, headers))
    }

    fn route(&mut self, request: &Request<'_>, host: &dyn Host) -> Routing {
        let asked = request
            .header(&self.header)
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        if asked || host.random() % 100 < self.percent {
            Routing::Service(self.to.clone())
        } else {
            Routing::Default
        }
    }
}

switchyard_sdk::router!(Canary);
