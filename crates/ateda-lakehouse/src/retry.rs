//! Riding out transient catalog failures: a REST catalog restarting, a proxy answering
//! 502/503/504 or 429, a refused or cut connection.
//!
//! Reads are simply repeated. A commit is never applied twice: when its outcome is
//! unknown (the request may have reached the catalog before the failure), the table is
//! reloaded and searched for the commit's own token (snapshot summary property
//! [`COMMIT_TOKEN`]) before anything is repeated.

use std::time::{Duration, Instant};

use iceberg::ErrorKind;

/// Snapshot summary property holding a token unique to one [`crate::Lakehouse::commit`]
/// call: how a commit whose answer was lost is recognised in the table.
pub const COMMIT_TOKEN: &str = "ateda.commit-token";

/// How long and how often catalog calls are repeated after a transient failure.
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

    /// Starts the schedule of one call.
    pub(crate) fn start(&self) -> Backoff {
        Backoff {
            policy: *self,
            first_failure: None,
            waited: Duration::ZERO,
            next: self.first_wait,
        }
    }
}

/// The waits of one call (see [`RetryPolicy`]).
pub(crate) struct Backoff {
    policy: RetryPolicy,
    first_failure: Option<Instant>,
    waited: Duration,
    next: Duration,
}

impl Backoff {
    /// The wait before the next attempt, or `None` when the budget is spent.
    pub(crate) fn next_wait(&mut self) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        let wait = self.next;
        // The time since the first failure includes the waits already handed out (the
        // caller sleeps them); counting them too keeps the schedule exact without a clock.
        if first.elapsed().max(self.waited) + wait > self.policy.budget {
            return None;
        }
        self.waited += wait;
        self.next = (self.next * 2).min(self.policy.max_wait);
        Some(wait)
    }
}

/// Whether a catalog error may go away by itself: a transport failure (refused, reset or
/// cut connection, timeout) or an HTTP 429/500/502/503/504. Conflicts are left to the
/// Iceberg transaction's own retry; not-found, bad request, forbidden and the like are
/// answers, not accidents.
pub(crate) fn is_transient(e: &iceberg::Error) -> bool {
    if e.kind() != ErrorKind::Unexpected {
        return false;
    }
    let text = e.to_string();
    if text.contains("commit state is unknown")
        || has_status(&text, &["429", "500", "502", "503", "504"])
    {
        return true;
    }
    causes(e).any(|c| {
        let broken_http = c
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_connect() || r.is_timeout() || r.is_request() || r.is_body());
        let broken_io = c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            use std::io::ErrorKind as Io;
            matches!(
                io.kind(),
                Io::ConnectionRefused
                    | Io::ConnectionReset
                    | Io::ConnectionAborted
                    | Io::NotConnected
                    | Io::BrokenPipe
                    | Io::TimedOut
                    | Io::UnexpectedEof
            )
        });
        broken_http || broken_io
    })
}

/// Whether a transient error leaves the outcome of a commit unknown: the request may have
/// been applied (anything but a refused connection or a 429/503, which are answered
/// before any work).
pub(crate) fn outcome_unknown(e: &iceberg::Error) -> bool {
    let refused_before_work = has_status(&e.to_string(), &["429", "503"])
        || causes(e).any(|c| {
            c.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect)
        });
    !refused_before_work
}

/// Whether an iceberg error's text carries one of these HTTP status codes (the REST
/// client puts the status in the error's context as `status: 503 Service Unavailable`).
fn has_status(text: &str, codes: &[&str]) -> bool {
    codes
        .iter()
        .any(|code| text.contains(&format!("status: {code}")))
}

/// The causes of an error, nearest first.
fn causes(e: &iceberg::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(e), |c| c.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_at_the_budget() {
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_millis(40),
            budget: Duration::from_millis(95),
        };
        let mut b = policy.start();
        let waits: Vec<_> = std::iter::from_fn(|| b.next_wait()).take(10).collect();
        // 10 + 20 + 40 = 70 ms of waits fit; a further 40 would end at 110 > 95.
        assert_eq!(
            waits,
            [10, 20, 40].map(Duration::from_millis).to_vec(),
            "schedule {waits:?}"
        );
        assert!(RetryPolicy::with_budget(Duration::ZERO)
            .start()
            .next_wait()
            .is_none());
    }

    #[test]
    fn answers_are_not_transient_accidents_are() {
        let conflict = iceberg::Error::new(ErrorKind::CatalogCommitConflicts, "conflict");
        assert!(!is_transient(&conflict));
        let missing = iceberg::Error::new(ErrorKind::TableNotFound, "no such table");
        assert!(!is_transient(&missing));
        let forbidden = iceberg::Error::new(ErrorKind::Unexpected, "unexpected status code")
            .with_context("status", "403 Forbidden");
        assert!(!is_transient(&forbidden));
        let unavailable = iceberg::Error::new(ErrorKind::Unexpected, "unexpected status code")
            .with_context("status", "503 Service Unavailable");
        assert!(is_transient(&unavailable) && !outcome_unknown(&unavailable));
        let gateway = iceberg::Error::new(
            ErrorKind::Unexpected,
            "A gateway or proxy received an invalid response from the upstream server; \
             the commit state is unknown.",
        );
        assert!(is_transient(&gateway) && outcome_unknown(&gateway));
        let reset = iceberg::Error::new(ErrorKind::Unexpected, "io").with_source(
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"),
        );
        assert!(is_transient(&reset) && outcome_unknown(&reset));
    }
}
