//! Reads the quarantine table for idempotency: the members already quarantined (the
//! keys already stored are read by `keys`).

use std::collections::HashSet;

use arrow_array::{Array, StringArray};
use futures::TryStreamExt;

use crate::error::{ice, LakehouseError};
use crate::{BronzeTable, Lakehouse};

impl Lakehouse {
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
