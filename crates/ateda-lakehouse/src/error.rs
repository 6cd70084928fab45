//! Errors of the lakehouse layer.

use ateda_retry::with_causes;

/// Errors of the lakehouse layer.
///
/// No `source()`: the message carries each distinct cause once. iceberg, opendal and
/// reqwest errors print their source inside their own message, so walking the chain
/// (`{:#}`) repeated every level (a 5 KB line for one refused connection).
#[derive(Debug, thiserror::Error)]
pub enum LakehouseError {
    /// An Iceberg operation failed.
    #[error("iceberg {what}: {}", with_causes(cause.as_ref()))]
    Iceberg {
        /// What was being done.
        what: String,
        /// Underlying error.
        cause: Box<iceberg::Error>,
    },
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// The existing table cannot hold the data.
    #[error("table {table}: {reason}")]
    Schema {
        /// Table name.
        table: String,
        /// What is wrong.
        reason: String,
    },
}

/// Wraps an iceberg error with what was being done.
pub(crate) fn ice(what: impl Into<String>) -> impl FnOnce(iceberg::Error) -> LakehouseError {
    let what = what.into();
    move |cause| LakehouseError::Iceberg {
        what,
        cause: Box::new(cause),
    }
}
