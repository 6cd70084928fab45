//! Which object store failures are repeated: typed transport failures only.

use std::error::Error;

use ateda_retry::Transient;
use object_store::client::{HttpError, HttpErrorKind};

/// How create-if-absent PUTs are repeated: 0.25 s doubling, within about 4 s (four
/// repeats). object_store has already repeated what it considers safe by then.
pub(crate) const PUT_RETRY: ateda_retry::RetryPolicy = ateda_retry::RetryPolicy {
    first_wait: std::time::Duration::from_millis(250),
    max_wait: std::time::Duration::from_secs(2),
    budget: std::time::Duration::from_secs(4),
};

/// Whether a store error may go away by itself: a `Generic` error (the variant transport
/// failures and unexpected statuses end up in) caused by a broken or refused connection,
/// read from object_store's [`HttpErrorKind`] or the `reqwest`/`hyper`/`std::io` errors
/// under it. Every other variant (not found, already exists, precondition, permission,
/// ...) is an answer.
///
/// object_store repeats a request that never reached the server, but not a
/// create-if-absent PUT cut off in flight (a connection reset when the server restarts):
/// to object_store it is not idempotent. Here it is, since keys are deterministic and
/// content immutable: if the first PUT had landed, the repeat reports
/// [`crate::Put::Existed`].
pub(crate) fn is_transient(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::Generic { .. })
        && ateda_retry::classify_chain(e, http_error).is_some()
}

/// object_store's own classification of a transport failure.
fn http_error(c: &(dyn Error + 'static)) -> Option<Transient> {
    match c.downcast_ref::<HttpError>()?.kind() {
        HttpErrorKind::Connect => Some(Transient::NotApplied),
        HttpErrorKind::Request | HttpErrorKind::Timeout | HttpErrorKind::Interrupted => {
            Some(Transient::MaybeApplied)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: Box<dyn Error + Send + Sync>) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source,
        }
    }

    #[test]
    fn cut_connections_are_transient_answers_are_not() {
        let cut = HttpError::new(
            HttpErrorKind::Interrupted,
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"),
        );
        assert!(is_transient(&generic(Box::new(cut))));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&generic(Box::new(reset))));
        let decode = HttpError::new(HttpErrorKind::Decode, std::io::Error::other("bad xml"));
        assert!(!is_transient(&generic(Box::new(decode))));
        // the words are not enough: only typed parts count
        let text: Box<dyn Error + Send + Sync> =
            "connection closed before message completed".into();
        assert!(!is_transient(&generic(text)));
        let exists = object_store::Error::AlreadyExists {
            path: "k".into(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        };
        assert!(!is_transient(&exists));
    }
}
