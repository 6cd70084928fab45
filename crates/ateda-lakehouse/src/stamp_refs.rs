//! Which stamp objects the alerts table points at (maintenance: a pack no row points
//! into is an orphan).

use std::collections::HashSet;

use arrow_array::{Array, LargeStringArray, StringArray};
use ateda_schema::columns;
use futures::TryStreamExt;
use iceberg::expr::Reference;
use iceberg::spec::Datum;

use crate::error::{ice, LakehouseError};
use crate::{BronzeTable, Lakehouse};

impl Lakehouse {
    /// The distinct stamp object URIs (`cutout_<kind>_uri`, every kind) of the alerts
    /// rows of one night (days since 1970-01-01): one scan of that night's partition.
    pub async fn stamp_uris_of_night(&self, night: i32) -> Result<HashSet<String>, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let mut out = HashSet::new();
        if table.metadata().current_snapshot().is_none() {
            return Ok(out);
        }
        let cols: Vec<String> = self
            .survey()
            .stamps
            .iter()
            .map(|s| columns::cutout_uri(s.kind))
            .collect();
        let what = format!(
            "reading the stamp URIs of bronze.{}",
            self.name(BronzeTable::Alerts)
        );
        let scan = table
            .scan()
            .select(cols.iter().map(String::as_str))
            .with_filter(Reference::new(columns::NIGHT).equal_to(Datum::date(night)))
            .build()
            .map_err(ice(&what))?;
        let mut stream = scan.to_arrow().await.map_err(ice(&what))?;
        while let Some(b) = stream.try_next().await.map_err(ice(&what))? {
            for c in b.columns() {
                if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                    out.extend(a.iter().flatten().map(str::to_string));
                } else if let Some(a) = c.as_any().downcast_ref::<LargeStringArray>() {
                    out.extend(a.iter().flatten().map(str::to_string));
                }
            }
        }
        Ok(out)
    }
}
