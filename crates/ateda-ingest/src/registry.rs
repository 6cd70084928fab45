//! The alerts table's schema as this run knows it, and the one place that evolves it.
//!
//! Decode workers read the current [`TableSchema`]; a worker meeting a writer schema the
//! table cannot hold yet asks [`SchemaRegistry::evolve`], which commits the change (one
//! at a time within the run; other runs are handled by the lakehouse's reload and
//! re-diff) and hands back the new schema.

use std::sync::{Arc, RwLock};

use ateda_decode::TableSchema;
use ateda_lakehouse::{EvolveError, Lakehouse};
use ateda_schema::WriterSchema;

use crate::counters::Live;
use crate::IngestError;

/// Current table schema plus serialized evolution.
pub struct SchemaRegistry {
    lakehouse: Arc<Lakehouse>,
    current: RwLock<Arc<TableSchema>>,
    evolving: tokio::sync::Mutex<()>,
    live: Live,
}

/// Why a writer schema's packets cannot be ingested.
pub enum Refused {
    /// Quarantine them with this reason.
    Reject(String),
    /// The run must stop.
    Fatal(IngestError),
}

impl SchemaRegistry {
    /// Starts from the table's current schema.
    pub async fn new(lakehouse: Arc<Lakehouse>, live: Live) -> Result<Self, IngestError> {
        let schema = lakehouse.alerts_schema().await?;
        let table = TableSchema::new(schema).map_err(|e| IngestError::Layout(e.to_string()))?;
        Ok(SchemaRegistry {
            lakehouse,
            current: RwLock::new(Arc::new(table)),
            evolving: tokio::sync::Mutex::new(()),
            live,
        })
    }

    /// The newest table schema this run knows.
    pub fn current(&self) -> Arc<TableSchema> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Evolves the table for `writer` and returns the schema to decode its packets into.
    pub async fn evolve(&self, writer: &WriterSchema) -> Result<Arc<TableSchema>, Refused> {
        let _one_at_a_time = self.evolving.lock().await;
        let evolution = match self.lakehouse.evolve_for(writer).await {
            Ok(e) => e,
            Err(EvolveError::Rejected(reason)) => return Err(Refused::Reject(reason)),
            Err(EvolveError::Lakehouse(e)) => return Err(Refused::Fatal(e.into())),
        };
        if !evolution.applied.is_empty() {
            if let Ok(mut v) = self.live.schema_changes.lock() {
                v.extend(evolution.applied);
            }
        }
        let current = self.current();
        if current.id == evolution.schema.schema_id() {
            return Ok(current);
        }
        let table = Arc::new(
            TableSchema::new(evolution.schema)
                .map_err(|e| Refused::Fatal(IngestError::Layout(e.to_string())))?,
        );
        if let Ok(mut g) = self.current.write() {
            if g.id < table.id {
                *g = table.clone();
            }
        }
        Ok(table)
    }
}
