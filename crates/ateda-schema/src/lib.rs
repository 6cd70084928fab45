//! Surveys, their alert schemas and the bronze table schema.
//!
//! - [`survey`]: what the ingest core needs to know of a survey (its schema family, key
//!   field, night rule, stamp fields, table name); [`ztf`] and [`lsst`] are the two.
//! - [`avro`]: a writer schema (as embedded in a container header) parsed safely into
//!   [`avro::FieldDef`] shapes.
//! - [`table`]: the bootstrap Iceberg schema of a survey's alerts table (union of its
//!   bundled writer schemas, their docs as column docs).
//! - [`diff`]: what a writer schema would change in the current table schema: columns to
//!   add, Iceberg-legal promotions, or an irreconcilable conflict.
//! - [`columns`]: names of the columns `ateda` fills itself.
//! - [`night`]: observation nights from Julian or modified Julian dates.

#![deny(missing_docs)]

pub mod avro;
pub mod columns;
pub mod diff;
pub mod lsst;
pub mod night;
pub mod survey;
pub mod table;
pub mod ztf;

pub use avro::{parse_writer_schema, FieldDef, Prim, Shape, Ty, WriterSchema};
pub use diff::{apply_changes, diff_writer, missing_columns, Conflict, SchemaChange, SchemaDiff};
pub use night::{format_day, night_from_jd, night_from_mjd, JD_UNIX_EPOCH};
pub use survey::{NightBounds, NightRule, StampField, StampLayout, Survey, SURVEYS};
pub use table::bootstrap_schema;

/// Errors raised while reading a writer schema or building a table schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// The schema text is not usable at all (not JSON, not Avro, bad names).
    #[error("{0}")]
    Invalid(String),
    /// The schema uses a construct the bronze table cannot hold.
    #[error("{path}: unsupported Avro type {what}")]
    Unsupported {
        /// Dotted path of the field.
        path: String,
        /// What was found.
        what: String,
    },
    /// Two bundled schema versions disagree on a field's type.
    #[error("{path}: type {a} in one bundled version and {b} in another")]
    Conflict {
        /// Dotted path of the field.
        path: String,
        /// First type.
        a: String,
        /// Second type.
        b: String,
    },
}
