//! Downloading the nightly tarballs of the ZTF public alert archive.
//!
//! - [`parse_nights`] and [`Night`]: `YYYYMMDD`, inclusive ranges `YYYYMMDD..YYYYMMDD`
//!   and `latest` (resolved against the archive's `MD5SUMS`).
//! - [`Md5Sums`]: the archive's checksum list, as `md5sum` prints it.
//! - [`Archive`]: the archive's base URL and HTTP client; reads `MD5SUMS`.
//! - [`fetch_night`]: one night's download, streamed to `*.part` with its validator in
//!   `*.part.json`, resumed with a `Range` request, retried through transient failures,
//!   verified against `MD5SUMS` and renamed into place (or aside as `*.bad`).
//! - [`fetch_night_tee`] and [`tee()`]: the same download handing the tarball's bytes to
//!   a reader as they arrive (`ateda fetch --ingest`), [`read_tarball`] reading them as
//!   alert members.

#![deny(missing_docs)]

mod archive;
mod download;
mod error;
mod md5sums;
mod night;
pub mod tee;

#[cfg(test)]
mod test_server;

pub use archive::Archive;
pub use download::{fetch_night, fetch_night_tee, Fetched, Outcome, Progress, Restart};
pub use error::FetchError;
pub use md5sums::Md5Sums;
pub use night::{parse_nights, tarball_name, Night, NightError};
pub use tee::{read_tarball, tee, Tee, TeeReader, TeeStatus};
