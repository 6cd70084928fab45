//! Stream positions recorded with the rows: a streaming writer (`ateda stream`) puts the
//! next position to read of every topic partition it has committed into the snapshot
//! summary of the very commit that adds those rows (property
//! `ateda.kafka-offsets.<group>`, JSON `{"topic": {"partition": next_offset}}`), so the
//! rows and the positions are one atomic commit. The map is the whole group's (merged
//! with the one already recorded, position by position the larger), so the newest
//! snapshot carrying the property is enough to resume from; snapshots of other writers
//! (a nightly ingest, maintenance) do not carry it and are walked past.

use std::collections::BTreeMap;

use iceberg::table::Table;

/// Prefix of the snapshot summary property holding a consumer group's positions.
pub const STREAM_OFFSETS_PREFIX: &str = "ateda.kafka-offsets.";

/// The summary property name for `group`.
pub fn stream_offsets_property(group: &str) -> String {
    format!("{STREAM_OFFSETS_PREFIX}{group}")
}

/// Next offset to read per topic and partition: every message before it is committed
/// (in this table, or it belonged to another table or to quarantine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOffsets(BTreeMap<String, BTreeMap<i32, i64>>);

/// A recorded position map that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("snapshot {snapshot}: property {property} is not a position map: {reason}")]
pub struct BadOffsets {
    /// The snapshot carrying it.
    pub snapshot: i64,
    /// The property name.
    pub property: String,
    /// What is wrong.
    pub reason: String,
}

impl StreamOffsets {
    /// An empty map.
    pub fn new() -> StreamOffsets {
        StreamOffsets::default()
    }

    /// Parses the JSON form (`{"topic": {"partition": next_offset}}`).
    pub fn parse(json: &str) -> Result<StreamOffsets, String> {
        let raw: BTreeMap<String, BTreeMap<String, i64>> =
            serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut out = StreamOffsets::new();
        for (topic, parts) in raw {
            for (p, offset) in parts {
                let p: i32 = p
                    .parse()
                    .map_err(|_| format!("topic {topic}: partition {p:?} is not a number"))?;
                if offset < 0 {
                    return Err(format!("topic {topic} partition {p}: offset {offset} < 0"));
                }
                out.set(&topic, p, offset);
            }
        }
        Ok(out)
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        let raw: BTreeMap<&String, BTreeMap<String, i64>> = self
            .0
            .iter()
            .map(|(t, ps)| (t, ps.iter().map(|(p, o)| (p.to_string(), *o)).collect()))
            .collect();
        serde_json::to_string(&raw).unwrap_or_else(|_| "{}".into())
    }

    /// The next offset of a partition, if recorded.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get(topic).and_then(|ps| ps.get(&partition)).copied()
    }

    /// Records a partition's next offset (replacing what was there).
    pub fn set(&mut self, topic: &str, partition: i32, next: i64) {
        self.0
            .entry(topic.to_string())
            .or_default()
            .insert(partition, next);
    }

    /// Takes `other`'s positions, keeping the larger of two for a partition in both
    /// (every recorded position is one before which all messages are committed, so the
    /// larger is as safe as the smaller and never sends a reader back).
    pub fn merge_max(&mut self, other: &StreamOffsets) {
        for (t, p, o) in other.iter() {
            if self.get(t, p).is_none_or(|mine| mine < o) {
                self.set(t, p, o);
            }
        }
    }

    /// Every (topic, partition, next offset).
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.0
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| (t.as_str(), *p, *o)))
    }

    /// Whether no position is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|ps| ps.is_empty())
    }
}

/// The newest position map of `group` in `table`'s main-branch history, walking back from
/// `from` (the current snapshot when `None`) along the parents: the snapshot carrying it
/// and the map. `Ok(None)` when no snapshot in that history carries it.
pub fn stream_offsets_at(
    table: &Table,
    group: &str,
    from: Option<i64>,
) -> Result<Option<(i64, StreamOffsets)>, BadOffsets> {
    let property = stream_offsets_property(group);
    let meta = table.metadata();
    let mut at = from.or_else(|| meta.current_snapshot_id());
    while let Some(id) = at {
        let Some(snap) = meta.snapshot_by_id(id) else {
            // expired history: nothing older can be reached
            return Ok(None);
        };
        if let Some(json) = snap.summary().additional_properties.get(&property) {
            return StreamOffsets::parse(json)
                .map(|m| Some((id, m)))
                .map_err(|reason| BadOffsets {
                    snapshot: id,
                    property: property.clone(),
                    reason,
                });
        }
        at = snap.parent_snapshot_id();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_reads_back_and_merging_keeps_the_larger() {
        let mut a = StreamOffsets::new();
        a.set("ztf_20261201_programid1", 0, 15);
        a.set("ztf_20261201_programid1", 2, 7);
        let json = a.to_json();
        assert_eq!(json, r#"{"ztf_20261201_programid1":{"0":15,"2":7}}"#);
        assert_eq!(StreamOffsets::parse(&json).expect("parse"), a);
        let mut b = StreamOffsets::new();
        b.set("ztf_20261201_programid1", 0, 9);
        b.set("ztf_20261201_programid1", 1, 4);
        b.set("lsst-alerts", 0, 100);
        b.merge_max(&a);
        assert_eq!(b.get("ztf_20261201_programid1", 0), Some(15));
        assert_eq!(b.get("ztf_20261201_programid1", 1), Some(4));
        assert_eq!(b.get("ztf_20261201_programid1", 2), Some(7));
        assert_eq!(b.get("lsst-alerts", 0), Some(100));
        assert_eq!(b.get("lsst-alerts", 1), None);
        assert_eq!(b.iter().count(), 4);
        assert!(StreamOffsets::new().is_empty());
    }

    #[test]
    fn a_damaged_map_is_refused_with_the_reason() {
        assert!(StreamOffsets::parse("[]").is_err());
        assert!(StreamOffsets::parse(r#"{"t":{"x":1}}"#)
            .unwrap_err()
            .contains("not a number"));
        assert!(StreamOffsets::parse(r#"{"t":{"0":-1}}"#)
            .unwrap_err()
            .contains("< 0"));
    }
}
