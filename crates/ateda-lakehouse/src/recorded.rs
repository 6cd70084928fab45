//! A SQLite catalog whose writes are only reported done once the catalog row says so.
//!
//! iceberg-catalog-sql 0.10.1 runs each of its writes (`update_table`, `create_table`,
//! `register_table`, `drop_table`, ...) in a transaction of its own and then ignores the
//! answer to the `COMMIT` (`SqlCatalog::execute`: `let _ = tx.commit().await...`). On
//! SQLite in rollback-journal mode the `UPDATE` itself succeeds while another process
//! holds a read transaction (a `SHARED` lock: a Spark session's JDBC catalog, a `sqlite3`
//! shell); the `COMMIT` then waits for the `EXCLUSIVE` lock for sqlx's busy timeout (5 s)
//! and fails with `SQLITE_BUSY`, the failure is dropped, the transaction is rolled back,
//! and `update_table` returns the new table: "committed", with the catalog still at the
//! old metadata. Its `rows_affected() == 0` conflict check cannot see this, since the
//! `UPDATE` did affect its row before the `COMMIT` failed.
//!
//! [`Recorded`] wraps that catalog and reads the row again after each such write: an
//! `update_table` whose metadata file is neither the row's current metadata nor in its
//! metadata log (a later commit by someone else) was not recorded, and fails as a
//! retryable commit conflict, so the Iceberg transaction reloads the table and tries
//! again, and after its retries the caller gets an error saying what happened.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation,
    TableIdent,
};

/// Where a catalog row stands relative to a metadata file this process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowState {
    /// The row points at the metadata file.
    Current,
    /// The row points at a later metadata file whose log holds ours (another writer
    /// committed on top of ours meanwhile).
    Superseded,
    /// The row never took the metadata file: it points at this one (`None`: no row).
    NotRecorded(Option<String>),
}

/// The SQL catalog (on SQLite), with each write checked against the catalog row it
/// should have changed.
#[derive(Debug)]
pub(crate) struct Recorded {
    inner: Arc<dyn Catalog>,
    /// The catalog file, for the error messages.
    path: String,
}

impl Recorded {
    /// Wraps the SQL catalog opened on the SQLite file `path`.
    pub(crate) fn new(inner: Arc<dyn Catalog>, path: String) -> Self {
        Recorded { inner, path }
    }

    /// Reads the row of `table` again (a fresh load, never a cached answer) and tells
    /// whether it took the metadata file `ours`.
    pub(crate) async fn row_state(&self, table: &TableIdent, ours: &str) -> Result<RowState> {
        let current = match self.inner.load_table(table).await {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::TableNotFound => {
                return Ok(RowState::NotRecorded(None))
            }
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!(
                        "reading the row of {table} in catalog {} again to check a write",
                        self.path
                    ),
                )
                .with_source(e))
            }
        };
        let at = current.metadata_location().unwrap_or_default();
        if at == ours {
            return Ok(RowState::Current);
        }
        if current
            .metadata()
            .metadata_log()
            .iter()
            .any(|m| m.metadata_file == ours)
        {
            return Ok(RowState::Superseded);
        }
        Ok(RowState::NotRecorded(Some(at.to_string())))
    }

    /// The error of a write the catalog row did not take.
    fn not_recorded(&self, what: &str, table: &TableIdent, ours: &str, at: Option<&str>) -> Error {
        let at = at.map_or_else(|| "no row".to_string(), |a| format!("the row at {a}"));
        Error::new(
            ErrorKind::CatalogCommitConflicts,
            format!(
                "SQLite catalog {path} did not record the {what} of {table} (metadata {ours}; \
                 {at}): its write was not committed, most likely because another process \
                 holds a transaction on {path} (a Spark session's JDBC catalog, a sqlite3 \
                 shell) and SQLite answered busy, which iceberg-catalog-sql 0.10.1 does not \
                 report. Close that session or its transaction and run again",
                path = self.path,
            ),
        )
    }
}

#[async_trait]
impl Catalog for Recorded {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let created = self.inner.create_namespace(namespace, properties).await?;
        if !self.inner.namespace_exists(namespace).await? {
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!(
                    "SQLite catalog {} did not record namespace {namespace}: another process \
                     most likely holds a transaction on it",
                    self.path
                ),
            ));
        }
        Ok(created)
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        let table = self.inner.create_table(namespace, creation).await?;
        let ours = table.metadata_location_result()?.to_string();
        match self.row_state(table.identifier(), &ours).await? {
            RowState::NotRecorded(at) => {
                Err(self.not_recorded("creation", table.identifier(), &ours, at.as_deref()))
            }
            RowState::Current | RowState::Superseded => Ok(table),
        }
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        self.inner.load_table(table).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await?;
        if self.inner.table_exists(table).await? {
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!(
                    "SQLite catalog {} did not record the drop of {table}: another process \
                     most likely holds a transaction on it",
                    self.path
                ),
            ));
        }
        Ok(())
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        let registered = self
            .inner
            .register_table(table, metadata_location.clone())
            .await?;
        match self.row_state(table, &metadata_location).await? {
            RowState::NotRecorded(at) => {
                Err(self.not_recorded("registration", table, &metadata_location, at.as_deref()))
            }
            RowState::Current | RowState::Superseded => Ok(registered),
        }
    }

    /// Commits through the SQL catalog, then checks that the row took the new metadata
    /// file. One it did not take fails as a retryable [`ErrorKind::CatalogCommitConflicts`]
    /// (nothing was applied: the Iceberg transaction reloads the table and tries again).
    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let ident = commit.identifier().clone();
        let table = self.inner.update_table(commit).await?;
        let ours = table.metadata_location_result()?.to_string();
        match self.row_state(&ident, &ours).await? {
            RowState::Current | RowState::Superseded => Ok(table),
            RowState::NotRecorded(at) => {
                tracing::warn!(
                    table = %ident,
                    catalog = %self.path,
                    "the SQLite catalog did not record the commit (its file is locked by \
                     another process?); retrying"
                );
                Err(self
                    .not_recorded("commit", &ident, &ours, at.as_deref())
                    .with_retryable(true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::RecordBatch;
    use ateda_schema::ztf::ZTF;
    use iceberg::arrow::schema_to_arrow_schema;
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    use sqlx::{Connection, Row, SqliteConnection};

    use crate::{
        ledger_batch, writer, Appended, BronzeTable, Lakehouse, LakehouseConfig, LedgerRow,
        COMMIT_TOKEN,
    };

    fn row(source: &str) -> LedgerRow {
        LedgerRow {
            run_id: "r".into(),
            source: source.into(),
            alerts: 1,
            ingested: 1,
            already_present: 0,
            snapshot_id: None,
            recorded_at_us: 0,
        }
    }

    /// The ledger table's metadata file as the catalog row has it (a connection of its own).
    async fn row_location(db: &str, table: &str) -> String {
        let mut conn = SqliteConnection::connect(&format!("sqlite:{db}"))
            .await
            .expect("connect");
        let loc: String =
            sqlx::query("SELECT metadata_location FROM iceberg_tables WHERE table_name = ?")
                .bind(table)
                .fetch_one(&mut conn)
                .await
                .expect("row")
                .get(0);
        conn.close().await.expect("close");
        loc
    }

    async fn append(lh: &Lakehouse, source: &str) -> Result<Option<i64>, crate::LakehouseError> {
        let rows = [row(source)];
        lh.append(
            BronzeTable::Ledger,
            |schema| ledger_batch(schema, &rows),
            source,
            HashMap::new(),
        )
        .await
    }

    /// A second connection holding a read transaction (a `SHARED` lock) on a SQLite
    /// catalog in rollback-journal mode makes iceberg-catalog-sql's COMMIT fail busy and
    /// drop the failure. Neither the plain nor the guarded commit may report it
    /// committed; once the reader is gone the same commit goes through.
    #[tokio::test]
    async fn a_commit_the_locked_catalog_did_not_record_fails() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(tmp.path().join("wh")).expect("warehouse");
        let db = tmp.path().join("catalog.db").display().to_string();
        let cfg = LakehouseConfig {
            catalog: format!("sqlite:{db}"),
            warehouse: format!("file://{}", tmp.path().join("wh").display()),
            props: HashMap::new(),
            retry: Default::default(),
        };
        let lh = Lakehouse::open(&cfg, ZTF).await.expect("open");
        let ledger = lh.name(BronzeTable::Ledger);
        // one retry of the Iceberg transaction, soon: each attempt waits sqlx's 5 s busy
        // timeout
        let table = lh.load(BronzeTable::Ledger).await.expect("load");
        let tx = Transaction::new(&table);
        let tx = tx
            .update_table_properties()
            .set("commit.retry.num-retries".into(), "1".into())
            .set("commit.retry.min-wait-ms".into(), "10".into())
            .apply(tx)
            .expect("properties");
        tx.commit(lh.catalog.as_ref()).await.expect("commit");
        let first = append(&lh, "a").await.expect("append").expect("snapshot");
        let before = row_location(&db, ledger).await;

        let mut reader = SqliteConnection::connect(&format!("sqlite:{db}"))
            .await
            .expect("reader");
        let mut read = reader.begin().await.expect("begin");
        let n: i64 = sqlx::query("SELECT count(*) FROM iceberg_tables")
            .fetch_one(&mut *read)
            .await
            .expect("select")
            .get(0);
        assert!(n >= 1);

        let lost = append(&lh, "b")
            .await
            .expect_err("a commit the catalog never took");
        assert!(lost.to_string().contains("did not record"), "{lost}");
        assert!(lost.rerun_helps(), "{lost}");

        // the guarded commit (keys checked at `first`) fails too, and is not `Moved`
        let table = lh.load(BronzeTable::Ledger).await.expect("load");
        let schema = table.metadata().current_schema().clone();
        let arrow = std::sync::Arc::new(schema_to_arrow_schema(&schema).expect("arrow"));
        let batch: RecordBatch = ledger_batch(arrow, &[row("c")]).expect("batch");
        let mut w = writer::data_writer(&table, schema, "c")
            .await
            .expect("writer");
        w.write(&batch).await.expect("write");
        let files = w.close().await.expect("close");
        let guarded = lh
            .commit_at(
                BronzeTable::Ledger,
                Some(first),
                files.clone(),
                HashMap::new(),
            )
            .await;
        assert!(guarded.is_err(), "{guarded:?}");

        read.commit().await.expect("end of the read transaction");
        reader.close().await.expect("close");
        assert_eq!(
            row_location(&db, ledger).await,
            before,
            "nothing was recorded"
        );
        let table = lh.load(BronzeTable::Ledger).await.expect("load");
        assert_eq!(table.metadata().current_snapshot_id(), Some(first));
        assert_eq!(table.metadata().snapshots().count(), 1);

        // the reader gone, the same commits are recorded, and said so
        let id = lh
            .commit_at(BronzeTable::Ledger, Some(first), files, HashMap::new())
            .await
            .expect("guarded commit");
        let Appended::Committed(id) = id else {
            panic!("{id:?}")
        };
        let again = append(&lh, "b").await.expect("append").expect("snapshot");
        assert_ne!(row_location(&db, ledger).await, before);
        let table = lh.load(BronzeTable::Ledger).await.expect("load");
        assert_eq!(table.metadata().current_snapshot_id(), Some(again));
        let snaps: Vec<i64> = table
            .metadata()
            .snapshots()
            .map(|s| s.snapshot_id())
            .collect();
        assert_eq!(snaps.len(), 3, "{snaps:?}");
        assert!(snaps.contains(&id));
        assert!(table
            .metadata()
            .snapshots()
            .all(|s| s.summary().additional_properties.contains_key(COMMIT_TOKEN)));
    }
}
