//! How long and how often a call is repeated.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// How long and how often a call is repeated after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first repeat; doubled after each one, up to `max_wait`.
    pub first_wait: Duration,
    /// Longest wait between two attempts.
    pub max_wait: Duration,
    /// No attempt starts later than this after the first failure of a call.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// 0.25 s, doubling up to 8 s, for at most 60 s: a catalog pod restart.
    fn default() -> Self {
        RetryPolicy {
            first_wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(8),
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The default waits with another total budget (`Duration::ZERO`: no repeats).
    pub fn with_budget(budget: Duration) -> Self {
        RetryPolicy {
            budget,
            ..RetryPolicy::default()
        }
    }

    /// Starts the schedule of waits of one call; its clock starts at the first
    /// [`Schedule::next_wait`], i.e. at the first failure.
    pub fn start(&self) -> Schedule {
        Schedule {
            waits: ExponentialBuilder::new()
                .with_min_delay(self.first_wait)
                .with_max_delay(self.max_wait)
                .with_factor(2.0)
                .without_max_times()
                .build(),
            budget: self.budget,
            first_failure: None,
            waited: Duration::ZERO,
        }
    }
}

/// The waits of one call under a [`RetryPolicy`]: backon's exponential backoff, cut off
/// by the policy's budget counted from the first failure. An `Iterator` of waits, so
/// backon's `Retry` runs it directly.
#[derive(Debug)]
pub struct Schedule {
    waits: ExponentialBackoff,
    budget: Duration,
    first_failure: Option<Instant>,
    waited: Duration,
}

impl Schedule {
    /// The wait before the next attempt, or `None` when the budget is spent.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        let wait = self.waits.next()?;
        // The time since the first failure includes the waits already handed out (the
        // caller sleeps them); counting them too keeps the schedule exact on a clock
        // that does not move (tokio's paused time in tests).
        if first.elapsed().max(self.waited) + wait > self.budget {
            return None;
        }
        self.waited += wait;
        Some(wait)
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.next_wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_at_the_budget() {
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(125),
            max_wait: Duration::from_millis(500),
            budget: Duration::from_millis(1200),
        };
        let waits: Vec<_> = policy.start().take(10).collect();
        // 125 + 250 + 500 = 875 ms of waits fit; a further 500 would end at 1375 > 1200.
        assert_eq!(
            waits,
            [125, 250, 500].map(Duration::from_millis).to_vec(),
            "schedule {waits:?}"
        );
        assert!(RetryPolicy::with_budget(Duration::ZERO)
            .start()
            .next_wait()
            .is_none());
    }

    #[test]
    fn default_is_a_minute_of_doubling_waits_capped_at_8_s() {
        let p = RetryPolicy::default();
        assert_eq!(
            (p.first_wait, p.max_wait, p.budget),
            (
                Duration::from_millis(250),
                Duration::from_secs(8),
                Duration::from_secs(60)
            )
        );
        let waits: Vec<_> = p.start().collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        // 0.25 + 0.5 + 1 + 2 + 4 = 7.75 s, then six 8 s waits (55.75 s); a seventh would end
        // at 63.75 s > 60 s.
        assert_eq!(
            ms,
            [250, 500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000]
        );
        assert!(waits.iter().sum::<Duration>() <= p.budget);
        assert_eq!(
            RetryPolicy::with_budget(Duration::from_secs(5)).max_wait,
            p.max_wait
        );
    }
}
