//! Object storage for stamps and quarantined bytes.
//!
//! A [`Bucket`] is a root URI (`file:///abs/dir`, a plain path, or
//! `s3://bucket/prefix`) plus an `object_store` client. Every write is
//! create-if-absent, so re-runs never rewrite an object, and an object is only ever
//! seen whole: on S3 a PUT is atomic; on a local root the bytes go to a temporary name
//! in the same directory and are renamed into place without replacing anything (see
//! [`Bucket::put_many_if_absent`]), so a killed process leaves at most a hidden
//! `.*.tmp` file, never a partial object under the key.
//!
//! Cutout key layout (relative to the cutouts root):
//! `ztf/night=<YYYY-MM-DD>/<candid>/<science|template|difference>.fits.gz`
//! ([`stamp_key`], [`Bucket::stamp`]).
//!
//! Packed layout (`pack`): stamps back to back in pack objects
//! `<survey>/packs/night=<YYYY-MM-DD>/<run id>-<seq>.pack`, each stamp a byte range
//! ([`Packs`], [`pack_key`]).
//!
//! Layout: `bucket` (opening a root, put/get), `local` (create-if-absent of a local
//! file), `keys` (key layout), `list` (listing and removing, for maintenance), `pack` (pack
//! objects), `read` (a stamp's bytes from a row's reference: whole
//! object or byte range, [`read_stamp`]), `transient` (which store errors are repeated).

#![deny(missing_docs)]

mod bucket;
mod keys;
mod list;
mod local;
mod pack;
mod read;
mod transient;

pub use bucket::{Bucket, Put};
pub use keys::{quarantine_key, stamp_key, StampRef};
pub use list::Listed;
pub use pack::{pack_key, PackOptions, Packed, Packs};
pub use read::{read_stamp, StampLocation};

/// Errors of object storage.
///
/// No `source()`: the message carries each distinct cause once (object_store errors
/// print their source inside their own message, so walking the chain repeated it).
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The root URI is not usable.
    #[error("storage URI {uri}: {reason}")]
    Uri {
        /// URI as given.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The store refused or failed a write.
    #[error("writing {uri}: {}", ateda_retry::with_causes(cause))]
    Write {
        /// Object URI.
        uri: String,
        /// Underlying error.
        cause: object_store::Error,
    },
    /// An object could not be read (missing, unreachable, shorter than the range).
    #[error("reading {uri}: {reason}")]
    Read {
        /// Object URI.
        uri: String,
        /// What went wrong.
        reason: String,
    },
}
