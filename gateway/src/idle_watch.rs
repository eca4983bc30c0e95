//! Closes client connections that hold a slot without using it: no new request head for a
//! whole `client_timeout` while nothing is in flight (a forgotten keep-alive connection, or a
//! slowloris client dripping a head byte by byte). One tokio timer per connection, looked at
//! once per period; hyper's own `header_read_timeout` instead arms a fresh boxed timer for
//! every request: an allocation plus a timer-wheel insert and removal each time.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, sleep};

/// What the watchdog knows of one connection's use.
#[derive(Default)]
pub struct Activity {
    /// Request heads arrived plus responses finished: moves whenever the connection is used.
    uses: Cell<u64>,
    busy: Cell<u32>,
}

impl Activity {
    /// A request head arrived; the connection counts as busy until the returned guard drops
    /// (it rides the response body to its end).
    pub fn begin(self: &Rc<Self>) -> Busy {
        self.used();
        self.busy.set(self.busy.get() + 1);
        Busy(Rc::clone(self))
    }

    fn used(&self) {
        self.uses.set(self.uses.get().wrapping_add(1));
    }

    /// Resolves once a whole `period` passed with no request head arriving, no response
    /// finishing and nothing in flight: between one and two periods after the last use.
    pub async fn unused_for(&self, period: Duration) {
        let timer = sleep(period);
        tokio::pin!(timer);
        let mut seen = self.uses.get();
        loop {
            timer.as_mut().await;
            let uses = self.uses.get();
            if uses == seen && self.busy.get() == 0 {
                return;
            }
            seen = uses;
            timer.as_mut().reset(Instant::now() + period);
        }
    }
}

/// Marks a request of the connection as still in progress.
pub struct Busy(Rc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get().saturating_sub(1));
        self.0.used();
    }
}

/// A response body that keeps its connection marked busy until it is finished or dropped.
pub struct Tracked<B> {
    inner: B,
    _busy: Busy,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, busy: Busy) -> Self {
        Self { inner, _busy: busy }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(10);

    async fn resolves_within(activity: &Activity, limit: Duration) -> bool {
        tokio::time::timeout(limit, activity.unused_for(PERIOD))
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn an_unused_connection_is_reported_after_one_period() {
        let activity = Rc::new(Activity::default());
        assert!(!resolves_within(&activity, PERIOD - Duration::from_millis(1)).await);
        assert!(resolves_within(&activity, PERIOD + Duration::from_millis(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_keeps_it_open_and_its_end_starts_the_clock() {
        let activity = Rc::new(Activity::default());
        let busy = activity.begin();
        assert!(!resolves_within(&activity, PERIOD * 5).await);
        // A fresh watch: the end of the answer is a use, so a whole period must pass after it.
        drop(busy);
        assert!(!resolves_within(&activity, PERIOD - Duration::from_millis(1)).await);
        let watch = activity.unused_for(PERIOD);
        tokio::pin!(watch);
        tokio::time::sleep(PERIOD / 2).await;
        let long_answer = activity.begin();
        // Busy across the first check; ends just before the second one would close.
        tokio::select! {
            () = watch.as_mut() => panic!("closed while in use"),
            () = tokio::time::sleep(PERIOD) => drop(long_answer),
        }
        let since_end = tokio::time::Instant::now();
        watch.await;
        assert!(since_end.elapsed() >= PERIOD, "{:?}", since_end.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn new_heads_within_each_period_keep_it_open() {
        let activity = Rc::new(Activity::default());
        let watch = activity.unused_for(PERIOD);
        tokio::pin!(watch);
        for _ in 0..10 {
            let pause = tokio::time::sleep(PERIOD / 2);
            tokio::select! {
                () = watch.as_mut() => panic!("closed while in use"),
                () = pause => drop(activity.begin()),
            }
        }
        assert!(
            tokio::time::timeout(PERIOD * 2 + Duration::from_millis(1), watch)
                .await
                .is_ok()
        );
    }
}
