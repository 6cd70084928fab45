//! The Vera C. Rubin Observatory's LSST: schema versions 7.0 to 11.0, key `diaSourceId`,
//! night = Rubin's `dayObs` of `diaSource.midpointMjdTai`, three stamps as plain bytes of
//! uncompressed FITS.
//!
//! The bundled schemas are Rubin's split schema files composed into one document per
//! version (`scripts/lsst-schemas.py`), as a container header or a schema registry
//! carries them. Wire-format packets name their writer schema by id, `major * 100 +
//! minor` ([`schema_id`], [`by_id`]).

use crate::survey::{NightRule, StampField, StampLayout, Survey};

/// Bundled writer schemas, newest first.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("11.0", include_str!("../schemas/lsst-11.0.avsc")),
    ("10.0", include_str!("../schemas/lsst-10.0.avsc")),
    ("9.0", include_str!("../schemas/lsst-9.0.avsc")),
    ("8.0", include_str!("../schemas/lsst-8.0.avsc")),
    ("7.4", include_str!("../schemas/lsst-7.4.avsc")),
    ("7.3", include_str!("../schemas/lsst-7.3.avsc")),
    ("7.2", include_str!("../schemas/lsst-7.2.avsc")),
    ("7.1", include_str!("../schemas/lsst-7.1.avsc")),
    ("7.0", include_str!("../schemas/lsst-7.0.avsc")),
];

/// The three cutout fields of a Rubin packet with the short kind used in keys and
/// columns: the same field names as ZTF's, so gold reads one column name for both.
pub const STAMPS: &[StampField] = crate::ztf::STAMPS;

/// Rubin/LSST as `ateda` ingests it.
pub const LSST: Survey = Survey {
    name: "lsst",
    table: "lsst_alerts",
    schemas: SCHEMAS,
    key: "diaSourceId",
    // 7.x packets carry no top-level diaSourceId: the triggering source's own id is it.
    key_fallback: Some(&["diaSource", "diaSourceId"]),
    night: NightRule::DayObs(&["diaSource", "midpointMjdTai"]),
    stamps: STAMPS,
    stamp_layout: StampLayout::Bytes,
    wire_format: true,
    stamp_suffix: ".fits",
    // 2020-01-01: before the first Rubin commissioning alerts (ComCam, 2024).
    first_night: 18_262,
};

/// The schema id of a version `major.minor` (`9.0` -> 900).
pub fn schema_id(version: &str) -> Option<u32> {
    let (major, minor) = version.split_once('.')?;
    Some(major.parse::<u32>().ok()? * 100 + minor.parse::<u32>().ok()?)
}

/// The bundled writer schema registered under a schema id.
pub fn by_id(id: u32) -> Option<&'static str> {
    SCHEMAS
        .iter()
        .find(|(v, _)| schema_id(v) == Some(id))
        .map(|(_, text)| *text)
}

/// The versions bundled, oldest to newest, as `7.0-11.0` (for messages).
pub fn bundled_range() -> String {
    let newest = SCHEMAS.first().map_or("?", |s| s.0);
    let oldest = SCHEMAS.last().map_or("?", |s| s.0);
    format!("{oldest}-{newest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_writer_schema;

    #[test]
    fn every_bundled_schema_parses_with_its_version() {
        for (version, text) in SCHEMAS {
            let w = parse_writer_schema(text).expect(version);
            assert_eq!(&w.version, version);
            assert_eq!(by_id(schema_id(version).expect("id")), Some(*text));
        }
        assert_eq!(schema_id("11.0"), Some(1100));
        assert_eq!(schema_id("7.4"), Some(704));
        assert_eq!(by_id(1234), None);
        assert_eq!(bundled_range(), "7.0-11.0");
    }

    #[test]
    fn one_table_holds_every_version() {
        let table = crate::bootstrap_schema(&LSST).expect("bootstrap");
        for name in [
            "alertId",
            "diaSourceId",
            "diaSource",
            "prvDiaSources",
            "prvDiaForcedSources",
            "prvDiaNondetectionLimits",
            "diaObject",
            "ssObject",
            "ssSource",
            "MPCORB",
            "mpc_orbits",
            "cutout_science_uri",
            "night",
            "ingest_alert_sha256",
        ] {
            assert!(table.field_by_name(name).is_some(), "{name}");
        }
        assert!(table.field_by_name("cutout_science_file_name").is_none());
        for (version, text) in SCHEMAS {
            let w = parse_writer_schema(text).expect(version);
            let diff = crate::diff_writer(&LSST, &w, &table);
            assert_eq!(diff.conflict_reason(), None, "{version}");
            assert!(diff.changes.is_empty(), "{version}: {:?}", diff.changes);
        }
    }
}
