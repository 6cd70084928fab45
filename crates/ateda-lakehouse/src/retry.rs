//! Riding out transient catalog failures: a REST catalog restarting, a proxy answering
//! 502/503/504 or 429, a refused or cut connection.
//!
//! Reads are simply repeated. A commit is never applied twice: when its outcome is
//! unknown (the request may have reached the catalog before the failure), the table is
//! reloaded and searched for the commit's own token (snapshot summary property
//! [`COMMIT_TOKEN`]) before anything is repeated.
//!
//! The policy, the loop and the reading of typed error parts are `ateda-retry`'s; what is
//! iceberg-specific is here: where the REST client keeps the HTTP status.

use std::future::Future;

use ateda_retry::Transient;
use iceberg::ErrorKind;

pub use ateda_retry::RetryPolicy;

/// Snapshot summary property holding a token unique to one [`crate::Lakehouse::commit`]
/// call: how a commit whose answer was lost is recognised in the table.
pub const COMMIT_TOKEN: &str = "ateda.commit-token";

/// Runs a catalog call, repeating it after transient failures (see [`is_transient`])
/// within the policy. Each repeat logs `catalog call failed transiently; retrying`
/// with the wait and the cause, inside a `catalog` span naming the call (`what`).
pub(crate) async fn retried<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    call: F,
) -> iceberg::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = iceberg::Result<T>>,
{
    use tracing::Instrument;
    ateda_retry::retry(policy, "catalog call", is_transient, call)
        .instrument(tracing::warn_span!("catalog", call = what))
        .await
}

/// Whether a catalog error may go away by itself: a transport failure (refused, reset or
/// cut connection, timeout) or an HTTP 429/500/502/503/504. Conflicts are left to the
/// Iceberg transaction's own retry; not-found, bad request, forbidden and the like are
/// answers, not accidents.
pub(crate) fn is_transient(e: &iceberg::Error) -> bool {
    e.kind() == ErrorKind::Unexpected && classify(e).is_some()
}

/// Whether a failure leaves the outcome of a commit unknown: the request may have been
/// applied (anything but a refused connection or a 429/503, which are answered before
/// any work).
pub(crate) fn outcome_unknown(e: &iceberg::Error) -> bool {
    classify(e) != Some(Transient::NotApplied)
}

/// What a catalog error says about the request, from typed parts only: the HTTP status
/// the REST client recorded, the commit endpoint's answers whose state is unknown, and
/// the transport errors in the cause chain.
fn classify(e: &iceberg::Error) -> Option<Transient> {
    if commit_state_unknown(e) {
        return Some(Transient::MaybeApplied);
    }
    if let Some(class) = http_status(e).and_then(ateda_retry::classify_status) {
        return Some(class);
    }
    ateda_retry::classify_chain(e, |_| None)
}

/// The HTTP status of an unexpected REST catalog answer.
///
/// iceberg-rest 0.10.1 records it only as the error's first context entry
/// (`with_context("status", "503 Service Unavailable")`), and `iceberg::Error` 0.10.1 has
/// no accessor for its context (only `kind()`, `message()`, `retryable()`,
/// `backtrace()`); its `Display` is `"{kind}, context: { status: ..., ... } => ..."`.
/// So the code is read from exactly that position, as a number, and nowhere else in the
/// text (a body or a header echoing `status: 503` is not taken for it).
fn http_status(e: &iceberg::Error) -> Option<u16> {
    let text = e.to_string();
    let rest = text.strip_prefix(&format!("{}, context: {{ status: ", e.kind()))?;
    let (code, after) = (rest.get(..3)?, rest.get(3..)?);
    if !(after.starts_with(' ') || after.starts_with(',')) {
        return None;
    }
    code.parse().ok()
}

/// Whether the error is the REST catalog's answer to a commit that failed with 500, 502
/// or 504: iceberg-rest maps those to an `Unexpected` error with no status in its
/// context and only a message ending "the commit state is unknown." (`message()` is the
/// message alone, not the rendered error).
fn commit_state_unknown(e: &iceberg::Error) -> bool {
    e.kind() == ErrorKind::Unexpected && e.message().ends_with("the commit state is unknown.")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn status(code: &str) -> iceberg::Error {
        iceberg::Error::new(
            ErrorKind::Unexpected,
            "Received response with unexpected status code",
        )
        .with_context("status", code)
        .with_context("headers", "{}")
    }

    #[test]
    fn answers_are_not_transient_accidents_are() {
        let conflict = iceberg::Error::new(ErrorKind::CatalogCommitConflicts, "conflict");
        assert!(!is_transient(&conflict));
        let missing = iceberg::Error::new(ErrorKind::TableNotFound, "no such table");
        assert!(!is_transient(&missing));
        assert!(!is_transient(&status("403 Forbidden")));
        let unavailable = status("503 Service Unavailable");
        assert!(is_transient(&unavailable) && !outcome_unknown(&unavailable));
        let busy = status("429 Too Many Requests");
        assert!(is_transient(&busy) && !outcome_unknown(&busy));
        let bad_gateway = status("502 Bad Gateway");
        assert!(is_transient(&bad_gateway) && outcome_unknown(&bad_gateway));
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
        let refused = iceberg::Error::new(ErrorKind::Unexpected, "io").with_source(
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        );
        assert!(is_transient(&refused) && !outcome_unknown(&refused));
    }

    #[test]
    fn the_status_is_read_from_its_place_not_searched_for() {
        assert_eq!(http_status(&status("503 Service Unavailable")), Some(503));
        // a code mentioned in the message, another context entry or a body is not a status
        let in_message = iceberg::Error::new(ErrorKind::Unexpected, "status: 503 from upstream");
        assert_eq!(http_status(&in_message), None);
        assert!(!is_transient(&in_message));
        let in_body = iceberg::Error::new(ErrorKind::Unexpected, "unexpected status code")
            .with_context("status", "400 Bad Request")
            .with_context("json", r#"{"error": "status: 503"}"#);
        assert_eq!(http_status(&in_body), Some(400));
        assert!(!is_transient(&in_body));
        let elsewhere =
            iceberg::Error::new(ErrorKind::Unexpected, "x").with_context("upstream status", "503");
        assert_eq!(http_status(&elsewhere), None);
        let only = iceberg::Error::new(ErrorKind::Unexpected, "x")
            .with_context("status", "504 Gateway Timeout");
        assert_eq!(http_status(&only), Some(504));
    }

    #[tokio::test]
    async fn retried_repeats_transient_failures_and_returns_answers() {
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let calls = AtomicUsize::new(0);
        let got = retried(&policy, "loading table", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(status("503 Service Unavailable")),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(got.ok(), Some(2));
        let calls = AtomicUsize::new(0);
        let got: iceberg::Result<()> = retried(&policy, "loading table", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(iceberg::Error::new(
                ErrorKind::TableNotFound,
                "no such table",
            ))
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let none = RetryPolicy::with_budget(Duration::ZERO);
        let calls = AtomicUsize::new(0);
        let got: iceberg::Result<()> = retried(&none, "committing", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status("503 Service Unavailable"))
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
