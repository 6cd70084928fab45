//! What can go wrong fetching a night.

use std::path::PathBuf;

use ateda_retry::{classify_chain, classify_status, with_causes};

/// An error of the archive client or of one night's download. Its message is one line,
/// naming the file (or URL) it is about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The archive URL does not parse, or a file name does not join onto it.
    #[error("bad archive URL {url:?}: {source}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The HTTP client could not be built (TLS roots).
    #[error("cannot build the HTTP client: {}", with_causes(.0))]
    Client(#[source] reqwest::Error),
    /// The archive answers 404 (or 410) for the night's tarball.
    #[error("{name}: not in the archive (HTTP {status})")]
    NotInArchive {
        /// The tarball's file name.
        name: String,
        /// The HTTP status.
        status: u16,
    },
    /// The archive serves the tarball but `MD5SUMS` does not list it.
    #[error("{name}: no MD5SUMS entry")]
    NoMd5Entry {
        /// The tarball's file name.
        name: String,
    },
    /// The downloaded file's MD5 differs from `MD5SUMS`; the file was kept aside.
    #[error(
        "{name}: MD5 mismatch: expected {expected}, got {got} (kept as {}); re-run to download again",
        bad.display()
    )]
    Mismatch {
        /// The tarball's file name.
        name: String,
        /// The MD5 listed in `MD5SUMS`.
        expected: String,
        /// The MD5 of the bytes received.
        got: String,
        /// Where the received file now is (`*.bad`).
        bad: PathBuf,
    },
    /// An HTTP status other than success, 404 or 416.
    #[error("{url}: HTTP {status}")]
    Http {
        /// The URL asked for.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request or the response body failed (connect, reset, timeout, cut).
    #[error("{url}: {}", with_causes(.source))]
    Request {
        /// The URL asked for.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The response body ended before its announced length.
    #[error("{name}: body cut short at byte {got} of {expected}")]
    ShortBody {
        /// The tarball's file name.
        name: String,
        /// Bytes of the file on disk when the body ended.
        got: u64,
        /// The file's length announced by the server.
        expected: u64,
    },
    /// The server answered a resumed request in a way that cannot be appended.
    #[error("{name}: {reason}")]
    Protocol {
        /// The tarball's file name.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// The server refused the resumed range (HTTP 416); the partial file was removed and
    /// the download starts again from zero (a transient error: repeated at once).
    #[error("{name}: the server refused the range (HTTP 416); restarting from zero")]
    RangeRefused {
        /// The tarball's file name.
        name: String,
    },
    /// Transient failures lasted past the retry budget; the partial file is kept.
    #[error(
        "{name}: giving up after {attempts} attempts: {last}; {} bytes kept in {}, re-run to resume",
        kept,
        part.display()
    )]
    GaveUp {
        /// The tarball's file name.
        name: String,
        /// Attempts made.
        attempts: u32,
        /// Bytes in the partial file.
        kept: u64,
        /// The partial file.
        part: PathBuf,
        /// The last transient error.
        last: Box<FetchError>,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl FetchError {
    /// Whether the error may go away by itself, so the download is repeated (resuming
    /// from what is on disk): connection failures, timeouts, bodies cut short, HTTP 429
    /// and 5xx (500, 502, 503, 504), classified by `ateda-retry`. Local I/O errors are not.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Request { source, .. } => classify_chain(source, |_| None).is_some(),
            FetchError::Http { status, .. } => classify_status(*status).is_some(),
            FetchError::ShortBody { .. } | FetchError::RangeRefused { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FetchError {
        let path = path.into();
        move |source| FetchError::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_or_not() {
        let http = |status| FetchError::Http {
            url: "u".into(),
            status,
        };
        assert!(http(503).is_transient());
        assert!(http(429).is_transient());
        assert!(http(502).is_transient());
        assert!(!http(403).is_transient());
        assert!(FetchError::ShortBody {
            name: "n".into(),
            got: 1,
            expected: 2
        }
        .is_transient());
        assert!(!FetchError::NoMd5Entry { name: "n".into() }.is_transient());
        assert!(!FetchError::Io {
            path: "p".into(),
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof)
        }
        .is_transient());
    }
}
