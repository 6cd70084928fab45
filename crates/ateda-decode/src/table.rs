//! The table schema rows are built for: an Iceberg schema (with its id) and its Arrow form.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use iceberg::spec::Schema;

use crate::DecodeError;

/// One version of the bronze table's schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The Iceberg schema id.
    pub id: i32,
    /// The Iceberg schema.
    pub iceberg: Arc<Schema>,
    /// Its Arrow form (with Iceberg field ids), the schema of the built batches.
    pub arrow: SchemaRef,
}

impl TableSchema {
    /// Wraps an Iceberg schema.
    pub fn new(schema: Arc<Schema>) -> Result<Self, DecodeError> {
        let arrow = iceberg::arrow::schema_to_arrow_schema(&schema)
            .map_err(|e| DecodeError::Schema(format!("table schema has no Arrow form: {e}")))?;
        Ok(TableSchema {
            id: schema.schema_id(),
            iceberg: schema,
            arrow: Arc::new(arrow),
        })
    }
}
