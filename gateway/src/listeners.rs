//! Listening sockets: one per worker per address, all bound to the same port with
//! `SO_REUSEPORT`, so the kernel spreads connections across workers with no shared accept
//! queue (as NGINX's `reuseport` does).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// The client connections of one listening address, across every worker's socket.
#[derive(Debug, Default)]
pub struct ListenerLoad {
    live: AtomicUsize,
    refused: AtomicU64,
}

impl ListenerLoad {
    /// Counts a new connection in unless `max` are already open; the returned guard counts
    /// it out when dropped. Beyond the cap the connection is counted as refused.
    pub fn admit(self: &std::sync::Arc<Self>, max: Option<usize>) -> Option<Admitted> {
        let before = self.live.fetch_add(1, Ordering::Relaxed);
        if max.is_some_and(|max| before >= max) {
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Admitted(std::sync::Arc::clone(self)))
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// One open client connection, counted in its listener's load until dropped.
#[derive(Debug)]
pub struct Admitted(std::sync::Arc<ListenerLoad>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn connections_beyond_the_cap_are_refused_and_counted() {
        let load = Arc::new(ListenerLoad::default());
        let first = load.admit(Some(2)).unwrap();
        let second = load.admit(Some(2)).unwrap();
        assert!(load.admit(Some(2)).is_none());
        assert_eq!((load.live(), load.refused()), (2, 1));
        drop(first);
        let third = load.admit(Some(2)).unwrap();
        assert_eq!(load.live(), 2);
        drop((second, third));
        assert_eq!(load.live(), 0);
        assert!(load.admit(None).is_some(), "no cap");
    }
}
