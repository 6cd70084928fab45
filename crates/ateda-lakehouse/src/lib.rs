//! The bronze tables in Apache Iceberg.
//!
//! - [`Lakehouse::open`] connects to an Iceberg catalog (SQL catalog on
//!   SQLite for the embedded default, or an Iceberg REST endpoint), creates
//!   the `bronze` namespace and tables when missing and evolves an older
//!   table schema by adding columns (never recreating the table).
//! - [`DataWriter`] writes Parquet data files (partitioned by night for
//!   `bronze.alerts`); [`Lakehouse::commit`] appends them in one snapshot,
//!   retrying on concurrent-commit conflicts.
//! - [`Lakehouse::existing_candids`] reads the candids already stored for
//!   given nights: the table itself is the source of truth for idempotency.
//! - Catalog calls ride out transient failures ([`RetryPolicy`]); a commit whose
//!   answer was lost is looked up by its token before it is ever repeated.

mod retry;
mod tables;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use iceberg::arrow::{schema_to_arrow_schema, RecordBatchPartitionSplitter};
use iceberg::expr::Reference;
use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg::spec::{DataFile, DataFileFormat, Datum, Schema};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

pub use retry::{RetryPolicy, COMMIT_TOKEN};
pub use tables::{ledger_batch, quarantine_batch, BronzeTable, LedgerRow, QuarantineRow};

/// Name of the Iceberg catalog (pyiceberg must open it with the same name).
pub const CATALOG_NAME: &str = "ateda";
/// Namespace of the bronze tables.
pub const NAMESPACE: &str = "bronze";

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

/// An error's message followed by those of its causes not already part of it.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        cause = c.source();
    }
    msg
}

fn ice(what: impl Into<String>) -> impl FnOnce(iceberg::Error) -> LakehouseError {
    let what = what.into();
    move |cause| LakehouseError::Iceberg {
        what,
        cause: Box::new(cause),
    }
}

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

/// Properties set on every table at creation: commit retries on conflict.
fn table_properties() -> Vec<(String, String)> {
    [
        ("commit.retry.num-retries", "20"),
        ("commit.retry.min-wait-ms", "50"),
        ("commit.retry.max-wait-ms", "5000"),
        ("commit.retry.total-timeout-ms", "600000"),
        ("write.format.default", "parquet"),
        ("write.parquet.compression-codec", "zstd"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Leaves S3 credentials out of the storage properties when they are exactly those of
/// the standard `AWS_*` environment variables: opendal then loads them from the
/// environment itself. Given as properties they become a `StaticCredentialProvider`,
/// which reqsign logs with its secret key at debug level (`RUST_LOG=debug`).
fn drop_env_credentials(props: &mut HashMap<String, String>) {
    const KEYS: [(&str, &str); 3] = [
        ("s3.access-key-id", "AWS_ACCESS_KEY_ID"),
        ("s3.secret-access-key", "AWS_SECRET_ACCESS_KEY"),
        ("s3.session-token", "AWS_SESSION_TOKEN"),
    ];
    let env_loading_off = props
        .get("s3.disable-config-load")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "t" | "1" | "on"));
    let from_env = KEYS
        .iter()
        .all(|(prop, env)| props.get(*prop).cloned() == std::env::var(env).ok());
    if from_env && !env_loading_off {
        for (prop, _) in KEYS {
            props.remove(prop);
        }
    }
}

/// A connected catalog with the bronze tables ready.
pub struct Lakehouse {
    catalog: Arc<dyn Catalog>,
    description: String,
    retry: RetryPolicy,
}

impl Lakehouse {
    /// Connects, bootstraps the namespace and tables, evolves old schemas.
    pub async fn open(cfg: &LakehouseConfig) -> Result<Lakehouse, LakehouseError> {
        let local = cfg.warehouse.starts_with("file:") || cfg.warehouse.starts_with('/');
        let factory: Arc<dyn StorageFactory> = if local {
            Arc::new(LocalFsStorageFactory)
        } else {
            Arc::new(OpenDalResolvingStorageFactory::new())
        };
        let mut props = cfg.props.clone();
        if !local {
            drop_env_credentials(&mut props);
        }
        props.insert("warehouse".into(), cfg.warehouse.clone());
        let catalog: Arc<dyn Catalog> = if let Some(path) = cfg.catalog.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if let Some(parent) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    LakehouseError::Config(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            props.insert("uri".into(), format!("sqlite:{path}?mode=rwc"));
            Arc::new(
                SqlCatalogBuilder::default()
                    .sql_bind_style(SqlBindStyle::QMark)
                    .with_storage_factory(factory)
                    .load(CATALOG_NAME, props)
                    .await
                    .map_err(ice(format!("opening SQL catalog {}", cfg.catalog)))?,
            )
        } else if cfg.catalog.starts_with("http://") || cfg.catalog.starts_with("https://") {
            props.insert("uri".into(), cfg.catalog.clone());
            Arc::new(
                RestCatalogBuilder::default()
                    .with_storage_factory(factory)
                    .load(CATALOG_NAME, props)
                    .await
                    .map_err(ice(format!("opening REST catalog {}", cfg.catalog)))?,
            )
        } else {
            return Err(LakehouseError::Config(format!(
                "catalog URI {} must be sqlite:PATH or http(s)://host/path",
                cfg.catalog
            )));
        };
        let lh = Lakehouse {
            catalog,
            description: format!("catalog {} warehouse {}", cfg.catalog, cfg.warehouse),
            retry: cfg.retry,
        };
        lh.bootstrap().await?;
        Ok(lh)
    }

    /// Human-readable location of this lakehouse.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The catalog (for readers and tests).
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    async fn bootstrap(&self) -> Result<(), LakehouseError> {
        let ns = NamespaceIdent::new(NAMESPACE.to_string());
        let exists = || self.retried("checking namespace", || self.catalog.namespace_exists(&ns));
        if !exists().await.map_err(ice("checking namespace"))? {
            let create = self.retried("creating namespace", || {
                self.catalog.create_namespace(&ns, HashMap::new())
            });
            match create.await {
                Ok(_) => {}
                // A concurrent writer (or our own attempt whose answer was lost) made it.
                Err(e) if exists().await.unwrap_or(false) => {
                    tracing::debug!("namespace created concurrently: {e}")
                }
                Err(e) => return Err(ice("creating namespace bronze")(e)),
            }
        }
        for t in BronzeTable::ALL {
            self.ensure_table(t).await?;
        }
        Ok(())
    }

    async fn ensure_table(&self, t: BronzeTable) -> Result<(), LakehouseError> {
        let ident = t.ident();
        let wanted = t.schema()?;
        let spec = t.partition_spec(&wanted)?;
        let exists = || self.retried("checking table", || self.catalog.table_exists(&ident));
        if !exists().await.map_err(ice("checking table"))? {
            let create = self.retried("creating table", || {
                let creation = TableCreation::builder()
                    .name(t.name().to_string())
                    .schema(wanted.clone())
                    .partition_spec_opt(spec.clone())
                    .properties(table_properties())
                    .build();
                self.catalog.create_table(&ident.namespace, creation)
            });
            match create.await {
                Ok(_) => {
                    tracing::info!(table = %t.name(), "created table");
                    return Ok(());
                }
                // A concurrent writer (or our own attempt whose answer was lost) made it.
                Err(e) if exists().await.unwrap_or(false) => {
                    tracing::debug!("table created concurrently: {e}")
                }
                Err(e) => return Err(ice(format!("creating table {}", t.name()))(e)),
            }
        }
        // One attempt loads the table, compares and commits; each attempt reloads it, so a
        // schema change whose answer was lost shows as columns no longer missing.
        let (ident, wanted) = (&ident, &wanted);
        let evolve = || async move {
            let table = self.catalog.load_table(ident).await?;
            let current = table.metadata().current_schema().clone();
            let additions = match tables::missing_columns(wanted, &current) {
                Ok(additions) => additions,
                Err(reason) => return Ok(Err(reason)),
            };
            if additions.is_empty() {
                return Ok(Ok(()));
            }
            tracing::info!(table = %t.name(), columns = additions.len(), "evolving table schema");
            let tx = Transaction::new(&table);
            let mut action = tx.update_schema();
            for a in additions {
                action = action.add_column(a);
            }
            action.apply(tx)?.commit(self.catalog.as_ref()).await?;
            Ok(Ok(()))
        };
        self.retried("evolving schema", evolve)
            .await
            .map_err(ice(format!("evolving schema of {}", t.name())))?
            .map_err(|reason| LakehouseError::Schema {
                table: t.name().to_string(),
                reason,
            })
    }

    /// Runs a catalog call, repeating it after transient failures within the policy.
    async fn retried<T, F, Fut>(&self, what: &str, mut call: F) -> iceberg::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = iceberg::Result<T>>,
    {
        let mut backoff = self.retry.start();
        loop {
            match call().await {
                Err(e) if retry::is_transient(&e) => match backoff.next_wait() {
                    Some(wait) => self.note_retry(what, &e, wait).await,
                    None => return Err(e),
                },
                result => return result,
            }
        }
    }

    /// Logs a transient failure and waits before the next attempt.
    async fn note_retry(&self, what: &str, e: &iceberg::Error, wait: std::time::Duration) {
        tracing::warn!(
            what,
            wait_ms = wait.as_millis() as u64,
            error = %with_causes(e),
            "catalog call failed transiently; retrying"
        );
        tokio::time::sleep(wait).await;
    }

    /// Loads a bronze table's current metadata.
    pub async fn load(&self, t: BronzeTable) -> Result<Table, LakehouseError> {
        let ident = t.ident();
        self.retried("loading table", || self.catalog.load_table(&ident))
            .await
            .map_err(ice(format!("loading table {}", t.name())))
    }

    /// Arrow schema (with Iceberg field ids) of a table's current schema.
    pub async fn arrow_schema(&self, t: BronzeTable) -> Result<SchemaRef, LakehouseError> {
        let table = self.load(t).await?;
        Ok(Arc::new(
            schema_to_arrow_schema(table.metadata().current_schema())
                .map_err(ice("arrow schema"))?,
        ))
    }

    /// Candids already in `bronze.alerts` for the given nights, with the
    /// snapshot they were read from.
    pub async fn existing_candids(
        &self,
        nights: &[i32],
    ) -> Result<(HashSet<i64>, Option<i64>), LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let snapshot = table.metadata().current_snapshot().map(|s| s.snapshot_id());
        let mut out = HashSet::new();
        if snapshot.is_none() || nights.is_empty() {
            return Ok((out, snapshot));
        }
        let filter = Reference::new(ateda_ztf_schema::NIGHT_COLUMN)
            .is_in(nights.iter().map(|&d| Datum::date(d)));
        let scan = table
            .scan()
            .select(["candid"])
            .with_filter(filter)
            .build()
            .map_err(ice("planning candid scan"))?;
        let mut stream = scan.to_arrow().await.map_err(ice("scanning candids"))?;
        while let Some(batch) = stream.try_next().await.map_err(ice("reading candids"))? {
            if let Some(col) = batch.column(0).as_any().downcast_ref::<Int64Array>() {
                out.extend(col.iter().flatten());
            }
        }
        Ok((out, snapshot))
    }

    /// Starts writing data files for a table.
    pub async fn writer(
        &self,
        t: BronzeTable,
        file_prefix: &str,
    ) -> Result<DataWriter, LakehouseError> {
        let table = self.load(t).await?;
        let meta = table.metadata();
        let schema = meta.current_schema().clone();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).map_err(|e| LakehouseError::Config(e.to_string()))?,
            ))
            .set_max_row_group_row_count(Some(16_384))
            .build();
        let location = DefaultLocationGenerator::new(meta).map_err(ice("location generator"))?;
        let names =
            DefaultFileNameGenerator::new(file_prefix.to_string(), None, DataFileFormat::Parquet);
        let rolling = RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(props, schema.clone()),
            512 * 1024 * 1024,
            table.file_io().clone(),
            location,
            names,
        );
        let spec = meta.default_partition_spec().clone();
        let builder = DataFileWriterBuilder::new(rolling);
        let inner = if spec.is_unpartitioned() {
            Inner::Plain(Box::new(
                builder.build(None).await.map_err(ice("data file writer"))?,
            ))
        } else {
            let splitter =
                RecordBatchPartitionSplitter::try_new_with_computed_values(schema.clone(), spec)
                    .map_err(ice("partition splitter"))?;
            Inner::Partitioned(Box::new((FanoutWriter::new(builder), splitter)))
        };
        Ok(DataWriter { inner, rows: 0 })
    }

    /// Appends data files to a table in one snapshot and returns the new snapshot id.
    ///
    /// Conflicts with concurrent writers are retried by the Iceberg transaction.
    /// Transient catalog failures are retried here within the [`RetryPolicy`]; when a
    /// failure leaves the outcome unknown, the table is searched for this commit's
    /// [`COMMIT_TOKEN`] first, so the files are never appended twice.
    pub async fn commit(
        &self,
        t: BronzeTable,
        files: Vec<DataFile>,
        mut properties: HashMap<String, String>,
    ) -> Result<Option<i64>, LakehouseError> {
        if files.is_empty() {
            return Ok(None);
        }
        let token = uuid::Uuid::new_v4().to_string();
        properties.insert(COMMIT_TOKEN.to_string(), token.clone());
        let ident = t.ident();
        // Set once an attempt failed in a way that may have applied it: from then on
        // each attempt first looks for the token in the reloaded table.
        let maybe_applied = AtomicBool::new(false);
        let (ident, files, properties) = (&ident, &files, &properties);
        let (token, flag) = (&token, &maybe_applied);
        let attempt = || async move {
            let table = self.catalog.load_table(ident).await?;
            if flag.load(Ordering::Relaxed) {
                if let Some(id) = snapshot_with_token(&table, token) {
                    tracing::warn!(
                        table = t.name(),
                        snapshot = id,
                        "the commit whose answer was lost had been applied; not repeating it"
                    );
                    return Ok(Some(id));
                }
            }
            let tx = Transaction::new(&table);
            let tx = tx
                .fast_append()
                .with_check_duplicate(false)
                .add_data_files(files.clone())
                .set_snapshot_properties(properties.clone())
                .apply(tx)?;
            match tx.commit(self.catalog.as_ref()).await {
                Ok(table) => Ok(table.metadata().current_snapshot().map(|s| s.snapshot_id())),
                Err(e) => {
                    if retry::outcome_unknown(&e) {
                        flag.store(true, Ordering::Relaxed);
                    }
                    Err(e)
                }
            }
        };
        self.retried("committing", attempt)
            .await
            .map_err(ice(format!("committing to {}", t.name())))
    }

    /// Writes and commits small batches (ledger, quarantine) in one go.
    pub async fn append(
        &self,
        t: BronzeTable,
        batches: &[RecordBatch],
        file_prefix: &str,
        properties: HashMap<String, String>,
    ) -> Result<Option<i64>, LakehouseError> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(None);
        }
        let mut w = self.writer(t, file_prefix).await?;
        for b in batches {
            w.write(b).await?;
        }
        let files = w.close().await?;
        self.commit(t, files, properties).await
    }
}

/// Writes record batches into Parquet data files of one table.
pub struct DataWriter {
    inner: Inner,
    rows: usize,
}

type FileBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

enum Inner {
    Partitioned(Box<(FanoutWriter<FileBuilder>, RecordBatchPartitionSplitter)>),
    Plain(Box<<FileBuilder as IcebergWriterBuilder>::R>),
}

impl DataWriter {
    /// Writes a batch (split by partition).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), LakehouseError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match &mut self.inner {
            Inner::Partitioned(p) => {
                let (fanout, splitter) = &mut **p;
                for (key, part) in splitter
                    .split(batch)
                    .map_err(ice("splitting by partition"))?
                {
                    fanout
                        .write(key, part)
                        .await
                        .map_err(ice("writing parquet"))?;
                }
            }
            Inner::Plain(w) => w
                .write(batch.clone())
                .await
                .map_err(ice("writing parquet"))?,
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Finishes the files and returns them for a commit.
    pub async fn close(self) -> Result<Vec<DataFile>, LakehouseError> {
        match self.inner {
            Inner::Partitioned(p) => p.0.close().await,
            Inner::Plain(mut w) => w.close().await,
        }
        .map_err(ice("closing parquet files"))
    }
}

/// The id of the snapshot of `table` committed with this [`COMMIT_TOKEN`], if any.
fn snapshot_with_token(table: &Table, token: &str) -> Option<i64> {
    table
        .metadata()
        .snapshots()
        .find(|s| {
            s.summary()
                .additional_properties
                .get(COMMIT_TOKEN)
                .map(String::as_str)
                == Some(token)
        })
        .map(|s| s.snapshot_id())
}

/// Current Iceberg schema of a table (for tests and checks).
pub async fn current_schema(lh: &Lakehouse, t: BronzeTable) -> Result<Arc<Schema>, LakehouseError> {
    Ok(lh.load(t).await?.metadata().current_schema().clone())
}

/// Builds an identifier for a bronze table.
pub fn ident(name: &str) -> TableIdent {
    TableIdent::new(NamespaceIdent::new(NAMESPACE.to_string()), name.to_string())
}
