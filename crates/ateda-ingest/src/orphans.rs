//! Orphan packs: pack objects no row points into (a run stopped between closing a pack
//! and committing the rows that point into it), and temporary files a killed run left.
//!
//! A pack is an orphan when it is older than a grace period (so a live run's packs,
//! closed moments before its commit, are never taken) and no row of its night in the
//! survey's alerts table records its URI. Committed packs are never touched.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use ateda_lakehouse::Lakehouse;
use ateda_objects::{Bucket, Listed};
use serde::Serialize;

use crate::IngestError;

/// What a sweep found (and removed, unless it was a dry run).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OrphanSweep {
    /// Pack objects found under `<survey>/packs/`.
    pub packs: u64,
    /// Of those, packs some row points into.
    pub referenced: u64,
    /// Packs and temporary files younger than the grace period (left alone).
    pub recent: u64,
    /// Orphan packs and leftover temporary files (URIs), removed unless a dry run.
    pub orphans: Vec<String>,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Whether they were removed.
    pub removed: bool,
}

/// The night a pack key names (`<survey>/packs/night=<YYYY-MM-DD>/...`).
fn night_of(key: &str) -> Option<i32> {
    let part = key.split('/').find_map(|p| p.strip_prefix("night="))?;
    let d = chrono::NaiveDate::parse_from_str(part, "%Y-%m-%d").ok()?;
    i32::try_from(
        d.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
    .ok()
}

/// Finds the orphan packs of `lakehouse`'s survey under `cutouts` older than `grace`
/// and removes them (unless `dry_run`).
///
/// Refuses when the night's rows point at packs under another root: `cutouts` must be
/// the root the ingest wrote to, or every pack would look unreferenced.
pub async fn sweep_orphan_packs(
    lakehouse: &Lakehouse,
    cutouts: &Bucket,
    grace: Duration,
    dry_run: bool,
) -> Result<OrphanSweep, IngestError> {
    let survey = lakehouse.survey();
    let listed = cutouts.list(&format!("{}/packs", survey.name)).await?;
    let now = SystemTime::now();
    let mut sweep = OrphanSweep {
        removed: !dry_run,
        ..OrphanSweep::default()
    };
    let mut by_night: BTreeMap<i32, Vec<Listed>> = BTreeMap::new();
    let mut doomed: Vec<Listed> = Vec::new();
    for l in listed {
        let is_pack = l.key.ends_with(".pack");
        if is_pack {
            sweep.packs += 1;
        }
        let old = now
            .duration_since(l.modified)
            .map(|age| age >= grace)
            .unwrap_or(false);
        let hidden_tmp = l
            .key
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"));
        match (is_pack, hidden_tmp, old) {
            (_, _, false) => sweep.recent += 1,
            (false, true, true) => doomed.push(l),
            (true, _, true) => match night_of(&l.key) {
                Some(n) => by_night.entry(n).or_default().push(l),
                None => tracing::warn!(uri = %l.uri, "a pack whose key names no night: left alone"),
            },
            (false, false, true) => {
                tracing::warn!(uri = %l.uri, "not a pack: left alone")
            }
        }
    }
    let root = format!("{}/", cutouts.base_uri());
    for (night, packs) in by_night {
        let uris: HashSet<String> = lakehouse.stamp_uris_of_night(night).await?;
        if let Some(elsewhere) = uris
            .iter()
            .find(|u| u.contains("/packs/") && !u.starts_with(&root))
        {
            return Err(IngestError::Layout(format!(
                "rows of night {} point at packs under another root ({elsewhere}); \
                 --cutouts must be the root the ingest wrote to ({} given)",
                ateda_schema::format_day(night),
                cutouts.base_uri()
            )));
        }
        for p in packs {
            if uris.contains(&p.uri) {
                sweep.referenced += 1;
            } else {
                doomed.push(p);
            }
        }
    }
    for d in doomed {
        if !dry_run {
            cutouts.delete(&d.key).await?;
        }
        tracing::info!(uri = %d.uri, bytes = d.size, dry_run, "orphan");
        sweep.orphan_bytes += d.size;
        sweep.orphans.push(d.uri);
    }
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_night_comes_from_the_key() {
        assert_eq!(night_of("ztf/packs/night=1970-01-02/r-00000.pack"), Some(1));
        assert_eq!(night_of("ztf/packs/r.pack"), None);
        assert_eq!(night_of("ztf/packs/night=garbage/r.pack"), None);
    }
}
