//! The flags that name a lakehouse (shared by `ingest` and `schema`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_ingest::defaults;
use ateda_lakehouse::{LakehouseConfig, RetryPolicy};
use clap::Args;

/// Where the catalog and warehouse are.
#[derive(Args, Debug, Clone)]
pub struct LakehouseArgs {
    /// Embedded lakehouse directory: shorthand for --catalog sqlite:DIR/catalog.db
    /// --warehouse file://DIR/warehouse --cutouts file://DIR/cutouts.
    #[arg(long, env = "ATEDA_LAKEHOUSE", default_value = defaults::LAKEHOUSE_DIR)]
    pub lakehouse: PathBuf,
    /// Iceberg catalog: sqlite:PATH or an http(s):// Iceberg REST endpoint.
    #[arg(long, env = "ATEDA_CATALOG")]
    pub catalog: Option<String>,
    /// Warehouse root: file:///abs/dir or s3://bucket/prefix.
    #[arg(long, env = "ATEDA_WAREHOUSE")]
    pub warehouse: Option<String>,
    /// How long catalog calls ride out transient failures (refused or cut connections,
    /// HTTP 429/500/502/503/504) before the run stops with an error; 0: never repeat.
    #[arg(long, env = "ATEDA_CATALOG_RETRY_SECS", default_value_t = defaults::CATALOG_RETRY_SECS)]
    pub catalog_retry_secs: u64,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(p)
        .with_context(|| format!("creating lakehouse directory {}", p.display()))?;
    std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
}

/// Iceberg storage properties from the standard AWS_* environment variables.
fn s3_props() -> HashMap<String, String> {
    let mut props = HashMap::new();
    let map = [
        ("AWS_ENDPOINT_URL", "s3.endpoint"),
        ("AWS_ACCESS_KEY_ID", "s3.access-key-id"),
        ("AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
        ("AWS_SESSION_TOKEN", "s3.session-token"),
        ("AWS_REGION", "s3.region"),
    ];
    for (env, prop) in map {
        if let Ok(v) = std::env::var(env) {
            props.insert(prop.to_string(), v);
        }
    }
    if props.contains_key("s3.endpoint") {
        props.insert("s3.path-style-access".into(), "true".into());
    }
    props
}

impl LakehouseArgs {
    /// The configuration for an embedded directory `dir` (where a URI was not given).
    fn build(&self, dir: &Path) -> LakehouseConfig {
        LakehouseConfig {
            catalog: self
                .catalog
                .clone()
                .unwrap_or_else(|| format!("sqlite:{}", dir.join("catalog.db").display())),
            warehouse: self
                .warehouse
                .clone()
                .unwrap_or_else(|| format!("file://{}", dir.join("warehouse").display())),
            props: s3_props(),
            retry: RetryPolicy::with_budget(Duration::from_secs(self.catalog_retry_secs)),
        }
    }

    /// The catalog configuration of an existing lakehouse, creating nothing (for
    /// read-only commands); `None` when the embedded lakehouse has no catalog yet.
    pub fn existing_config(&self) -> Result<Option<LakehouseConfig>> {
        let dir = std::path::absolute(&self.lakehouse)
            .with_context(|| format!("resolving {}", self.lakehouse.display()))?;
        if self.catalog.is_none() && !dir.join("catalog.db").exists() {
            return Ok(None);
        }
        Ok(Some(self.build(&dir)))
    }

    /// The catalog configuration, and the embedded directory when one is used
    /// (`needs_dir`: the caller needs it for other defaults). Creates the directory and
    /// its warehouse when they are used.
    pub fn config(&self, needs_dir: bool) -> Result<(LakehouseConfig, Option<PathBuf>)> {
        if !(needs_dir || self.catalog.is_none() || self.warehouse.is_none()) {
            return Ok((self.build(Path::new("")), None));
        }
        let dir = absolute(&self.lakehouse)?;
        if self.warehouse.is_none() {
            let w = dir.join("warehouse");
            std::fs::create_dir_all(&w).with_context(|| format!("creating {}", w.display()))?;
        }
        Ok((self.build(&dir), Some(dir)))
    }
}
