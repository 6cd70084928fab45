//! A catalog view that lets a commit through only while the table's main branch is at
//! the snapshot the caller validated against.
//!
//! iceberg-rust's transaction reloads the table before each commit attempt and rebases
//! onto whatever was committed meanwhile. That is right for a blind append and wrong for
//! an append that must not repeat a key a concurrent writer committed: that writer's keys
//! were never checked. Through this view, a reload that finds the branch moved fails the
//! attempt instead (and says so), so the caller validates the new snapshots and tries
//! again; the commit itself still carries iceberg's own `assert-ref-snapshot-id`
//! requirement, so nothing can slip in between the reload and the catalog's swap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation,
    TableIdent,
};

/// The catalog, with `load_table` of `table` refused unless its main branch is at
/// `snapshot`.
#[derive(Debug)]
pub(crate) struct AtSnapshot {
    inner: Arc<dyn Catalog>,
    table: TableIdent,
    snapshot: Option<i64>,
    moved: AtomicBool,
}

impl AtSnapshot {
    pub(crate) fn new(inner: Arc<dyn Catalog>, table: TableIdent, snapshot: Option<i64>) -> Self {
        AtSnapshot {
            inner,
            table,
            snapshot,
            moved: AtomicBool::new(false),
        }
    }

    /// True once a load found the branch moved past the validated snapshot.
    pub(crate) fn moved(&self) -> bool {
        self.moved.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Catalog for AtSnapshot {
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
        self.inner.create_namespace(namespace, properties).await
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
        self.inner.create_table(namespace, creation).await
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        let loaded = self.inner.load_table(table).await?;
        if *table == self.table && loaded.metadata().current_snapshot_id() != self.snapshot {
            self.moved.store(true, Ordering::Relaxed);
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!(
                    "{table}: the main branch moved from snapshot {:?} to {:?} since its keys \
                     were checked",
                    self.snapshot,
                    loaded.metadata().current_snapshot_id()
                ),
            ));
        }
        Ok(loaded)
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
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
        self.inner.register_table(table, metadata_location).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await
    }
}
