//! Running a call under a [`RetryPolicy`].

use std::error::Error;
use std::future::Future;

use backon::Retryable;

use crate::{with_causes, RetryPolicy};

/// Runs `call`, repeating it while `transient` says its error may go away by itself,
/// within `policy`; returns the first success, the first error that is not transient,
/// or the last error once the budget is spent.
///
/// Each repeat is logged at WARN: `"{what} failed transiently; retrying"` with the wait
/// (`wait_ms`) and the error with its causes (`error`).
pub async fn retry<T, E, F, Fut, C>(
    policy: &RetryPolicy,
    what: &str,
    transient: C,
    call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> bool,
    E: Error,
{
    call.retry(policy.start())
        .sleep(tokio::time::sleep)
        .when(transient)
        .notify(|e: &E, wait| {
            tracing::warn!(
                wait_ms = wait.as_millis() as u64,
                error = %with_causes(e),
                "{what} failed transiently; retrying"
            );
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum Failure {
        Busy,
        Refused,
    }

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Error for Failure {}

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first_wait: Duration::from_millis(250),
            max_wait: Duration::from_secs(1),
            budget: Duration::from_secs(3),
        }
    }

    /// A call failing with `Busy` `failures` times, then answering with its attempt count.
    async fn flaky(calls: &AtomicUsize, failures: usize) -> Result<usize, Failure> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= failures {
            Err(Failure::Busy)
        } else {
            Ok(n)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_repeated_until_success() {
        let calls = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let got = retry(
            &policy(),
            "test call",
            |e| *e == Failure::Busy,
            || flaky(&calls, 3),
        )
        .await;
        assert_eq!(got, Ok(4));
        // waited 0.25 + 0.5 + 1 s (paused clock: exact)
        assert_eq!(started.elapsed(), Duration::from_millis(1750));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_the_repeats_with_the_last_error() {
        let calls = AtomicUsize::new(0);
        let got = retry(
            &policy(),
            "test call",
            |e| *e == Failure::Busy,
            || flaky(&calls, 100),
        )
        .await;
        assert_eq!(got, Err(Failure::Busy));
        // 0.25 + 0.5 + 1 = 1.75 s; another 1 s wait ends at 2.75 <= 3; a fifth would not fit
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_not_repeated() {
        let calls = AtomicUsize::new(0);
        let got: Result<(), _> = retry(
            &policy(),
            "test call",
            |e| *e == Failure::Busy,
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(Failure::Refused) }
            },
        )
        .await;
        assert_eq!(got, Err(Failure::Refused));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let none = RetryPolicy::with_budget(Duration::ZERO);
        let calls = AtomicUsize::new(0);
        let got = retry(&none, "test call", |_| true, || flaky(&calls, 1)).await;
        assert_eq!((got, calls.load(Ordering::SeqCst)), (Err(Failure::Busy), 1));
    }
}
