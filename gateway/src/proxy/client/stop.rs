//! The worker telling its idle client connections to close. Single-threaded (one signal per
//! worker), so a waiting connection costs a flag test per poll: no lock, unlike a `Notify`
//! future that takes its mutex on every poll.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct StopSignal {
    stopping: Cell<bool>,
    /// The wakers of the connections waiting; `None` marks a free slot.
    waiters: RefCell<Vec<Option<Waker>>>,
}

impl StopSignal {
    pub fn stop(&self) {
        self.stopping.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters.into_iter().flatten() {
            waker.wake();
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Completes once `stop` was called. Create it once per connection and poll it as often
    /// as needed: it registers its task's waker on the first poll only.
    pub fn wait(&self) -> StopWait<'_> {
        StopWait {
            signal: self,
            slot: None,
        }
    }
}

pub struct StopWait<'s> {
    signal: &'s StopSignal,
    slot: Option<usize>,
}

impl Future for StopWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.signal.stopping.get() {
            return Poll::Ready(());
        }
        let mut waiters = this.signal.waiters.borrow_mut();
        match this.slot {
            // Polled again by the same task (always, in practice): nothing to do.
            Some(slot)
                if waiters
                    .get(slot)
                    .is_some_and(|w| w.as_ref().is_some_and(|w| w.will_wake(cx.waker()))) => {}
            Some(slot) if slot < waiters.len() => waiters[slot] = Some(cx.waker().clone()),
            _ => {
                let free = waiters.iter().position(Option::is_none);
                let slot = free.unwrap_or(waiters.len());
                if slot == waiters.len() {
                    waiters.push(None);
                }
                waiters[slot] = Some(cx.waker().clone());
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for StopWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot
            && let Ok(mut waiters) = self.signal.waiters.try_borrow_mut()
            && let Some(waker) = waiters.get_mut(slot)
        {
            *waker = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_every_waiting_connection_once_and_frees_slots() {
        let signal = StopSignal::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(signal.wait());
        let mut second = Box::pin(signal.wait());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(second);
        // The freed slot is reused.
        let mut third = Box::pin(signal.wait());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        assert_eq!(signal.waiters.borrow().len(), 2);
        signal.stop();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(first.as_mut().poll(&mut cx).is_ready());
        assert!(third.as_mut().poll(&mut cx).is_ready());
    }
}
