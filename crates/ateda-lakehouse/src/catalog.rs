//! Opening the Iceberg catalog: SQL catalog on SQLite (embedded default) or REST.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use crate::error::{ice, LakehouseError};
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
    if let Some(path) = cfg.catalog.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                LakehouseError::Config(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        props.insert("uri".into(), format!("sqlite:{path}?mode=rwc"));
        Ok(Arc::new(
            SqlCatalogBuilder::default()
                .sql_bind_style(SqlBindStyle::QMark)
                .with_storage_factory(factory)
                .load(CATALOG_NAME, props)
                .await
                .map_err(ice(format!("opening SQL catalog {}", cfg.catalog)))?,
        ))
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
