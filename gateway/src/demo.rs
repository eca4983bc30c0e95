//! `switchyard demo`: the gateway on a built-in config in front of three tiny in-process
//! upstreams, so a newcomer can `curl` it at once and watch the balancing.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Response, header::HeaderValue};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub const UPSTREAM_NAMES: [&str; 3] = ["demo-1", "demo-2", "demo-3"];

/// The built-in config for the given upstream addresses.
pub fn config_text(listen: SocketAddr, admin: SocketAddr, upstreams: &[SocketAddr; 3]) -> String {
    let [a, b, c] = upstreams;
    format!(
        r#"# switchyard demo: three in-process upstreams named demo-1..3
listen = ["{listen}"]
admin = "{admin}"

[[route]]
name = "weighted"
path_prefix = "/weighted"
service = "weighted"

[[route]]
name = "sticky"
path_prefix = "/sticky"
service = "sticky"

[[route]]
name = "default"
service = "demo"

[service.demo]
balancer = "round_robin"
upstreams = [{{ addr = "{a}" }}, {{ addr = "{b}" }}, {{ addr = "{c}" }}]

[service.weighted]
balancer = "smooth_weighted"
upstreams = [{{ addr = "{a}", weight = 5 }}, {{ addr = "{b}", weight = 1 }}, {{ addr = "{c}", weight = 1 }}]

[service.sticky]
balancer = "hash"
hash_key = "header:x-user"
upstreams = [{{ addr = "{a}" }}, {{ addr = "{b}" }}, {{ addr = "{c}" }}]
"#
    )
}

/// Starts the three demo upstreams on loopback ephemeral ports, on their own thread.
pub fn start_upstreams() -> std::io::Result<[SocketAddr; 3]> {
    let listeners = [0, 1, 2].map(|_| std::net::TcpListener::bind("127.0.0.1:0"));
    let [a, b, c] = listeners;
    let listeners = [a?, b?, c?];
    let mut addrs = [SocketAddr::from(([127, 0, 0, 1], 0)); 3];
    for (i, l) in listeners.iter().enumerate() {
        l.set_nonblocking(true)?;
        addrs[i] = l.local_addr()?;
    }
    std::thread::Builder::new()
        .name("switchyard-demo-upstreams".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(error = %e, "demo upstream runtime failed"),
            };
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for (listener, name) in listeners.into_iter().zip(UPSTREAM_NAMES) {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => tasks.push(tokio::spawn(serve_upstream(l, name))),
                        Err(e) => tracing::error!(error = %e, "demo upstream failed"),
                    }
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        })?;
    Ok(addrs)
}

async fn serve_upstream(listener: tokio::net::TcpListener, name: &'static str) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = service_fn(move |_req| async move {
                let mut r = Response::new(Full::new(Bytes::from(format!("hello from {name}\n"))));
                r.headers_mut()
                    .insert("x-served-by", HeaderValue::from_static(name));
                Ok::<_, Infallible>(r)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
