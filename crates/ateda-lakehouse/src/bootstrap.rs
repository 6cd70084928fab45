//! Bootstrap: the `bronze` namespace and tables are created when missing; an existing
//! table gets the columns its bootstrap schema has and it lacks (never recreated).

use std::collections::HashMap;

use ateda_schema::missing_columns;
use iceberg::{NamespaceIdent, TableCreation};

use crate::error::{ice, LakehouseError};
use crate::retry::retried;
use crate::{BronzeTable, Lakehouse, NAMESPACE};

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

impl Lakehouse {
    pub(crate) async fn bootstrap(&self) -> Result<(), LakehouseError> {
        self.ensure_namespace().await?;
        for t in BronzeTable::ALL {
            self.ensure_table(t).await?;
        }
        Ok(())
    }

    /// Creates the `bronze` namespace when missing.
    pub(crate) async fn ensure_namespace(&self) -> Result<(), LakehouseError> {
        let ns = NamespaceIdent::new(NAMESPACE.to_string());
        let exists = || {
            retried(&self.retry, "checking namespace", || {
                self.catalog.namespace_exists(&ns)
            })
        };
        if !exists().await.map_err(ice("checking namespace"))? {
            let create = retried(&self.retry, "creating namespace", || {
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
        Ok(())
    }

    async fn ensure_table(&self, t: BronzeTable) -> Result<(), LakehouseError> {
        let ident = self.ident(t);
        let name = self.name(t);
        let wanted = t.bootstrap_schema(&self.survey)?;
        let spec = t.partition_spec(&wanted)?;
        let exists = || {
            retried(&self.retry, "checking table", || {
                self.catalog.table_exists(&ident)
            })
        };
        if !exists().await.map_err(ice("checking table"))? {
            let create = retried(&self.retry, "creating table", || {
                let creation = TableCreation::builder()
                    .name(name.to_string())
                    .schema(wanted.clone())
                    .partition_spec_opt(spec.clone())
                    .properties(table_properties())
                    .build();
                self.catalog.create_table(&ident.namespace, creation)
            });
            match create.await {
                Ok(_) => {
                    tracing::info!(table = name, "created table");
                    return Ok(());
                }
                // A concurrent writer (or our own attempt whose answer was lost) made it.
                Err(e) if exists().await.unwrap_or(false) => {
                    tracing::debug!("table created concurrently: {e}")
                }
                Err(e) => return Err(ice(format!("creating table {name}"))(e)),
            }
        }
        // One attempt loads the table, compares and commits; each attempt reloads it, so a
        // schema change whose answer was lost shows as columns no longer missing.
        let (ident, wanted) = (&ident, &wanted);
        let evolve = || async move {
            let table = self.catalog.load_table(ident).await?;
            let current = table.metadata().current_schema().clone();
            let additions = match missing_columns(wanted, &current) {
                Ok(additions) => additions,
                Err(conflict) => return Ok(Err(conflict.to_string())),
            };
            if additions.is_empty() {
                return Ok(Ok(()));
            }
            tracing::info!(
                table = name,
                columns = additions.len(),
                "evolving table schema (bootstrap columns)"
            );
            self.add_columns(&table, &additions).await?;
            Ok(Ok(()))
        };
        retried(&self.retry, "evolving schema", evolve)
            .await
            .map_err(ice(format!("evolving schema of {name}")))?
            .map_err(|reason| LakehouseError::Schema {
                table: name.to_string(),
                reason,
            })
    }
}
