//! Decoding of Avro alert packets into bronze Arrow batches, for any survey.
//!
//! - [`ocf`]: container framing (header, schema, blocks); [`wire`]: single-datum
//!   packets in the Confluent wire format (schema by id); [`route`]: which survey a
//!   member belongs to.
//! - [`cache`]: each writer schema diffed against the table schema and resolved onto
//!   it once per (writer schema, table schema id); [`resolve`]: the decoding ops.
//! - [`columns`]: column buffers with rollback, so a corrupt packet leaves
//!   nothing behind.
//! - [`stamps`]: stamp fields as zero-copy slices of the packet.
//! - [`builder`]: the bronze row builder: packet fields, stamps, night and ingestion
//!   columns; it reports when a writer schema needs the table to evolve first.

#![deny(missing_docs)]

pub mod builder;
pub mod cache;
pub mod columns;
pub mod layout;
pub mod limits;
pub mod ocf;
pub mod primitives;
pub mod resolve;
pub mod route;
pub mod stamps;
pub mod table;
pub mod wire;

pub use builder::{
    hex, Added, AlertBatch, AlertBatchBuilder, AlertStamps, RowContext, StampLocation,
};
pub use cache::SchemaCache;
pub use limits::Limits;
pub use route::Router;
pub use stamps::Stamp;
pub use table::TableSchema;
pub use wire::{WirePacket, WriterSchemas};

/// Why a packet could not be decoded. The message is meant for the
/// quarantine record: it says what is wrong with the input.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes start neither with the Avro container magic nor as a wire-format packet.
    #[error("not an Avro object container file nor a wire-format packet (bad magic bytes)")]
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
    /// A well-encoded value no reader can place (a night out of the accepted range, a
    /// key that is not positive): a poison value, not a decoding failure.
    #[error("unusable value: {0}")]
    Value(String),
    /// The writer schema cannot be mapped onto the bronze table.
    #[error("writer schema not supported: {0}")]
    Schema(String),
    /// The input exceeds a cap on hostile input ([`limits::Limits`]).
    #[error("over a cap: {0}")]
    Limit(String),
    /// Building Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
