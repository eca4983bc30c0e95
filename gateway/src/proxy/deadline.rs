//! The upstream's time to answer, on one tokio timer reused by every request of a client
//! connection. Moving a registered timer's deadline later only stores a number, where a
//! fresh `tokio::time::timeout` per request inserts into and removes from the timer wheel.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

#[derive(Default)]
pub struct ReusedTimer(Cell<Option<Pin<Box<Sleep>>>>);

impl ReusedTimer {
    /// `work`'s output, or `None` when `within` passed first. `work` is pinned by the caller,
    /// so a large future is not copied into this one.
    pub async fn limit<F: Future>(
        &self,
        within: Duration,
        mut work: Pin<&mut F>,
    ) -> Option<F::Output> {
        let deadline = Instant::now() + within;
        // Taken out while in use, so a second user at the same time (HTTP/1 never has one)
        // simply gets a timer of its own.
        let mut timer = match self.0.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(sleep_until(deadline)),
        };
        let out = poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await;
        self.0.set(Some(timer));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn answers_in_time_pass_and_late_ones_time_out_on_the_reused_timer() {
        let timer = ReusedTimer::default();
        let quick = timer.limit(Duration::from_secs(5), pin!(async { 7 })).await;
        assert_eq!(quick, Some(7));
        let late = timer
            .limit(
                Duration::from_secs(1),
                pin!(tokio::time::sleep(Duration::from_secs(2))),
            )
            .await;
        assert_eq!(late, None);
        // After firing, the same timer still limits the next request.
        let slow_but_allowed = timer
            .limit(
                Duration::from_secs(3),
                pin!(tokio::time::sleep(Duration::from_secs(2))),
            )
            .await;
        assert_eq!(slow_but_allowed, Some(()));
        let late_again = timer
            .limit(
                Duration::from_millis(10),
                pin!(std::future::pending::<()>()),
            )
            .await;
        assert_eq!(late_again, None);
    }
}
