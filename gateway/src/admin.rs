//! The admin listener (loopback by default): liveness, readiness, status and reload.
//! Not on the data path; simplicity wins over speed here.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use switchyard_plugins::load::DEFAULT_EWMA_DECAY;

use crate::config::{BalancerChoice, OnFailure};
use crate::gateway::Shared;

pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/ready") if shared.draining.load(Ordering::Relaxed) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        }
        (&Method::GET, "/ready") => text(StatusCode::OK, "ready\n"),
        (&Method::GET, "/status") => json_response(StatusCode::OK, &status(shared)),
        (&Method::POST, "/reload") => {
            let worker = Arc::clone(shared);
            match tokio::task::spawn_blocking(move || worker.reload()).await {
                Ok(report) => {
                    let code = if report.ok {
                        StatusCode::OK
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    json_response(code, &json!(report))
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("reload task failed: {e}\n"),
                ),
            }
        }
        (_, "/health" | "/ready" | "/status" | "/reload") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /health, /ready, /status or POST /reload\n",
        ),
    }
}

fn status(shared: &Shared) -> serde_json::Value {
    let snapshot = shared.snapshots.load();
    let now = Instant::now();
    let (ok, failed) = shared.reloads();
    let config = &snapshot.config;
    let services: Vec<_> = snapshot
        .services
        .iter()
        .zip(&config.services)
        .map(|(s, c)| {
            let upstreams: Vec<_> = s
                .upstreams
                .iter()
                .map(|u| {
                    json!({
                        "addr": &*u.id,
                        "resolved": u.addr.to_string(),
                        "weight": u.weight,
                        "tier": u.tier,
                        "in_flight": u.load.in_flight(),
                        "ewma_ms": u.load.ewma_nanos(now, DEFAULT_EWMA_DECAY) / 1e6,
                        "requests": u.load.requests(),
                        "failures": u.load.failures(),
                    })
                })
                .collect();
            let balancer = match c.balancer {
                BalancerChoice::Native(kind) => kind.name().to_owned(),
                BalancerChoice::Plugin(i) => format!("plugin:{}", config.plugins[i].name),
            };
            json!({ "name": s.name, "balancer": balancer, "retries": s.retries, "upstreams": upstreams })
        })
        .collect();
    json!({
        "generation": snapshot.generation,
        "config": shared.config_path(),
        "uptime_secs": shared.started.elapsed().as_secs(),
        "workers": shared.workers,
        "listen": shared.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "listeners": shared.listen.iter().zip(&shared.listener_loads).map(|(addr, load)| json!({
            "addr": addr.to_string(),
            "connections": load.live(),
            "refused": load.refused(),
        })).collect::<Vec<_>>(),
        "max_connections": snapshot.config.max_connections,
        "reloads": { "ok": ok, "failed": failed, "last": *shared.last_reload.lock() },
        "routes": snapshot.config.routes.iter().map(|r| route_status(&snapshot.config, r)).collect::<Vec<_>>(),
        "services": services,
        "plugins": plugins(&snapshot),
    })
}

fn route_status(
    config: &crate::config::Config,
    route: &crate::config::RouteConfig,
) -> serde_json::Value {
    match route.service() {
        Some(i) => json!({"name": route.name, "service": config.services[i].name}),
        None => json!({"name": route.name, "redirect": true}),
    }
}

fn plugins(snapshot: &crate::snapshot::Snapshot) -> Vec<serde_json::Value> {
    snapshot
        .plugins
        .iter()
        .flatten()
        .map(|p| {
            json!({
                "name": &*p.name,
                "kind": p.kind.slot(),
                "file": p.config.path.display().to_string(),
                "digest": format!("{:032x}", p.digest),
                "on_failure": match p.config.on_failure {
                    OnFailure::FailOpen => "fail_open",
                    OnFailure::FailClosed => "fail_closed",
                },
                "memory_bytes": p.config.memory,
                "deadline_ms": p.config.deadline.as_secs_f64() * 1e3,
                "metrics": p.runtime.metrics.to_json(),
            })
        })
        .collect()
}

fn text(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json_response(code: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
