//! Where a partition resumes: the smallest position the tables record for it. Each
//! alerts table's map means "every message before this position that belongs here is
//! here"; a message lands in exactly one table (or quarantine), so only the smallest is
//! safe. A partition some table does not record (a crash between the first commits of
//! two tables) resumes from the group's committed offset or `--from`: a message read
//! twice is dropped by its key, one skipped would be lost.

use std::sync::Arc;

use ateda_lakehouse::{stream_offsets_at, BronzeTable, Lakehouse, StreamOffsets};

use crate::StreamError;

/// The position map of `group` recorded in each alerts table (empty for a table that
/// records none).
pub(crate) async fn recorded(
    tables: &[Arc<Lakehouse>],
    group: &str,
) -> Result<Vec<StreamOffsets>, StreamError> {
    let mut maps = Vec::with_capacity(tables.len());
    for lh in tables {
        let table = lh.load(BronzeTable::Alerts).await?;
        let map = stream_offsets_at(&table, group, None)
            .map_err(|e| StreamError::Config(e.to_string()))?
            .map(|(_, m)| m)
            .unwrap_or_default();
        maps.push(map);
    }
    Ok(maps)
}

/// The position to resume `topic`/`partition` at: the smallest over the tables, `None`
/// when some table does not record it (or there is no table).
pub(crate) fn resume_at(maps: &[StreamOffsets], topic: &str, partition: i32) -> Option<i64> {
    let mut least: Option<i64> = None;
    for m in maps {
        let o = m.get(topic, partition)?;
        least = Some(least.map_or(o, |l| l.min(o)));
    }
    least
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_recorded_position_and_none_when_a_table_lacks_it() {
        let mut ztf = StreamOffsets::new();
        ztf.set("alerts", 0, 120);
        ztf.set("alerts", 1, 40);
        let mut lsst = StreamOffsets::new();
        lsst.set("alerts", 0, 100);
        let maps = [ztf.clone(), lsst];
        assert_eq!(resume_at(&maps, "alerts", 0), Some(100));
        assert_eq!(resume_at(&maps, "alerts", 1), None);
        assert_eq!(resume_at(&[ztf], "alerts", 1), Some(40));
        assert_eq!(resume_at(&[], "alerts", 0), None);
    }
}
