//! Schema evolution: the alerts table grows with every writer schema met.
//!
//! For a writer schema, the table is reloaded, diffed ([`ateda_schema::diff_writer`]) and
//! the missing columns are added in one schema commit (iceberg's add-column action, which
//! never rewrites data files); promotions commit the whole evolved schema
//! (`schema_commit`). A concurrent writer adding the same column first is not an
//! error: the next attempt reloads, re-diffs and finds nothing left to do.

use std::sync::Arc;
use std::time::Duration;

use ateda_schema::{apply_changes, diff_writer, SchemaChange, WriterSchema};
use iceberg::spec::Schema;
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};

use crate::error::{ice, LakehouseError};
use crate::retry::retried;
use crate::{BronzeTable, Lakehouse};

/// How many times a schema change is re-diffed after losing a race to another writer.
const ATTEMPTS: usize = 10;

/// The outcome of evolving the table for a writer schema.
#[derive(Debug, Clone)]
pub struct Evolution {
    /// The table's current schema afterwards (fits the writer).
    pub schema: Arc<Schema>,
    /// The changes this call committed (empty when another writer made them first).
    pub applied: Vec<String>,
}

/// Why the table could not be evolved for a writer schema.
#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    /// The writer's packets cannot be stored (quarantine them with this reason).
    #[error("{0}")]
    Rejected(String),
    /// The catalog failed.
    #[error(transparent)]
    Lakehouse(#[from] LakehouseError),
}

/// An iceberg add-column action for an addition.
fn add_column(change: &SchemaChange) -> Option<AddColumn> {
    let SchemaChange::AddColumn {
        parent,
        name,
        field_type,
        doc,
        ..
    } = change
    else {
        return None;
    };
    let (name, ty) = (name.clone(), field_type.clone());
    Some(match (parent, doc) {
        (Some(p), Some(d)) => AddColumn::builder()
            .parent(p.clone())
            .name(name)
            .field_type(ty)
            .doc(d.clone())
            .build(),
        (Some(p), None) => AddColumn::builder()
            .parent(p.clone())
            .name(name)
            .field_type(ty)
            .build(),
        (None, Some(d)) => AddColumn::builder()
            .name(name)
            .field_type(ty)
            .doc(d.clone())
            .build(),
        (None, None) => AddColumn::optional(name, ty),
    })
}

impl Lakehouse {
    /// Commits additions to a table's schema (one schema commit, no data rewritten).
    pub(crate) async fn add_columns(
        &self,
        table: &Table,
        changes: &[SchemaChange],
    ) -> iceberg::Result<Table> {
        let tx = Transaction::new(table);
        let mut action = tx.update_schema();
        for a in changes.iter().filter_map(add_column) {
            action = action.add_column(a);
        }
        action.apply(tx)?.commit(self.catalog.as_ref()).await
    }

    /// The alerts table's current schema.
    pub async fn alerts_schema(&self) -> Result<Arc<Schema>, LakehouseError> {
        Ok(self
            .load(BronzeTable::Alerts)
            .await?
            .metadata()
            .current_schema()
            .clone())
    }

    /// Evolves the alerts table so that packets of `writer` fit it.
    pub async fn evolve_for(&self, writer: &WriterSchema) -> Result<Evolution, EvolveError> {
        let name = self.name(BronzeTable::Alerts);
        let mut applied = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let table = self.load(BronzeTable::Alerts).await?;
            let current = table.metadata().current_schema().clone();
            let diff = diff_writer(&self.survey, writer, &current);
            if let Some(reason) = diff.conflict_reason() {
                return Err(EvolveError::Rejected(reason));
            }
            if diff.changes.is_empty() {
                return Ok(Evolution {
                    schema: current,
                    applied,
                });
            }
            let described: Vec<String> = diff.changes.iter().map(SchemaChange::describe).collect();
            let result = if diff.changes.iter().any(SchemaChange::rewrites_types) {
                // Promotions: the whole evolved schema, committed as one new schema.
                let evolved =
                    apply_changes(&current, &diff.changes, table.metadata().last_column_id())
                        .map_err(|e| EvolveError::Rejected(e.to_string()))?;
                retried(&self.retry, "evolving schema", || {
                    self.replace_schema(&table, evolved.clone())
                })
                .await
            } else {
                retried(&self.retry, "evolving schema", || {
                    self.add_columns(&table, &diff.changes)
                })
                .await
                .map(|_| ())
            };
            match result {
                Ok(_) => {
                    tracing::info!(table = name, changes = ?described, "evolved table schema");
                    applied.extend(described);
                }
                // Most likely another writer changed the schema first: reload and re-diff.
                Err(e) if attempt < ATTEMPTS => {
                    tracing::info!(table = name, error = %e, attempt, "schema change lost a race; reloading");
                    tokio::time::sleep(Duration::from_millis(20 * attempt as u64)).await;
                }
                Err(e) => return Err(ice(format!("evolving schema of {name}"))(e).into()),
            }
        }
        Err(EvolveError::Lakehouse(LakehouseError::Schema {
            table: name.to_string(),
            reason: format!("schema did not settle after {ATTEMPTS} attempts"),
        }))
    }

    /// Every schema of the alerts table, oldest first, with what each changed.
    pub async fn schema_history(&self) -> Result<Vec<SchemaVersion>, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let meta = table.metadata();
        let mut schemas: Vec<&Arc<Schema>> = meta.schemas_iter().collect();
        schemas.sort_by_key(|s| s.schema_id());
        let mut out = Vec::with_capacity(schemas.len());
        let mut previous: Option<&Arc<Schema>> = None;
        for s in schemas {
            let mut changes = Vec::new();
            let names = names_by_id(s);
            if let Some(p) = previous {
                for (id, name) in &names {
                    let (id, name) = (*id, name);
                    match p.field_by_id(id) {
                        None => changes.push(format!("add {name}")),
                        Some(old) => {
                            let new = s.field_by_id(id);
                            if let Some(new) = new {
                                if old.field_type != new.field_type
                                    && matches!(*new.field_type, iceberg::spec::Type::Primitive(_))
                                {
                                    changes.push(format!(
                                        "promote {name}: {} -> {}",
                                        old.field_type, new.field_type
                                    ));
                                }
                                if old.required && !new.required {
                                    changes.push(format!("make {name} optional"));
                                }
                            }
                        }
                    }
                }
            }
            out.push(SchemaVersion {
                schema_id: s.schema_id(),
                columns: names.len(),
                current: s.schema_id() == meta.current_schema_id(),
                changes,
            });
            previous = Some(s);
        }
        Ok(out)
    }
}

/// Full names of a schema's fields by id, in id order (list elements and map parts
/// included).
fn names_by_id(s: &Schema) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = (0..=s.highest_field_id())
        .filter_map(|id| s.name_by_field_id(id).map(|n| (id, n.to_string())))
        .collect();
    v.sort();
    v
}

/// One schema of the alerts table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaVersion {
    /// Iceberg schema id.
    pub schema_id: i32,
    /// Number of fields at every depth.
    pub columns: usize,
    /// True for the current schema.
    pub current: bool,
    /// What it changed from the previous schema (`add candidate.x`, `promote ...`).
    pub changes: Vec<String>,
}
