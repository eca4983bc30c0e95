//! Each worker's spare client buffers. An idle keep-alive connection holds none: its read
//! buffer and its per-request scratch go back here when a request is done and the socket
//! has nothing more, and are taken again when it becomes readable. So 100,000 idle clients
//! cost their sockets and tasks, not 100,000 sets of buffers. Thread-local because each
//! worker is one thread with its own runtime (no lock); bounded, so a burst's buffers do
//! not stay allocated after it.

use std::cell::RefCell;

use bytes::BytesMut;

use super::Scratch;

/// Spares kept per worker: enough for the connections busy at once on one core.
const MAX_SPARE: usize = 256;
/// A buffer that grew past this (a large body streamed through it) is freed, not kept.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

thread_local! {
    static READ_BUFFERS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static SCRATCH: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
}

pub fn read_buffer() -> BytesMut {
    READ_BUFFERS
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps an empty read buffer for the next connection that reads.
pub fn give_read_buffer(buf: BytesMut) {
    if buf.is_empty() && buf.capacity() <= MAX_KEPT_CAPACITY {
        let _ = READ_BUFFERS.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < MAX_SPARE {
                spare.push(buf);
            }
        });
    }
}

pub fn scratch() -> Scratch {
    SCRATCH
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub fn give_scratch(scratch: Scratch) {
    if scratch.out.capacity() <= MAX_KEPT_CAPACITY {
        let _ = SCRATCH.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < MAX_SPARE {
                spare.push(scratch);
            }
        });
    }
}
