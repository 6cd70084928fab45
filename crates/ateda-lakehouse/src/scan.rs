//! Reads the tables themselves for idempotency: the keys already stored for some nights,
//! and the members already quarantined.

use std::collections::HashSet;

use arrow_array::{Array, Int64Array, StringArray};
use futures::TryStreamExt;
use iceberg::expr::Reference;
use iceberg::spec::Datum;

use crate::error::{ice, LakehouseError};
use crate::{BronzeTable, Lakehouse};

impl Lakehouse {
    /// Keys already in the alerts table for the given nights (partition-pruned scan).
    pub async fn existing_keys(&self, nights: &[i32]) -> Result<HashSet<i64>, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let mut out = HashSet::new();
        if table.metadata().current_snapshot().is_none() || nights.is_empty() {
            return Ok(out);
        }
        let filter = Reference::new(ateda_schema::columns::NIGHT)
            .is_in(nights.iter().map(|&d| Datum::date(d)));
        let scan = table
            .scan()
            .select([self.survey.key])
            .with_filter(filter)
            .build()
            .map_err(ice("planning key scan"))?;
        let mut stream = scan.to_arrow().await.map_err(ice("scanning keys"))?;
        while let Some(batch) = stream.try_next().await.map_err(ice("reading keys"))? {
            if let Some(col) = batch.column(0).as_any().downcast_ref::<Int64Array>() {
                out.extend(col.iter().flatten());
            }
        }
        Ok(out)
    }

    /// `(source, sha256)` of every member already recorded in `bronze.quarantine`.
    pub async fn quarantined(&self) -> Result<HashSet<(String, String)>, LakehouseError> {
        let table = self.load(BronzeTable::Quarantine).await?;
        let mut out = HashSet::new();
        if table.metadata().current_snapshot().is_none() {
            return Ok(out);
        }
        let scan = table
            .scan()
            .select(["source", "sha256"])
            .build()
            .map_err(ice("planning bronze.quarantine scan"))?;
        let mut stream = scan
            .to_arrow()
            .await
            .map_err(ice("reading bronze.quarantine"))?;
        while let Some(b) = stream
            .try_next()
            .await
            .map_err(ice("reading bronze.quarantine"))?
        {
            let (Some(src), Some(sha)) = (
                b.column(0).as_any().downcast_ref::<StringArray>(),
                b.column(1).as_any().downcast_ref::<StringArray>(),
            ) else {
                continue;
            };
            for i in 0..b.num_rows() {
                if src.is_valid(i) && sha.is_valid(i) {
                    out.insert((src.value(i).to_string(), sha.value(i).to_string()));
                }
            }
        }
        Ok(out)
    }
}
