//! Riding out transient failures, one way for every client in the workspace.
//!
//! - [`RetryPolicy`]: how long and how often a call is repeated (0.25 s doubling up to
//!   8 s, within 60 s by default), as a schedule of waits that `backon` runs.
//! - [`retry`]: runs a call and repeats it while a caller-given classifier says the error
//!   is transient, logging each repeat.
//! - [`Transient`] and the `classify_*` functions: whether an error may go away by itself,
//!   and whether the failed request may have been applied, read from typed parts of the
//!   error (HTTP status codes, `std::io::ErrorKind`, `reqwest`/`hyper` error kinds), never
//!   from its message text.
//! - [`causes`] and [`with_causes`]: the walk over an error's sources and the one-line
//!   message built from it.

#![deny(missing_docs)]

mod causes;
mod policy;
mod run;
mod transient;

pub use causes::{causes, with_causes};
pub use policy::{RetryPolicy, Schedule};
pub use run::retry;
pub use transient::{classify_chain, classify_io, classify_reqwest, classify_status, Transient};
