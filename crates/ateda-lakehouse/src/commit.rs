//! Appending data files in one snapshot, never twice: each commit carries a token
//! ([`COMMIT_TOKEN`]) and a commit whose answer was lost is looked for before it is
//! repeated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use crate::error::{ice, LakehouseError};
use crate::retry::{outcome_unknown, retried, COMMIT_TOKEN};
use crate::{BronzeTable, Lakehouse};

impl Lakehouse {
    /// Appends data files to a table in one snapshot and returns the new snapshot id.
    ///
    /// `loaded`, when given, is the table as just loaded by the caller: the first attempt
    /// uses it instead of loading again. Conflicts with concurrent writers are retried by
    /// the Iceberg transaction. Transient catalog failures are retried within the
    /// [`crate::RetryPolicy`]; when a failure leaves the outcome unknown, the table is
    /// searched for this commit's [`COMMIT_TOKEN`] first, so the files are never appended
    /// twice.
    pub async fn commit(
        &self,
        t: BronzeTable,
        loaded: Option<Table>,
        files: Vec<DataFile>,
        mut properties: HashMap<String, String>,
    ) -> Result<Option<i64>, LakehouseError> {
        if files.is_empty() {
            return Ok(None);
        }
        let token = uuid::Uuid::new_v4().to_string();
        properties.insert(COMMIT_TOKEN.to_string(), token.clone());
        let ident = self.ident(t);
        let name = self.name(t);
        // Set once an attempt failed in a way that may have applied it: from then on
        // each attempt first looks for the token in the reloaded table.
        let maybe_applied = AtomicBool::new(false);
        let first = Mutex::new(loaded);
        let (ident, files, properties) = (&ident, &files, &properties);
        let (token, flag, first) = (&token, &maybe_applied, &first);
        let attempt = || async move {
            let given = first.lock().ok().and_then(|mut g| g.take());
            let table = match given {
                Some(t) => t,
                None => self.catalog.load_table(ident).await?,
            };
            if flag.load(Ordering::Relaxed) {
                if let Some(id) = snapshot_with_token(&table, token) {
                    tracing::warn!(
                        table = name,
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
                    if outcome_unknown(&e) {
                        flag.store(true, Ordering::Relaxed);
                    }
                    Err(e)
                }
            }
        };
        retried(&self.retry, "committing", attempt)
            .await
            .map_err(ice(format!("committing to {name}")))
    }
}

/// The id of the snapshot of `table` committed with this [`COMMIT_TOKEN`], if any.
pub(crate) fn snapshot_with_token(table: &Table, token: &str) -> Option<i64> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ateda_schema::ztf::ZTF;

    use super::snapshot_with_token;
    use crate::{ledger_batch, BronzeTable, Lakehouse, LakehouseConfig, LedgerRow, COMMIT_TOKEN};

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

    #[tokio::test]
    async fn each_commit_carries_its_token_and_is_found_by_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(tmp.path().join("wh")).expect("warehouse");
        let cfg = LakehouseConfig {
            catalog: format!("sqlite:{}", tmp.path().join("catalog.db").display()),
            warehouse: format!("file://{}", tmp.path().join("wh").display()),
            props: HashMap::new(),
            retry: Default::default(),
        };
        let lh = Lakehouse::open(&cfg, ZTF).await.expect("open");
        let mut ids = Vec::new();
        for (i, source) in ["a", "b"].iter().enumerate() {
            let rows = [row(source)];
            let id = lh
                .append(
                    BronzeTable::Ledger,
                    |schema| ledger_batch(schema, &rows),
                    &format!("t-{i}"),
                    HashMap::new(),
                )
                .await
                .expect("append")
                .expect("a snapshot");
            ids.push(id);
        }
        let table = lh.load(BronzeTable::Ledger).await.expect("load");
        for id in &ids {
            let snap = table.metadata().snapshot_by_id(*id).expect("snapshot");
            let token = snap
                .summary()
                .additional_properties
                .get(COMMIT_TOKEN)
                .expect("token recorded")
                .clone();
            assert_eq!(snapshot_with_token(&table, &token), Some(*id));
        }
        assert_eq!(snapshot_with_token(&table, "no such token"), None);
        // an empty append commits nothing
        let none = lh
            .append(
                BronzeTable::Ledger,
                |schema| ledger_batch(schema, &[]),
                "t-empty",
                HashMap::new(),
            )
            .await
            .expect("append");
        assert_eq!(none, None);
        // the key scan of an empty alerts table finds nothing
        assert!(lh.existing_keys(&[19_642]).await.expect("scan").is_empty());
    }
}
