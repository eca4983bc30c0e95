//! `client_timeout` for a connection waiting for its next request head (idle keep-alive, or
//! a head trickling in). One timer per connection, never moved per request: it fires once a
//! period, and the connection closes at a firing that finds no answer completed since the
//! previous one; so 1–2 periods after its last use, at no per-request cost beyond a count.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep};

pub struct IdleClock {
    period: Duration,
    timer: Pin<Box<Sleep>>,
    /// Answers completed on the connection as of the last firing.
    answered_at_firing: u64,
}

impl IdleClock {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            timer: Box::pin(sleep(period)),
            answered_at_firing: 0,
        }
    }

    /// Completes when the connection has been unused for a whole period; `answered` is the
    /// number of answers the connection has completed.
    pub async fn unused(&mut self, answered: u64) {
        poll_fn(|cx| {
            while self.timer.as_mut().poll(cx).is_ready() {
                if answered == self.answered_at_firing {
                    return Poll::Ready(());
                }
                self.answered_at_firing = answered;
                let next = Instant::now() + self.period;
                self.timer.as_mut().reset(next);
            }
            Poll::Pending
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn closes_after_a_whole_period_without_an_answer() {
        let period = Duration::from_secs(10);
        let start = Instant::now();
        let mut clock = IdleClock::new(period);
        // Never used: one period.
        clock.unused(0).await;
        assert_eq!(start.elapsed(), period);

        let mut clock = IdleClock::new(period);
        let start = Instant::now();
        // An answer completed 3 s in: the first firing sees it and waits one period more.
        tokio::time::sleep(Duration::from_secs(3)).await;
        clock.unused(1).await;
        assert_eq!(start.elapsed(), 2 * period);
    }
}
