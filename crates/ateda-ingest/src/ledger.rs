//! Repairing the ledger after a run stopped between its alert commit and its ledger
//! commit: the ledger rows of such a commit are rebuilt from the rows it added (per
//! source member: alerts = ingested = its rows; already-present counts are not known).

use std::collections::HashMap;
use std::time::Duration;

use ateda_lakehouse::{ledger_batch, BronzeTable, Lakehouse, LedgerRow, ALERTS_SNAPSHOT, RUN_ID};

use crate::IngestError;

/// Writes the missing ledger rows of every alert commit older than `grace` whose ledger
/// commit never came. Returns how many commits were repaired.
pub(crate) async fn repair(lakehouse: &Lakehouse, grace: Duration) -> Result<usize, IngestError> {
    let now = chrono::Utc::now();
    let gaps = lakehouse
        .unrecorded_alert_commits(grace.as_millis() as i64, now.timestamp_millis())
        .await?;
    for gap in &gaps {
        let sources = lakehouse.sources_added_by(gap.snapshot).await?;
        let rows: Vec<LedgerRow> = sources
            .into_iter()
            .map(|(source, n)| LedgerRow {
                run_id: gap.run_id.clone(),
                source,
                alerts: n,
                ingested: n,
                already_present: 0,
                snapshot_id: Some(gap.snapshot),
                recorded_at_us: now.timestamp_micros(),
            })
            .collect();
        tracing::warn!(
            run = %gap.run_id,
            snapshot = gap.snapshot,
            members = rows.len(),
            "repairing the ledger: that run committed rows but stopped before its ledger commit"
        );
        let props = HashMap::from([
            (RUN_ID.to_string(), gap.run_id.clone()),
            (ALERTS_SNAPSHOT.to_string(), gap.snapshot.to_string()),
            ("ateda.ledger-repair".to_string(), "true".to_string()),
        ]);
        let prefix = format!("{}-ledger-repair-{}", gap.run_id, gap.snapshot);
        lakehouse
            .append(
                BronzeTable::Ledger,
                |schema| ledger_batch(schema, &rows),
                &prefix,
                props,
            )
            .await?;
    }
    Ok(gaps.len())
}
