//! Each worker thread's keep-alive connections to upstreams. Thread-local because every
//! worker runs its own single-threaded runtime: no lock, no cross-core cache traffic.
//! Indexed by [`PoolKey`], most recently used first (its socket is the warmest).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::h1::UpstreamConn;
use crate::runtime_state::PoolKey;

/// Idle connections kept per upstream per worker; beyond this a finished one is closed.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

struct Idle {
    conn: UpstreamConn,
    expires: Instant,
}

thread_local! {
    static IDLE: RefCell<Vec<Vec<Idle>>> = const { RefCell::new(Vec::new()) };
}

/// A pooled connection to `key` that is still open and not past its idle time.
pub fn take(key: PoolKey) -> Option<UpstreamConn> {
    IDLE.with_borrow_mut(|idle| {
        let list = idle.get_mut(key as usize)?;
        let now = Instant::now();
        while let Some(mut idle) = list.pop() {
            if idle.expires > now && idle.conn.idle_and_open() {
                return Some(idle.conn);
            }
        }
        None
    })
}

/// Returns a connection whose response has been read to the end.
pub fn put(key: PoolKey, conn: UpstreamConn, idle_timeout: Duration) {
    // `try_with`: a body dropped while the thread is tearing down just closes its connection.
    let _ = IDLE.try_with(|idle| {
        let mut idle = idle.borrow_mut();
        let key = key as usize;
        if idle.len() <= key {
            idle.resize_with(key + 1, Vec::new);
        }
        let list = &mut idle[key];
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(Idle {
                conn,
                expires: Instant::now() + idle_timeout,
            });
        }
    });
}

/// Closes connections idle past their timeout, so an unused upstream's sockets go away
/// even when no request comes to take them.
pub fn evict_expired() {
    IDLE.with_borrow_mut(|idle| {
        let now = Instant::now();
        for list in idle.iter_mut() {
            list.retain_mut(|c| c.expires > now && c.conn.idle_and_open());
        }
    });
}

/// Number of idle connections this worker holds (for tests and status).
pub fn idle_count() -> usize {
    IDLE.with_borrow(|idle| idle.iter().map(Vec::len).sum())
}
