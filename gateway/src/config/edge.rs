//! How the edge treats what clients send before anything is routed: path normalisation,
//! which peers may speak for a client (`trusted_proxies`), and field names with `_`.

use std::net::IpAddr;

use ipnet::IpNet;
use toml::Spanned;

use super::ConfigError;
use super::raw::RawConfig;
use super::validate::Ctx;

/// What `%2F` (`/`) and `%5C` (`\`) inside a path segment do. They are never decoded: a
/// decoded one would change which segments the router sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Passed on as sent (hex upper-cased); routing treats them as part of their segment.
    Keep,
    /// Answered 400.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRules {
    /// Off: requests are routed and forwarded by the path exactly as sent.
    pub normalize: bool,
    pub merge_slashes: bool,
    pub escaped_slashes: EscapedSlashes,
}

impl Default for PathRules {
    fn default() -> Self {
        Self {
            normalize: true,
            merge_slashes: false,
            escaped_slashes: EscapedSlashes::Keep,
        }
    }
}

/// The rules for what a client's request may claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestRules {
    pub path: PathRules,
    /// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Real-IP` are believed. Empty (the
    /// default): nobody's; the gateway states them itself.
    pub trusted_proxies: Vec<IpNet>,
    /// Field names containing `_` are dropped (as NGINX does), so `X_Forwarded_For` or
    /// `Content_Length` never reach a backend that reads `_` and `-` alike.
    pub drop_underscored: bool,
}

impl RequestRules {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        !self.trusted_proxies.is_empty() && self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

pub(super) fn request_rules(cx: &Ctx<'_>, raw: &RawConfig) -> Result<RequestRules, ConfigError> {
    let escaped_slashes = match raw.escaped_slashes.as_ref() {
        None => EscapedSlashes::Keep,
        Some(s) => match s.get_ref().as_str() {
            "keep" => EscapedSlashes::Keep,
            "reject" => EscapedSlashes::Reject,
            other => {
                return cx.err_at(
                    s,
                    format!("escaped_slashes `{other}` is not valid: write \"keep\" or \"reject\""),
                );
            }
        },
    };
    let drop_underscored = match raw.header_underscores.as_ref() {
        None => true,
        Some(s) => match s.get_ref().as_str() {
            "drop" => true,
            "keep" => false,
            other => {
                return cx.err_at(
                    s,
                    format!(
                        "header_underscores `{other}` is not valid: write \"drop\" or \"keep\""
                    ),
                );
            }
        },
    };
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .map(|net| trusted_net(cx, net))
        .collect::<Result<_, _>>()?;
    Ok(RequestRules {
        path: PathRules {
            normalize: raw.normalize_path.unwrap_or(true),
            merge_slashes: raw.merge_slashes.unwrap_or(false),
            escaped_slashes,
        },
        trusted_proxies,
        drop_underscored,
    })
}

/// `10.0.0.0/8`, or a bare address meaning just itself.
fn trusted_net(cx: &Ctx<'_>, raw: &Spanned<String>) -> Result<IpNet, ConfigError> {
    let text = raw.get_ref().trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    match text.parse::<IpAddr>() {
        Ok(addr) => Ok(IpNet::from(addr)),
        Err(_) => cx.err_at(
            raw,
            format!(
                "trusted_proxies entry `{text}` is not an address or network: write e.g. \"10.0.0.0/8\", \"127.0.0.1\" or \"fd00::/8\""
            ),
        ),
    }
}
