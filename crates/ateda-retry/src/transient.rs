//! Whether an error may go away by itself, read from typed parts of the error.

use std::error::Error;
use std::io::ErrorKind;

/// A failure that may go away by itself, and what it says about the failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// Refused before any work: a connection that could not be made, HTTP 429 or 503.
    /// Repeating the request cannot apply it twice.
    NotApplied,
    /// The request may have been applied: a connection reset, cut or timed out after it
    /// was sent, HTTP 500/502/504. A non-idempotent request is repeated only after
    /// checking whether it took effect.
    MaybeApplied,
}

/// The class of an HTTP status code: 429 and 503 are answered before any work, 500, 502
/// and 504 may come after it; every other code is an answer, not an accident.
pub fn classify_status(code: u16) -> Option<Transient> {
    match code {
        429 | 503 => Some(Transient::NotApplied),
        500 | 502 | 504 => Some(Transient::MaybeApplied),
        _ => None,
    }
}

/// The class of an I/O error kind: a refused connection never reached the server; a
/// reset, aborted, unconnected, broken, timed out or cut-short one may have.
pub fn classify_io(kind: ErrorKind) -> Option<Transient> {
    match kind {
        ErrorKind::ConnectionRefused => Some(Transient::NotApplied),
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::NotConnected
        | ErrorKind::BrokenPipe
        | ErrorKind::TimedOut
        | ErrorKind::UnexpectedEof => Some(Transient::MaybeApplied),
        _ => None,
    }
}

/// The class of a `reqwest` error: its status if it carries one, a failed connect
/// (never sent), or a timeout, request or body failure (possibly sent).
pub fn classify_reqwest(e: &reqwest::Error) -> Option<Transient> {
    if let Some(status) = e.status() {
        return classify_status(status.as_u16());
    }
    if e.is_connect() {
        Some(Transient::NotApplied)
    } else if e.is_timeout() || e.is_request() || e.is_body() {
        Some(Transient::MaybeApplied)
    } else {
        None
    }
}

/// The class of a `hyper` error: a connection closed before the response was complete.
fn classify_hyper(e: &hyper::Error) -> Option<Transient> {
    (e.is_incomplete_message() || e.is_body_write_aborted()).then_some(Transient::MaybeApplied)
}

/// The class of an error from what `e` and its causes are: `reqwest`, `hyper` and
/// `std::io` errors, plus whatever `extra` recognises (a client's own error types).
///
/// [`Transient::NotApplied`] if any of them proves the request was refused before any
/// work (a failed connect wrapped in a request error is still a failed connect), else
/// [`Transient::MaybeApplied`] if any of them is transient, else `None`.
pub fn classify_chain(
    e: &(dyn Error + 'static),
    extra: impl Fn(&(dyn Error + 'static)) -> Option<Transient>,
) -> Option<Transient> {
    let mut found = None;
    for c in std::iter::once(e).chain(crate::causes(e)) {
        let class = extra(c)
            .or_else(|| {
                c.downcast_ref::<reqwest::Error>()
                    .and_then(classify_reqwest)
            })
            .or_else(|| c.downcast_ref::<hyper::Error>().and_then(classify_hyper))
            .or_else(|| {
                c.downcast_ref::<std::io::Error>()
                    .and_then(|io| classify_io(io.kind()))
            });
        match class {
            Some(Transient::NotApplied) => return class,
            Some(Transient::MaybeApplied) => found = class,
            None => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn Error + Send + Sync>);

    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    fn io(kind: ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "os error")
    }

    #[test]
    fn statuses() {
        assert_eq!(classify_status(503), Some(Transient::NotApplied));
        assert_eq!(classify_status(429), Some(Transient::NotApplied));
        for code in [500, 502, 504] {
            assert_eq!(
                classify_status(code),
                Some(Transient::MaybeApplied),
                "{code}"
            );
        }
        for code in [200, 400, 403, 404, 409, 412, 501] {
            assert_eq!(classify_status(code), None, "{code}");
        }
    }

    #[test]
    fn io_kinds() {
        assert_eq!(
            classify_io(ErrorKind::ConnectionRefused),
            Some(Transient::NotApplied)
        );
        assert_eq!(
            classify_io(ErrorKind::ConnectionReset),
            Some(Transient::MaybeApplied)
        );
        assert_eq!(
            classify_io(ErrorKind::UnexpectedEof),
            Some(Transient::MaybeApplied)
        );
        assert_eq!(classify_io(ErrorKind::NotFound), None);
        assert_eq!(classify_io(ErrorKind::PermissionDenied), None);
    }

    #[test]
    fn the_chain_is_read_by_type_not_by_text() {
        let reset = Wrap("writing", Box::new(io(ErrorKind::ConnectionReset)));
        assert_eq!(
            classify_chain(&reset, |_| None),
            Some(Transient::MaybeApplied)
        );
        // a refused connect anywhere in the chain proves nothing was applied
        let refused = Wrap(
            "request failed",
            Box::new(Wrap("connect", Box::new(io(ErrorKind::ConnectionRefused)))),
        );
        assert_eq!(
            classify_chain(&refused, |_| None),
            Some(Transient::NotApplied)
        );
        // the text says "connection reset" but no typed part does: not transient
        let text_only = Wrap("connection reset by peer", "503 Service Unavailable".into());
        assert_eq!(classify_chain(&text_only, |_| None), None);
        // a client's own error type, recognised by the caller
        let own = Wrap("outer", Box::new(Wrap("busy", "inner".into())));
        let busy = |c: &(dyn Error + 'static)| {
            c.downcast_ref::<Wrap>()
                .filter(|w| w.0 == "busy")
                .map(|_| Transient::NotApplied)
        };
        assert_eq!(classify_chain(&own, busy), Some(Transient::NotApplied));
    }

    #[tokio::test]
    async fn a_refused_reqwest_connect_is_not_applied() {
        // a port nothing listens on: bind one, learn its number, close it
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let err = match reqwest::get(format!("http://127.0.0.1:{port}/")).await {
            Ok(_) => return, // something answered: nothing to check on this machine
            Err(e) => e,
        };
        assert!(err.is_connect(), "{err}");
        assert_eq!(classify_reqwest(&err), Some(Transient::NotApplied));
        assert_eq!(classify_chain(&err, |_| None), Some(Transient::NotApplied));
    }
}
