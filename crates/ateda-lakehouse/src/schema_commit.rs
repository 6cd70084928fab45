//! Committing a whole new table schema: how type promotions (`int` -> `long`, `float` ->
//! `double`, required -> optional) are applied.
//!
//! iceberg-rust 0.10 can add columns but has no public action that changes a column's
//! type, and its `TableCommit` cannot be built outside the crate. The commit itself is
//! the standard Iceberg one, done here for the two catalogs `ateda` opens:
//! - SQL catalog: the new metadata file is written next to the current one and the
//!   catalog row is swapped only if it still points at the metadata the change was based
//!   on (the same compare-and-swap the SQL catalog does);
//! - REST catalog: the spec's commit endpoint (`POST .../namespaces/{ns}/tables/{t}`)
//!   with the requirement that the current schema id has not moved.
//!
//! Either way a concurrent change makes the commit fail as a conflict; the caller reloads
//! and re-diffs. No data file is rewritten: readers widen older files' values.

use std::str::FromStr;

use iceberg::spec::Schema;
use iceberg::table::Table;
use iceberg::{Error, ErrorKind, MetadataLocation, TableRequirement, TableUpdate};
use sqlx::Connection;

use crate::{Lakehouse, CATALOG_NAME, NAMESPACE};

fn conflict(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::CatalogCommitConflicts, what.into()).with_retryable(true)
}

fn unexpected(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unexpected, what.to_string())
}

impl Lakehouse {
    /// Makes `schema` the current schema of `table` (loaded just before).
    pub(crate) async fn replace_schema(
        &self,
        table: &Table,
        schema: Schema,
    ) -> iceberg::Result<()> {
        let catalog = self.config.catalog.clone();
        if let Some(path) = catalog.strip_prefix("sqlite:") {
            self.replace_schema_sql(path.trim_start_matches("//"), table, schema)
                .await
        } else {
            self.replace_schema_rest(&catalog, table, schema).await
        }
    }

    async fn replace_schema_sql(
        &self,
        path: &str,
        table: &Table,
        schema: Schema,
    ) -> iceberg::Result<()> {
        let current = table.metadata_location_result()?.to_string();
        let metadata = table
            .metadata()
            .clone()
            .into_builder(Some(current.clone()))
            .add_current_schema(schema)?
            .build()?
            .metadata;
        let location = MetadataLocation::from_str(&current)?
            .with_next_version()
            .with_new_metadata(&metadata);
        metadata.write_to(table.file_io(), &location).await?;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{path}"))
            .await
            .map_err(|e| unexpected(format!("opening {path}: {e}")))?;
        let ident = table.identifier();
        let done = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
             WHERE catalog_name = ? AND table_name = ? AND table_namespace = ? \
             AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?",
        )
        .bind(location.to_string())
        .bind(&current)
        .bind(CATALOG_NAME)
        .bind(ident.name())
        .bind(ident.namespace().join("."))
        .bind(&current)
        .execute(&mut conn)
        .await
        .map_err(|e| unexpected(format!("updating the catalog row: {e}")))?;
        if done.rows_affected() == 0 {
            return Err(conflict(format!("schema change of {ident} conflicted")));
        }
        Ok(())
    }

    async fn replace_schema_rest(
        &self,
        uri: &str,
        table: &Table,
        schema: Schema,
    ) -> iceberg::Result<()> {
        let base = uri.trim_end_matches('/');
        let client = reqwest::Client::new();
        let auth = |r: reqwest::RequestBuilder| match self.config.props.get("token") {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        // The catalog's prefix, as its client learns it from /v1/config.
        let config: serde_json::Value = {
            let r = auth(client.get(format!("{base}/v1/config")))
                .query(&[("warehouse", self.config.warehouse.as_str())])
                .send()
                .await
                .map_err(|e| unexpected(format!("GET {base}/v1/config: {e}")))?;
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(unexpected(format!("GET {base}/v1/config: {text}"))
                    .with_context("status", status.to_string()));
            }
            serde_json::from_str(&text).map_err(|e| unexpected(format!("config: {e}")))?
        };
        let prefix = ["overrides", "defaults"]
            .iter()
            .find_map(|k| config[k]["prefix"].as_str())
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        let ident = table.identifier();
        let body = serde_json::json!({
            "identifier": {"namespace": [NAMESPACE], "name": ident.name()},
            "requirements": [
                TableRequirement::UuidMatch { uuid: table.metadata().uuid() },
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: table.metadata().current_schema_id(),
                },
            ],
            "updates": [
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ],
        });
        let url = format!(
            "{base}/v1{prefix}/namespaces/{NAMESPACE}/tables/{}",
            ident.name()
        );
        let r = auth(client.post(&url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| unexpected(format!("POST {url}: {e}")))?;
        let status = r.status();
        if status.is_success() {
            return Ok(());
        }
        let text = r.text().await.unwrap_or_default();
        if status.as_u16() == 409 {
            return Err(conflict(format!(
                "schema change of {ident} conflicted: {text}"
            )));
        }
        Err(unexpected(format!("POST {url}: {text}")).with_context("status", status.to_string()))
    }
}
