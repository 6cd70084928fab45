//! Decoding of ZTF Avro alert containers into bronze Arrow batches.
//!
//! - [`ocf`]: container framing (header, schema, blocks).
//! - [`program`]: a decoding program compiled once per writer schema that
//!   resolves any schema version onto the bronze table by field name.
//! - [`columns`]: column buffers with rollback, so a corrupt packet leaves
//!   nothing behind.
//! - [`alert`]: the bronze row builder: packet fields, stamp extraction,
//!   night and ingestion columns.

pub mod alert;
pub mod columns;
pub mod ocf;
pub mod primitives;
pub mod program;

pub use alert::{
    AlertBatch, AlertBatchBuilder, AlertStamps, RowContext, SchemaCache, Stamp, StampUri,
};

/// Why a packet could not be decoded. The message is meant for the
/// quarantine record: it says what is wrong with the input.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the Avro container magic.
    #[error("not an Avro object container file (bad magic bytes)")]
    NotAvro,
    /// The input ends before a value is complete.
    #[error("truncated: input ends inside a value")]
    Truncated,
    /// The container header is malformed.
    #[error("bad container header: {0}")]
    Header(String),
    /// An encoded value is invalid.
    #[error("invalid encoding: {0}")]
    Invalid(String),
    /// The writer schema cannot be mapped onto the bronze table.
    #[error("writer schema not supported: {0}")]
    Schema(String),
    /// Building Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
