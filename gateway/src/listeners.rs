//! Listening sockets: one per worker per address, all bound to the same port with
//! `SO_REUSEPORT`, so the kernel spreads connections across workers with no shared accept
//! queue (as NGINX's `reuseport` does).

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

const BACKLOG: i32 = 4096;

/// Binds `workers` sockets for each address. Port 0 is resolved once by the first bind and
/// reused for the rest. Returns the actual addresses and each worker's sockets.
pub fn bind(
    addrs: &[SocketAddr],
    workers: usize,
) -> std::io::Result<(Vec<SocketAddr>, Vec<Vec<TcpListener>>)> {
    let mut per_worker: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut actual = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let mut bound_addr = addr;
        for worker in per_worker.iter_mut() {
            let listener = bind_one(bound_addr)?;
            bound_addr = listener.local_addr()?;
            worker.push(listener);
        }
        actual.push(bound_addr);
    }
    Ok((actual, per_worker))
}

pub fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
