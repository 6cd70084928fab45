//! Reading the keys already stored, for exactly-once by key: the keys (with the content
//! hash stored beside each) of the data files whose key bounds meet some key ranges, and
//! the data files committed since a snapshot.
//!
//! Pruning uses the key column's lower/upper bounds that every data file carries in its
//! manifest entry, so a lookup reads only the files whose key range meets the keys looked
//! up (for ZTF, whose keys grow with time, the files of the same nights), whatever night
//! the rows were filed under.

use std::collections::HashSet;

use arrow_array::{Array, Int64Array, StringArray};
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::expr::{Predicate, Reference};
use iceberg::scan::{ArrowRecordBatchStream, TableScan};
use iceberg::spec::Datum;
use iceberg::table::Table;
use iceberg::Runtime;

use crate::error::{ice, LakehouseError};
use crate::Lakehouse;

/// A stored key with the content hash stored beside it (`None` for rows written before
/// the hash column existed).
pub type StoredKey = (i64, Option<[u8; 32]>);

/// Inclusive key ranges covering `keys` (sorted and deduplicated in place), at most
/// `max_ranges` of them: the keys are split at their widest gaps, so an outlier key gets
/// a range of its own instead of widening its neighbours' range over the whole table.
pub fn key_ranges(keys: &mut Vec<i64>, max_ranges: usize) -> Vec<(i64, i64)> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Vec::new();
    }
    let mut gaps: Vec<(u64, usize)> = keys
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].abs_diff(w[0]), i + 1))
        .collect();
    gaps.sort_unstable_by(|a, b| b.cmp(a));
    let mut cuts: Vec<usize> = gaps
        .into_iter()
        .take(max_ranges.max(1) - 1)
        .filter(|(gap, _)| *gap > 1)
        .map(|(_, at)| at)
        .collect();
    cuts.sort_unstable();
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(keys.len())) {
        ranges.push((keys[start], keys[cut - 1]));
        start = cut;
    }
    ranges
}

/// Parses a lowercase or uppercase hex sha256.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

impl Lakehouse {
    /// Keys stored in the data files of `table` (as loaded) whose key bounds meet
    /// `ranges`, reading only the files `wanted` accepts. Returns the files read and
    /// every key in them (not only those in the ranges: a caller that remembers which
    /// files it read knows all their keys).
    pub async fn stored_keys(
        &self,
        table: &Table,
        ranges: &[(i64, i64)],
        wanted: impl Fn(&str) -> bool,
    ) -> Result<(Vec<String>, Vec<StoredKey>), LakehouseError> {
        let mut keys = Vec::new();
        if table.metadata().current_snapshot().is_none() || ranges.is_empty() {
            return Ok((Vec::new(), keys));
        }
        let key = self.survey.key;
        let filter = ranges
            .iter()
            .map(|&(lo, hi)| {
                Reference::new(key)
                    .greater_than_or_equal_to(Datum::long(lo))
                    .and(Reference::new(key).less_than_or_equal_to(Datum::long(hi)))
            })
            .reduce(Predicate::or)
            .unwrap_or(Predicate::AlwaysFalse);
        // A scan reads through the schema of the current snapshot: a table evolved since
        // (e.g. given the hash column by bootstrap) may lack the hash column there.
        let sha = ateda_schema::columns::INGEST_ALERT_SHA256;
        let has_sha = match table.metadata().current_snapshot() {
            Some(s) => s
                .schema(table.metadata())
                .map_err(ice("the key lookup's schema"))?
                .field_by_name(sha)
                .is_some(),
            None => false,
        };
        let columns: Vec<&str> = if has_sha { vec![key, sha] } else { vec![key] };
        let scan = table
            .scan()
            .select(columns)
            .with_filter(filter)
            .build()
            .map_err(ice("planning the key lookup"))?;
        let (files, mut stream) = read_files(table, &scan, wanted, "the key lookup").await?;
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(ice("reading stored keys"))?
        {
            let Some(k) = batch.column(0).as_any().downcast_ref::<Int64Array>() else {
                continue;
            };
            let sha = batch
                .columns()
                .get(1)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>());
            for i in 0..batch.num_rows() {
                if !k.is_valid(i) {
                    continue;
                }
                let v = k.value(i);
                let h = sha
                    .filter(|s| s.is_valid(i))
                    .and_then(|s| parse_sha256(s.value(i)));
                keys.push((v, h));
            }
        }
        Ok((files, keys))
    }

    /// Data files added to `table`'s main branch by the snapshots after `since` (all of
    /// them when `since` is `None` or not an ancestor of the current snapshot), except
    /// those of snapshots committed by the ingest run `skip_run` (`ateda.run-id`).
    pub async fn files_added_since(
        &self,
        table: &Table,
        since: Option<i64>,
        skip_run: Option<&str>,
    ) -> Result<HashSet<String>, LakehouseError> {
        let meta = table.metadata();
        let mut out = HashSet::new();
        let mut at = meta.current_snapshot_id();
        while let Some(id) = at {
            if Some(id) == since {
                break;
            }
            let Some(snap) = meta.snapshot_by_id(id) else {
                break;
            };
            at = snap.parent_snapshot_id();
            let run = snap
                .summary()
                .additional_properties
                .get(crate::ledger_gap::RUN_ID);
            if skip_run.is_some() && run.map(String::as_str) == skip_run {
                continue;
            }
            out.extend(crate::ledger_gap::added_by(table, id).await?);
        }
        Ok(out)
    }
}

/// Reads every row of the files a planned scan chose that `wanted` accepts: the scan's
/// filter picks files (by their column bounds), not rows. Returns the files read and the
/// rows in the scan's projection.
pub(crate) async fn read_files(
    table: &Table,
    scan: &TableScan,
    wanted: impl Fn(&str) -> bool,
    what: &str,
) -> Result<(Vec<String>, ArrowRecordBatchStream), LakehouseError> {
    let mut tasks: Vec<_> = scan
        .plan_files()
        .await
        .map_err(ice(format!("planning {what}")))?
        .try_filter(|t| futures::future::ready(wanted(t.data_file_path())))
        .try_collect()
        .await
        .map_err(ice(format!("planning {what}")))?;
    for t in &mut tasks {
        t.predicate = None;
    }
    let files: Vec<String> = tasks
        .iter()
        .map(|t| t.data_file_path().to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let reader = ArrowReaderBuilder::new(table.file_io().clone(), Runtime::current()).build();
    let stream = reader
        .read(futures::stream::iter(tasks.into_iter().map(Ok)).boxed())
        .map_err(ice(format!("reading {what}")))?
        .stream();
    Ok((files, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_at_the_widest_gaps() {
        let mut keys = vec![105, 101, 1, 103, 1_000_000, 102, 101];
        assert_eq!(
            key_ranges(&mut keys, 3),
            [(1, 1), (101, 105), (1_000_000, 1_000_000)]
        );
        assert_eq!(keys, [1, 101, 102, 103, 105, 1_000_000]);
        let mut keys = vec![5, 1, 9];
        assert_eq!(key_ranges(&mut keys, 1), [(1, 9)]);
        assert_eq!(key_ranges(&mut Vec::new(), 4), []);
        // neighbours (gap 1) are never split
        let mut keys = vec![1, 2, 3];
        assert_eq!(key_ranges(&mut keys, 8), [(1, 3)]);
        // extreme keys do not overflow
        let mut keys = vec![i64::MIN, i64::MAX, 0];
        assert_eq!(
            key_ranges(&mut keys, 8),
            [(i64::MIN, i64::MIN), (0, 0), (i64::MAX, i64::MAX)]
        );
    }

    #[test]
    fn sha256_hex_round_trip() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let b = parse_sha256(hex).expect("hex");
        assert_eq!(b[0], 0xba);
        assert_eq!(b[31], 0xad);
        assert_eq!(parse_sha256(&hex.to_uppercase()), Some(b));
        assert_eq!(parse_sha256("zz"), None);
        assert_eq!(parse_sha256(&hex[..62]), None);
    }
}
