//! Opening the Iceberg catalog: SQL catalog on SQLite (embedded default) or REST.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use crate::error::{ice, LakehouseError};
use crate::recorded::Recorded;
use crate::{LakehouseConfig, CATALOG_NAME};

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

/// Connects to the catalog a configuration names.
pub(crate) async fn connect(cfg: &LakehouseConfig) -> Result<Arc<dyn Catalog>, LakehouseError> {
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
    if let Some(path) = sqlite_path(cfg) {
        let path = path.to_str().unwrap_or_default();
        if let CatalogFile::NotSqlite = catalog_file(std::path::Path::new(path))? {
            return Err(LakehouseError::Config(format!(
                "catalog file {path} is not a SQLite database: refusing to use or replace it \
                 (the tables' metadata and data files stay in warehouse {wh}). Run `{cmd}`: it moves the \
                 damaged file aside and registers each bronze table's latest metadata file \
                 in a new catalog (docs/bronze-contract.md, \"Lost or damaged catalog\")",
                wh = cfg.warehouse,
                cmd = recover_command(cfg),
            )));
        }
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                LakehouseError::Config(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        props.insert("uri".into(), format!("sqlite:{path}?mode=rwc"));
        let sql = SqlCatalogBuilder::default()
            .sql_bind_style(SqlBindStyle::QMark)
            .with_storage_factory(factory)
            .load(CATALOG_NAME, props)
            .await
            .map_err(ice(format!("opening SQL catalog {}", cfg.catalog)))?;
        // iceberg-catalog-sql drops the answer to its COMMITs: each write is checked
        // against the row it should have changed (crate::recorded).
        Ok(Arc::new(Recorded::new(Arc::new(sql), path.to_string())))
    } else if cfg.catalog.starts_with("http://") || cfg.catalog.starts_with("https://") {
        props.insert("uri".into(), cfg.catalog.clone());
        Ok(Arc::new(
            RestCatalogBuilder::default()
                .with_storage_factory(factory)
                .load(CATALOG_NAME, props)
                .await
                .map_err(ice(format!("opening REST catalog {}", cfg.catalog)))?,
        ))
    } else {
        Err(LakehouseError::Config(format!(
            "catalog URI {} must be sqlite:PATH or http(s)://host/path",
            cfg.catalog
        )))
    }
}

/// The SQLite file of a `sqlite:PATH` catalog.
pub(crate) fn sqlite_path(cfg: &LakehouseConfig) -> Option<PathBuf> {
    let path = cfg.catalog.strip_prefix("sqlite:")?;
    let path = path.trim_start_matches("//");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    Some(PathBuf::from(path))
}

/// What is at the path of a SQLite catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatalogFile {
    /// No file: a new catalog.
    Missing,
    /// A file of 0 bytes (and no write-ahead log holding its content).
    Empty,
    /// A file that starts with the SQLite header.
    Sqlite,
    /// Something else: never used, never replaced.
    NotSqlite,
}

/// The 16 bytes every SQLite database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Looks at a SQLite catalog file without opening it as a database (opening creates it).
pub(crate) fn catalog_file(path: &Path) -> Result<CatalogFile, LakehouseError> {
    let unreadable = |e: std::io::Error| {
        LakehouseError::Config(format!("cannot read catalog file {}: {e}", path.display()))
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CatalogFile::Missing),
        Err(e) => return Err(unreadable(e)),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref()
        .take(16)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    if head.is_empty() {
        // In WAL mode the content may still be in the log beside an empty main file.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal_len = std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len());
        return Ok(if wal_len > 0 {
            CatalogFile::Sqlite
        } else {
            CatalogFile::Empty
        });
    }
    Ok(if head.as_slice() == SQLITE_HEADER {
        CatalogFile::Sqlite
    } else {
        CatalogFile::NotSqlite
    })
}

/// The command that registers the tables of this configuration's warehouse again.
pub(crate) fn recover_command(cfg: &LakehouseConfig) -> String {
    format!(
        "ateda recover --catalog {} --warehouse {}",
        cfg.catalog, cfg.warehouse
    )
}

impl LakehouseError {
    /// Whether running the same command again may succeed with nothing changed: the
    /// failure was a catalog or storage outage (refused, reset or timed-out connections,
    /// HTTP 429/500/502/503/504) that outlasted the retries, or commit conflicts that
    /// outlasted the table's commit retries. Configuration, schema, permission, disk-full
    /// and other answers stay until someone acts.
    pub fn rerun_helps(&self) -> bool {
        match self {
            LakehouseError::Iceberg { cause, .. } => {
                crate::retry::is_transient(cause)
                    || cause.kind() == iceberg::ErrorKind::CatalogCommitConflicts
            }
            LakehouseError::Config(_) | LakehouseError::Schema { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_files_are_told_apart_without_opening_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::Missing);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::Empty);
        std::fs::write(dir.path().join("catalog.db-wal"), b"wal frames").unwrap();
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::Sqlite);
        std::fs::write(&path, b"not a database at all, just text").unwrap();
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::NotSqlite);
        std::fs::write(&path, b"SQLite").unwrap();
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::NotSqlite);
        let mut db = SQLITE_HEADER.to_vec();
        db.extend_from_slice(&[0; 84]);
        std::fs::write(&path, db).unwrap();
        assert_eq!(catalog_file(&path).unwrap(), CatalogFile::Sqlite);
    }

    #[test]
    fn only_outages_and_conflicts_are_worth_a_rerun() {
        let ice = |kind, msg: &str| LakehouseError::Iceberg {
            what: "x".into(),
            cause: Box::new(iceberg::Error::new(kind, msg.to_string())),
        };
        let unavailable = LakehouseError::Iceberg {
            what: "loading table".into(),
            cause: Box::new(
                iceberg::Error::new(iceberg::ErrorKind::Unexpected, "unexpected status")
                    .with_context("status", "503 Service Unavailable"),
            ),
        };
        assert!(unavailable.rerun_helps());
        let refused = LakehouseError::Iceberg {
            what: "loading table".into(),
            cause: Box::new(
                iceberg::Error::new(iceberg::ErrorKind::Unexpected, "request failed").with_source(
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
                ),
            ),
        };
        assert!(refused.rerun_helps());
        assert!(ice(iceberg::ErrorKind::CatalogCommitConflicts, "conflict").rerun_helps());
        assert!(!ice(iceberg::ErrorKind::DataInvalid, "bad").rerun_helps());
        let full = LakehouseError::Iceberg {
            what: "writing".into(),
            cause: Box::new(
                iceberg::Error::new(iceberg::ErrorKind::Unexpected, "write failed")
                    .with_source(std::io::Error::from(std::io::ErrorKind::StorageFull)),
            ),
        };
        assert!(!full.rerun_helps());
        assert!(!LakehouseError::Config("bad flag".into()).rerun_helps());
        let schema = LakehouseError::Schema {
            table: "alerts".into(),
            reason: "conflict".into(),
        };
        assert!(!schema.rerun_helps());
    }
}
