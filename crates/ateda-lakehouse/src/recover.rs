//! A lost or damaged catalog.
//!
//! The catalog is the only record of which metadata file is each table's current one;
//! the tables themselves (metadata, manifests, data files) stay in the warehouse. A
//! catalog that is missing, empty or lacks a bronze table while the warehouse holds
//! that table's metadata files was lost (a truncated `catalog.db`, a REST catalog reset
//! to nothing): bootstrapping a new one would hide every committed row. So:
//!
//! - [`Lakehouse::open`](crate::Lakehouse::open) refuses to start, naming the catalog,
//!   the warehouse and the recovery command (`refuse_lost_catalog` before connecting,
//!   `Lakehouse::refuse_lost_tables` before bootstrap creates anything);
//! - [`recover`] registers each bronze table's latest metadata file (highest version,
//!   newest on a tie, one that parses) in the catalog again: the table is back as of
//!   its last commit. A SQLite catalog file that is not a database at all is moved aside
//!   first, never overwritten.
//!
//! Warehouses are listed directly: `file://` (or an absolute path) on the file system,
//! `s3://bucket/prefix` with object_store (credentials and endpoint from `AWS_*`). A
//! REST catalog's warehouse *name* (not a URI) cannot be listed: no guard, and
//! [`recover`] says so and prints the manual steps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ateda_schema::Survey;
use futures::TryStreamExt;
use iceberg::spec::TableMetadata;
use iceberg::{NamespaceIdent, TableIdent};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::catalog::{catalog_file, recover_command, sqlite_path, CatalogFile};
use crate::error::{ice, LakehouseError};
use crate::retry::retried;
use crate::{BronzeTable, Lakehouse, LakehouseConfig, CATALOG_NAME, NAMESPACE};

/// One `*.metadata.json` file of a table in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFile {
    /// Table name within `bronze`.
    pub table: String,
    /// Full location (`file:///...`, `s3://...`), as a catalog records it.
    pub location: String,
    /// The version its name starts with (`00012-<uuid>.metadata.json`: 12).
    pub version: u64,
    /// Last modification time, when known (breaks ties between equal versions).
    pub modified: Option<SystemTime>,
}

impl MetadataFile {
    /// The file name alone.
    pub fn file_name(&self) -> &str {
        self.location.rsplit('/').next().unwrap_or(&self.location)
    }
}

/// The version of a metadata file name: `00012-<uuid>.metadata.json` (Iceberg catalogs)
/// or `v12.metadata.json` (Hadoop tables); `None` for any other file.
fn metadata_version(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".metadata.json")?;
    let digits = match stem.split_once('-') {
        Some((digits, _uuid)) => digits,
        None => stem.strip_prefix('v')?,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a directory under `<warehouse>/bronze/` holds that table: its own name (the
/// SQL catalog's `<warehouse>/<namespace>/<table>`) or the name plus a unique suffix
/// (`alerts-<uuid>`, as REST catalogs often name table locations).
fn table_dir_matches(dir: &str, table: &str) -> bool {
    let Some(rest) = dir.strip_prefix(table) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(suffix) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('_')) else {
        return false;
    };
    suffix.len() >= 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// A warehouse that can be listed.
enum Warehouse {
    /// A directory; `base` is the warehouse URI as configured (locations start with it).
    Local { root: PathBuf, base: String },
    /// A bucket and key prefix.
    S3 {
        store: Arc<dyn ObjectStore>,
        bucket: String,
        prefix: String,
    },
}

impl Warehouse {
    /// The warehouse of a configuration; `None` when it is not a URI (a REST catalog's
    /// warehouse name).
    fn of(cfg: &LakehouseConfig) -> Result<Option<Warehouse>, LakehouseError> {
        let uri = cfg.warehouse.trim_end_matches('/');
        if let Some(path) = uri
            .strip_prefix("file://")
            .or(uri.starts_with('/').then_some(uri))
        {
            return Ok(Some(Warehouse::Local {
                root: PathBuf::from(path),
                base: uri.to_string(),
            }));
        }
        let Some(rest) = uri
            .strip_prefix("s3://")
            .or_else(|| uri.strip_prefix("s3a://"))
        else {
            return Ok(None);
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| LakehouseError::Config(format!("warehouse {uri}: {e}")))?;
        Ok(Some(Warehouse::S3 {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }))
    }

    /// Every metadata file of a bronze table.
    async fn metadata_files(&self, table: &str) -> Result<Vec<MetadataFile>, LakehouseError> {
        match self {
            Warehouse::Local { root, base } => {
                let ns = root.join(NAMESPACE);
                let listing = |dir: &std::path::Path, e: std::io::Error| {
                    LakehouseError::Config(format!("listing {}: {e}", dir.display()))
                };
                let entries = match std::fs::read_dir(&ns) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(listing(&ns, e)),
                };
                let mut found = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| listing(&ns, e))?;
                    let dir = entry.file_name().to_string_lossy().into_owned();
                    if !table_dir_matches(&dir, table) {
                        continue;
                    }
                    let meta_dir = entry.path().join("metadata");
                    let files = match std::fs::read_dir(&meta_dir) {
                        Ok(files) => files,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(listing(&meta_dir, e)),
                    };
                    for file in files {
                        let file = file.map_err(|e| listing(&meta_dir, e))?;
                        let name = file.file_name().to_string_lossy().into_owned();
                        let Some(version) = metadata_version(&name) else {
                            continue;
                        };
                        found.push(MetadataFile {
                            table: table.to_string(),
                            location: format!("{base}/{NAMESPACE}/{dir}/metadata/{name}"),
                            version,
                            modified: file.metadata().ok().and_then(|m| m.modified().ok()),
                        });
                    }
                }
                Ok(found)
            }
            Warehouse::S3 {
                store,
                bucket,
                prefix,
            } => {
                let failed = |e: object_store::Error| {
                    LakehouseError::Config(format!(
                        "listing s3://{bucket}/{prefix}: {}",
                        ateda_retry::with_causes(&e)
                    ))
                };
                let ns = StorePath::from(prefix.as_str()).join(NAMESPACE);
                let dirs = store.list_with_delimiter(Some(&ns)).await.map_err(failed)?;
                let mut found = Vec::new();
                for dir in dirs.common_prefixes {
                    let Some(name) = dir.filename() else { continue };
                    if !table_dir_matches(name, table) {
                        continue;
                    }
                    let objects: Vec<_> = store
                        .list(Some(&dir.clone().join("metadata")))
                        .try_collect()
                        .await
                        .map_err(failed)?;
                    for o in objects {
                        let Some(version) = o.location.filename().and_then(metadata_version) else {
                            continue;
                        };
                        found.push(MetadataFile {
                            table: table.to_string(),
                            location: format!("s3://{bucket}/{}", o.location),
                            version,
                            modified: Some(SystemTime::from(o.last_modified)),
                        });
                    }
                }
                Ok(found)
            }
        }
    }

    /// The bytes of a metadata file found by [`Warehouse::metadata_files`].
    async fn read(&self, file: &MetadataFile) -> Result<Vec<u8>, LakehouseError> {
        let failed = |e: String| LakehouseError::Config(format!("reading {}: {e}", file.location));
        match self {
            Warehouse::Local { root, base } => {
                let rel = file
                    .location
                    .strip_prefix(base.as_str())
                    .unwrap_or_default();
                let path = root.join(rel.trim_start_matches('/'));
                std::fs::read(path).map_err(|e| failed(e.to_string()))
            }
            Warehouse::S3 { store, bucket, .. } => {
                let key = file
                    .location
                    .strip_prefix(&format!("s3://{bucket}/"))
                    .unwrap_or_default();
                let got = store
                    .get(&StorePath::from(key))
                    .await
                    .map_err(|e| failed(ateda_retry::with_causes(&e)))?;
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| failed(ateda_retry::with_causes(&e)))?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// The newest metadata file of each of `tables` that has any (no reading).
    async fn newest(&self, tables: &[&str]) -> Result<Vec<MetadataFile>, LakehouseError> {
        let mut newest = Vec::new();
        for table in tables {
            let files = self.metadata_files(table).await?;
            if let Some(f) = files.into_iter().max_by_key(|f| (f.version, f.modified)) {
                newest.push(f);
            }
        }
        Ok(newest)
    }

    /// A table's latest metadata file that parses, with its content: highest version,
    /// newest on a tie. A file that does not parse (cut short by a crash) is skipped with
    /// a warning; a file that cannot be read stops the search (an outage is not a reason
    /// to fall back to an older state).
    async fn latest(
        &self,
        table: &str,
    ) -> Result<Option<(MetadataFile, TableMetadata)>, LakehouseError> {
        let mut files = self.metadata_files(table).await?;
        files.sort_by_key(|f| std::cmp::Reverse((f.version, f.modified)));
        for f in files {
            let bytes = self.read(&f).await?;
            match serde_json::from_slice::<TableMetadata>(&bytes) {
                Ok(meta) => return Ok(Some((f, meta))),
                Err(e) => tracing::warn!(
                    file = %f.location,
                    "skipping a metadata file that does not parse: {e}"
                ),
            }
        }
        Ok(None)
    }
}

/// The refusal: what is wrong, which tables the warehouse holds, how to recover.
fn lost(cfg: &LakehouseConfig, what: &str, found: &[MetadataFile]) -> LakehouseError {
    let tables = found
        .iter()
        .map(|f| format!("{NAMESPACE}.{} (latest {})", f.table, f.file_name()))
        .collect::<Vec<_>>()
        .join(", ");
    LakehouseError::Config(format!(
        "lost catalog: {what}, but warehouse {wh} holds {tables}. Refusing to start: a new \
         catalog would hide every row committed to them. Recover with `{cmd}` (registers \
         each table's latest metadata file again), then re-run; see \"Lost or damaged \
         catalog\" in docs/bronze-contract.md",
        wh = cfg.warehouse,
        cmd = recover_command(cfg),
    ))
}

/// Before connecting: a SQLite catalog file that is missing or empty while the warehouse
/// holds bronze tables is refused (connecting would create a new catalog in it).
pub(crate) async fn refuse_lost_catalog(
    cfg: &LakehouseConfig,
    survey: &Survey,
) -> Result<(), LakehouseError> {
    let Some(path) = sqlite_path(cfg) else {
        return Ok(());
    };
    let state = match catalog_file(&path)? {
        CatalogFile::Missing => "is missing",
        CatalogFile::Empty => "is empty (0 bytes)",
        CatalogFile::Sqlite | CatalogFile::NotSqlite => return Ok(()),
    };
    let Some(wh) = Warehouse::of(cfg)? else {
        return Ok(());
    };
    let names: Vec<_> = BronzeTable::ALL.iter().map(|t| t.name(survey)).collect();
    let found = wh.newest(&names).await?;
    if found.is_empty() {
        return Ok(());
    }
    Err(lost(
        cfg,
        &format!("catalog {} {state}", cfg.catalog),
        &found,
    ))
}

/// How long a table whose metadata file is in the warehouse but not in the catalog is
/// given to appear there: creating a table writes its first metadata file just before
/// the catalog records it, so a concurrent writer's new table looks "lost" for a moment.
const CREATION_GRACE: Duration = Duration::from_secs(2);

impl Lakehouse {
    async fn has_table(&self, name: &str) -> Result<bool, LakehouseError> {
        let ident = TableIdent::new(NamespaceIdent::new(NAMESPACE.to_string()), name.into());
        retried(&self.retry, "checking table", || {
            self.catalog.table_exists(&ident)
        })
        .await
        .map_err(ice("checking table"))
    }

    /// After connecting, before bootstrap creates anything: a bronze table the catalog
    /// does not have while the warehouse holds its metadata files is refused.
    pub(crate) async fn refuse_lost_tables(&self) -> Result<(), LakehouseError> {
        let mut missing = Vec::new();
        for t in BronzeTable::ALL {
            if !self.has_table(self.name(t)).await? {
                missing.push(self.name(t));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let Some(wh) = Warehouse::of(&self.config)? else {
            return Ok(());
        };
        let found = wh.newest(&missing).await?;
        if found.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(CREATION_GRACE).await;
        let mut lost_tables = Vec::new();
        for f in found {
            if !self.has_table(&f.table).await? {
                lost_tables.push(f);
            }
        }
        if lost_tables.is_empty() {
            return Ok(());
        }
        let names = lost_tables
            .iter()
            .map(|f| format!("{NAMESPACE}.{}", f.table))
            .collect::<Vec<_>>()
            .join(", ");
        Err(lost(
            &self.config,
            &format!("catalog {} has no table {names}", self.config.catalog),
            &lost_tables,
        ))
    }
}

/// What [`recover`] did (or, in a dry run, would do) for one table.
#[derive(Debug, Clone)]
pub enum Recovered {
    /// The latest metadata file was registered.
    Registered {
        /// The file registered.
        file: MetadataFile,
        /// The table's current snapshot in it.
        snapshot: Option<i64>,
        /// The table's row count at that snapshot (`total-records`).
        rows: Option<u64>,
    },
    /// The catalog already has the table at exactly this metadata file.
    AlreadyRegistered {
        /// Table name.
        table: String,
        /// Its metadata file.
        location: String,
    },
    /// The catalog has the table at another metadata file: left as it is.
    Kept {
        /// Table name.
        table: String,
        /// The catalog's metadata file.
        current: String,
        /// The newest one in the warehouse.
        newest: String,
    },
    /// The warehouse holds no metadata file of the table (the next ingest creates it).
    NoMetadata {
        /// Table name.
        table: String,
    },
}

impl Recovered {
    /// The table this entry is about.
    pub fn table(&self) -> &str {
        match self {
            Recovered::Registered { file, .. } => &file.table,
            Recovered::AlreadyRegistered { table, .. }
            | Recovered::Kept { table, .. }
            | Recovered::NoMetadata { table } => table,
        }
    }
}

/// The outcome of [`recover`].
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Where a SQLite catalog file that was not a database was moved.
    pub moved_aside: Option<PathBuf>,
    /// One entry per bronze table.
    pub tables: Vec<Recovered>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// The manual steps that register `files` in the catalog of `cfg`.
pub fn manual_steps(cfg: &LakehouseConfig, files: &[MetadataFile]) -> String {
    let mut out = String::new();
    if let Some(path) = sqlite_path(cfg) {
        let db = path.display();
        out.push_str(&format!(
            "  sqlite3 {db} \"INSERT OR IGNORE INTO iceberg_namespace_properties \
             (catalog_name, namespace, property_key, property_value) \
             VALUES ('{CATALOG_NAME}', '{NAMESPACE}', 'exists', 'true')\"\n"
        ));
        for f in files {
            out.push_str(&format!(
                "  sqlite3 {db} \"INSERT INTO iceberg_tables (catalog_name, table_namespace, \
                 table_name, metadata_location, iceberg_type) VALUES ('{CATALOG_NAME}', \
                 '{NAMESPACE}', '{}', '{}', 'TABLE')\"\n",
                f.table, f.location
            ));
        }
    } else {
        out.push_str(&format!(
            "  with the REST catalog's register endpoint (PREFIX: the catalog's /v1/config \
             prefix, if any):\n  curl -X POST {uri}/v1/namespaces -H 'Content-Type: \
             application/json' -d '{{\"namespace\":[\"{NAMESPACE}\"]}}'\n",
            uri = cfg.catalog.trim_end_matches('/')
        ));
        for f in files {
            out.push_str(&format!(
                "  curl -X POST {uri}/v1/PREFIX/namespaces/{NAMESPACE}/register -H \
                 'Content-Type: application/json' -d '{{\"name\":\"{}\",\"metadata-location\":\"{}\"}}'\n",
                f.table,
                f.location,
                uri = cfg.catalog.trim_end_matches('/')
            ));
        }
        out.push_str(&format!(
            "  or with pyiceberg: catalog.register_table(\"{NAMESPACE}.<table>\", \"<metadata location>\")\n"
        ));
    }
    out
}

/// Registers each bronze table's latest metadata file in the catalog of `cfg` (see the
/// module documentation); `dry_run`: only says what it would do.
pub async fn recover(
    cfg: &LakehouseConfig,
    survey: Survey,
    dry_run: bool,
) -> Result<Recovery, LakehouseError> {
    let Some(wh) = Warehouse::of(cfg)? else {
        return Err(LakehouseError::Config(format!(
            "warehouse {} is not a file:// or s3:// URI: its metadata files cannot be listed \
             here. Find each table's latest <table>/metadata/NNNNN-<uuid>.metadata.json in \
             the object store and register it by hand:\n{}",
            cfg.warehouse,
            manual_steps(cfg, &[])
        )));
    };
    let mut moved_aside = None;
    // A dry run with no readable SQLite catalog has none to ask (opening one creates it):
    // every table would be registered.
    let mut no_catalog = false;
    if let Some(path) = sqlite_path(cfg) {
        let state = catalog_file(&path)?;
        no_catalog = state != CatalogFile::Sqlite;
        if state == CatalogFile::NotSqlite {
            let stamp = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut aside = path.clone().into_os_string();
            aside.push(format!(".damaged-{stamp}"));
            let aside = PathBuf::from(aside);
            if !dry_run {
                std::fs::rename(&path, &aside).map_err(|e| {
                    LakehouseError::Config(format!(
                        "moving the damaged catalog {} aside: {e}",
                        path.display()
                    ))
                })?;
            }
            moved_aside = Some(aside);
        }
    }
    let lh = if dry_run && no_catalog {
        None
    } else {
        Some(Lakehouse::connect(cfg, survey).await?)
    };
    let mut tables = Vec::new();
    let mut namespace_ready = false;
    for t in BronzeTable::ALL {
        let name = t.name(&survey);
        let Some((file, meta)) = wh.latest(name).await? else {
            tables.push(Recovered::NoMetadata {
                table: name.to_string(),
            });
            continue;
        };
        let snapshot = meta.current_snapshot();
        let registered = Recovered::Registered {
            snapshot: snapshot.map(|s| s.snapshot_id()),
            rows: snapshot.and_then(|s| {
                s.summary()
                    .additional_properties
                    .get("total-records")
                    .and_then(|n| n.parse().ok())
            }),
            file: file.clone(),
        };
        let Some(lh) = &lh else {
            tables.push(registered);
            continue;
        };
        if lh.has_table(name).await? {
            let current = lh.load(t).await?;
            let current = current.metadata_location().unwrap_or_default().to_string();
            tables.push(if current == file.location {
                Recovered::AlreadyRegistered {
                    table: name.to_string(),
                    location: current,
                }
            } else {
                Recovered::Kept {
                    table: name.to_string(),
                    current,
                    newest: file.location,
                }
            });
            continue;
        }
        if !dry_run {
            if !namespace_ready {
                lh.ensure_namespace().await?;
                namespace_ready = true;
            }
            lh.register(t, &file).await.map_err(|e| match e {
                LakehouseError::Iceberg { what, cause } => LakehouseError::Config(format!(
                    "iceberg {what}: {}. Register it by hand:\n{}",
                    ateda_retry::with_causes(cause.as_ref()),
                    manual_steps(cfg, std::slice::from_ref(&file))
                )),
                other => other,
            })?;
        }
        tables.push(registered);
    }
    Ok(Recovery {
        moved_aside,
        tables,
        dry_run,
    })
}

impl Lakehouse {
    /// Registers a metadata file as a bronze table (a lost answer is recognised: the
    /// table is then there at exactly that file).
    async fn register(&self, t: BronzeTable, file: &MetadataFile) -> Result<(), LakehouseError> {
        let ident = self.ident(t);
        let what = format!(
            "registering {NAMESPACE}.{} at {}",
            file.table, file.location
        );
        match self
            .catalog
            .register_table(&ident, file.location.clone())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if self.has_table(&file.table).await.unwrap_or(false) {
                    let table = self.load(t).await?;
                    if table.metadata_location() == Some(file.location.as_str()) {
                        return Ok(());
                    }
                }
                Err(ice(what)(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_versions_come_from_the_file_name() {
        let uuid = "0b9b6f0e-4a49-4bfa-9d3b-1a2b3c4d5e6f";
        assert_eq!(
            metadata_version(&format!("00012-{uuid}.metadata.json")),
            Some(12)
        );
        assert_eq!(
            metadata_version(&format!("00000-{uuid}.metadata.json")),
            Some(0)
        );
        assert_eq!(metadata_version("v7.metadata.json"), Some(7));
        assert_eq!(metadata_version("snap-1-1-abc.avro"), None);
        assert_eq!(metadata_version(&format!("{uuid}-m0.avro")), None);
        assert_eq!(metadata_version("x-1.metadata.json"), None);
        assert_eq!(metadata_version(".metadata.json"), None);
    }

    #[test]
    fn table_directories_by_name_or_name_and_suffix() {
        assert!(table_dir_matches("alerts", "alerts"));
        assert!(table_dir_matches(
            "alerts-0b9b6f0e4a494bfa9d3b1a2b3c4d5e6f",
            "alerts"
        ));
        assert!(!table_dir_matches("alerts_old", "alerts"));
        assert!(!table_dir_matches("alertsx", "alerts"));
        assert!(!table_dir_matches("quarantine", "alerts"));
    }
}
