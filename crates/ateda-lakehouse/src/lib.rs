//! The bronze tables in Apache Iceberg.
//!
//! - [`Lakehouse::open`] connects to an Iceberg catalog (SQL catalog on SQLite for the
//!   embedded default, or an Iceberg REST endpoint) and bootstraps the `bronze`
//!   namespace and tables (`bootstrap`).
//! - [`Lakehouse::evolve_for`] grows the alerts table for a writer schema: columns
//!   added at any depth, in one schema commit, safe with concurrent writers (`evolve`).
//! - [`DataWriter`] writes Parquet data files partitioned by night (`writer`);
//!   [`Lakehouse::commit`] appends them in one snapshot, never twice (`commit`).
//! - [`Lakehouse::stored_keys`] and [`Lakehouse::files_added_since`] read the keys
//!   already stored (`keys`); [`Lakehouse::commit_at`] commits only onto the snapshot
//!   whose keys were checked (`guard`): exactly once by key with concurrent writers.
//! - [`Lakehouse::unrecorded_alert_commits`] finds alert commits whose ledger commit
//!   never came (`ledger_gap`), so the ledger can be repaired from their rows.
//! - [`Lakehouse::quarantined`] reads the members already quarantined (`scan`).
//! - Catalog calls ride out transient failures ([`RetryPolicy`], `retry`).

#![deny(missing_docs)]

mod bootstrap;
mod catalog;
mod commit;
mod error;
mod evolve;
mod guard;
mod keys;
mod ledger_gap;
mod positions;
mod recorded;
mod recover;
mod retry;
mod rewrite;
mod scan;
mod schema_commit;
mod stamp_refs;
mod tables;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use ateda_schema::Survey;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::Schema;
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableIdent};

pub use commit::Appended;
pub use error::LakehouseError;
pub use evolve::{Evolution, EvolveError, SchemaVersion};
pub use keys::{key_ranges, parse_sha256, StoredKey};
pub use ledger_gap::{Unrecorded, ALERTS_SNAPSHOT, LEDGER_FOLLOWS, RUN_ID};
pub use positions::{
    stream_offsets_at, stream_offsets_property, BadOffsets, StreamOffsets, STREAM_OFFSETS_PREFIX,
};
pub use recover::{manual_steps, recover, MetadataFile, Recovered, Recovery};
pub use retry::{RetryPolicy, COMMIT_TOKEN};
pub use rewrite::{parquet_bytes, Rewritten};
pub use tables::{ledger_batch, quarantine_batch, BronzeTable, LedgerRow, QuarantineRow};
pub use writer::DataWriter;

use crate::error::ice;
use crate::retry::retried;

/// Name of the Iceberg catalog (pyiceberg must open it with the same name).
pub const CATALOG_NAME: &str = "ateda";
/// Namespace of the bronze tables.
pub const NAMESPACE: &str = "bronze";

/// Where the catalog and warehouse are.
#[derive(Debug, Clone)]
pub struct LakehouseConfig {
    /// `sqlite:PATH` or `http(s)://...` (Iceberg REST endpoint).
    pub catalog: String,
    /// Warehouse root: `file:///abs/dir` or `s3://bucket/prefix`.
    pub warehouse: String,
    /// Extra catalog/storage properties (e.g. `s3.endpoint`).
    pub props: HashMap<String, String>,
    /// How catalog calls ride out transient failures.
    pub retry: RetryPolicy,
}

/// A connected catalog with a survey's bronze tables ready.
pub struct Lakehouse {
    catalog: Arc<dyn Catalog>,
    description: String,
    retry: RetryPolicy,
    survey: Survey,
    config: LakehouseConfig,
}

impl Lakehouse {
    /// Connects and bootstraps the namespace and tables of a survey; refuses a lost
    /// catalog (empty or missing while the warehouse holds the tables: `recover`).
    pub async fn open(cfg: &LakehouseConfig, survey: Survey) -> Result<Lakehouse, LakehouseError> {
        recover::refuse_lost_catalog(cfg, &survey).await?;
        let lh = Lakehouse::connect(cfg, survey).await?;
        lh.refuse_lost_tables().await?;
        lh.bootstrap().await?;
        Ok(lh)
    }

    /// Connects without creating or changing anything (for read-only commands).
    pub async fn connect(
        cfg: &LakehouseConfig,
        survey: Survey,
    ) -> Result<Lakehouse, LakehouseError> {
        Ok(Lakehouse {
            catalog: catalog::connect(cfg).await?,
            description: format!("catalog {} warehouse {}", cfg.catalog, cfg.warehouse),
            retry: cfg.retry,
            survey,
            config: cfg.clone(),
        })
    }

    /// The alerts table's current schema, or the bootstrap schema a new table would get
    /// when there is no table yet (nothing is created).
    pub async fn alerts_schema_or_bootstrap(&self) -> Result<Arc<Schema>, LakehouseError> {
        let ident = self.ident(BronzeTable::Alerts);
        let exists = retried(&self.retry, "checking table", || {
            self.catalog.table_exists(&ident)
        })
        .await
        .map_err(ice("checking table"))?;
        if exists {
            self.alerts_schema().await
        } else {
            Ok(Arc::new(
                BronzeTable::Alerts.bootstrap_schema(&self.survey)?,
            ))
        }
    }

    /// Human-readable location of this lakehouse.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The survey whose tables these are.
    pub fn survey(&self) -> &Survey {
        &self.survey
    }

    /// Name of a bronze table within the `bronze` namespace.
    pub fn name(&self, t: BronzeTable) -> &'static str {
        t.name(&self.survey)
    }

    /// Identifier of a bronze table.
    pub fn ident(&self, t: BronzeTable) -> TableIdent {
        TableIdent::new(
            NamespaceIdent::new(NAMESPACE.to_string()),
            self.name(t).to_string(),
        )
    }

    /// Loads a bronze table's current metadata.
    pub async fn load(&self, t: BronzeTable) -> Result<Table, LakehouseError> {
        let ident = self.ident(t);
        retried(&self.retry, "loading table", || {
            self.catalog.load_table(&ident)
        })
        .await
        .map_err(ice(format!("loading table {}", self.name(t))))
    }

    /// Starts writing data files of the alerts table with rows in `schema` (one of the
    /// table's schemas).
    pub async fn alerts_writer(
        &self,
        schema: Arc<Schema>,
        file_prefix: &str,
    ) -> Result<DataWriter, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        writer::data_writer(&table, schema, file_prefix).await
    }

    /// Writes and commits small batches (ledger, quarantine) in one go, loading the table
    /// once: `rows` builds the batch in the table's current Arrow schema.
    pub async fn append<F>(
        &self,
        t: BronzeTable,
        rows: F,
        file_prefix: &str,
        properties: HashMap<String, String>,
    ) -> Result<Option<i64>, LakehouseError>
    where
        F: FnOnce(SchemaRef) -> Result<RecordBatch, arrow_schema::ArrowError>,
    {
        let table = self.load(t).await?;
        let schema = table.metadata().current_schema().clone();
        let arrow = Arc::new(schema_to_arrow_schema(&schema).map_err(ice("arrow schema"))?);
        let batch = rows(arrow).map_err(|e| LakehouseError::Schema {
            table: self.name(t).to_string(),
            reason: e.to_string(),
        })?;
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let mut w = writer::data_writer(&table, schema, file_prefix).await?;
        w.write(&batch).await?;
        let files = w.close().await?;
        self.commit(t, Some(table), files, properties).await
    }
}
