//! Appending data files in one snapshot, never twice: each commit carries a token
//! ([`COMMIT_TOKEN`]) and a commit whose answer was lost is looked for before it is
//! repeated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::Catalog;

use crate::error::{ice, LakehouseError};
use crate::guard::AtSnapshot;
use crate::retry::{outcome_unknown, retried, COMMIT_TOKEN};
use crate::{BronzeTable, Lakehouse};

/// The answer to an append that must find the table where its keys were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Committed: the new snapshot's id.
    Committed(i64),
    /// Not committed: the main branch moved past the validated snapshot (to this one).
    Moved,
}

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
        properties: HashMap<String, String>,
    ) -> Result<Option<i64>, LakehouseError> {
        if files.is_empty() {
            return Ok(None);
        }
        match self
            .append_files(t, loaded, files, properties, None)
            .await?
        {
            Appended::Committed(id) => Ok(Some(id)),
            // unreachable without a guard; reported as no snapshot rather than a panic
            Appended::Moved => Ok(None),
        }
    }

    /// Appends data files only while the table's main branch is at `validated` (the
    /// snapshot whose keys the caller checked its rows against): otherwise nothing is
    /// committed and [`Appended::Moved`] tells the caller to check the snapshots
    /// committed since and try again. Retries and the lost-answer search are those of
    /// [`Lakehouse::commit`].
    pub async fn commit_at(
        &self,
        t: BronzeTable,
        validated: Option<i64>,
        files: Vec<DataFile>,
        properties: HashMap<String, String>,
    ) -> Result<Appended, LakehouseError> {
        self.append_files(t, None, files, properties, Some(validated))
            .await
    }

    async fn append_files(
        &self,
        t: BronzeTable,
        loaded: Option<Table>,
        files: Vec<DataFile>,
        mut properties: HashMap<String, String>,
        guard: Option<Option<i64>>,
    ) -> Result<Appended, LakehouseError> {
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
                    return Ok(Appended::Committed(id));
                }
            }
            if let Some(at) = guard {
                if table.metadata().current_snapshot_id() != at {
                    return Ok(Appended::Moved);
                }
            }
            let tx = Transaction::new(&table);
            let tx = tx
                .fast_append()
                .with_check_duplicate(false)
                .add_data_files(files.clone())
                .set_snapshot_properties(properties.clone())
                .apply(tx)?;
            let guarded = guard.map(|at| AtSnapshot::new(self.catalog.clone(), ident.clone(), at));
            let catalog: &dyn Catalog = match &guarded {
                Some(g) => g,
                None => self.catalog.as_ref(),
            };
            match tx.commit(catalog).await {
                Ok(table) => match table.metadata().current_snapshot_id() {
                    Some(id) => Ok(Appended::Committed(id)),
                    None => Err(iceberg::Error::new(
                        iceberg::ErrorKind::Unexpected,
                        "an append left the table without a current snapshot",
                    )),
                },
                Err(_) if guarded.as_ref().is_some_and(AtSnapshot::moved) => Ok(Appended::Moved),
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
        // the key lookup of an empty alerts table finds nothing
        let alerts = lh.load(BronzeTable::Alerts).await.expect("load");
        let (files, keys) = lh
            .stored_keys(&alerts, &[(1, i64::MAX)], |_| true)
            .await
            .expect("lookup");
        assert!(files.is_empty() && keys.is_empty());
    }
}
