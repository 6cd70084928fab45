//! One notion of a survey: everything the ingest core needs to know of it.
//!
//! Adding a survey is one module that returns a [`Survey`] (see [`crate::ztf`]): its
//! bundled schema family (the bootstrap of a new table), its key field, how its night is
//! derived, which fields are stamps and how they are laid out, and its table name.

use crate::night::{night_from_jd, night_from_mjd};

/// How a packet's observation night is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NightRule {
    /// UTC date of a Julian date found at this field path (e.g. `candidate.jd`).
    JulianDate(&'static [&'static str]),
    /// UTC date of a modified Julian date found at this field path.
    ModifiedJulianDate(&'static [&'static str]),
    /// Rubin's `dayObs`: the date, in the UTC-12h time zone, of a modified Julian date
    /// found at this field path (a night's observations share one date). The MJD is
    /// TAI; TAI-UTC (37 s) is ignored: no exposure starts within a minute of local
    /// morning in Chile, when the date turns.
    DayObs(&'static [&'static str]),
}

impl NightRule {
    /// The field path holding the time.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            NightRule::JulianDate(p) | NightRule::ModifiedJulianDate(p) | NightRule::DayObs(p) => p,
        }
    }

    /// The night (days since 1970-01-01) of a time value, if it is a usable time.
    pub fn night(self, value: f64) -> Option<i32> {
        match self {
            NightRule::JulianDate(_) => night_from_jd(value),
            NightRule::ModifiedJulianDate(_) => night_from_mjd(value),
            NightRule::DayObs(_) => night_from_mjd(value - 0.5),
        }
    }
}

/// How a survey's stamp fields are laid out in the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampLayout {
    /// A record with a file name and the stamp bytes (ZTF: `fileName`, `stampData`).
    Record {
        /// Name of the file-name field.
        file_name: &'static str,
        /// Name of the bytes field.
        data: &'static str,
    },
    /// The stamp bytes themselves (Rubin).
    Bytes,
}

/// One stamp field of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampField {
    /// Top-level packet field (e.g. `cutoutScience`).
    pub field: &'static str,
    /// Short kind used in object keys and column names (e.g. `science`).
    pub kind: &'static str,
}

/// A survey whose alerts `ateda` ingests.
#[derive(Debug, Clone, Copy)]
pub struct Survey {
    /// Short lowercase name, also the first part of stamp keys (`ztf`).
    pub name: &'static str,
    /// Table name within the `bronze` namespace (`alerts`).
    pub table: &'static str,
    /// Bundled writer schemas as `(version, JSON text)`, newest first: the bootstrap of a
    /// new table (their union, with their docs as column docs).
    pub schemas: &'static [(&'static str, &'static str)],
    /// Top-level field holding the alert's unique key (a `long`).
    pub key: &'static str,
    /// Where the key is read from when a writer schema has no top-level key field
    /// (Rubin 7.x: `diaSource.diaSourceId`); the key column is filled from it.
    pub key_fallback: Option<&'static [&'static str]>,
    /// How the observation night is derived.
    pub night: NightRule,
    /// The stamp fields, in the order of [`crate::columns::cutout_uri`] columns.
    pub stamps: &'static [StampField],
    /// How each stamp field is laid out.
    pub stamp_layout: StampLayout,
    /// File suffix of a stamp object (`.fits.gz`).
    pub stamp_suffix: &'static str,
    /// Whether the survey ships single-datum packets in the Confluent wire format
    /// (`0x00`, schema id, datum): such packets are routed to it.
    pub wire_format: bool,
    /// The survey's first observing night (days since 1970-01-01): the default lower
    /// bound of [`NightBounds`]. An alert dated before it is quarantined.
    pub first_night: i32,
}

/// The nights a run accepts (days since 1970-01-01, both inclusive). A packet whose
/// night falls outside is quarantined with a reason naming both (a `jd` of 0 or 2e9
/// is a poison value no reader can place, not an observation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NightBounds {
    /// First accepted night.
    pub first: i32,
    /// Last accepted night.
    pub last: i32,
}

impl NightBounds {
    /// The survey's first night to `today + 1` (days since 1970-01-01).
    pub fn for_survey(survey: &Survey, today: i32) -> NightBounds {
        NightBounds {
            first: survey.first_night,
            last: today.saturating_add(1),
        }
    }

    /// True when `night` lies within the bounds.
    pub fn contains(&self, night: i32) -> bool {
        (self.first..=self.last).contains(&night)
    }
}

/// Every survey `ateda` ingests; the first is the default for packets whose writer
/// schema names none of them.
pub const SURVEYS: &[Survey] = &[crate::ztf::ZTF, crate::lsst::LSST];

impl Survey {
    /// The survey of this short name (`ztf`, `lsst`).
    pub fn by_name(name: &str) -> Option<Survey> {
        SURVEYS.iter().find(|s| s.name == name).copied()
    }

    /// The survey a writer schema belongs to, from its top-level record's full name:
    /// its first dotted part is the survey's name (`ztf.alert`, `lsst.v11_0.alert`).
    pub fn of_record_name(full_name: &str) -> Option<Survey> {
        let first = full_name.split('.').next()?;
        SURVEYS.iter().find(|s| s.name == first).copied()
    }

    /// The stamp index of a top-level field, if it is a stamp field.
    pub fn stamp_index(&self, field: &str) -> Option<usize> {
        self.stamps.iter().position(|s| s.field == field)
    }

    /// Names of the columns `ateda` fills itself in this survey's table (stamps' URI and
    /// file name, night, ingestion columns): a writer field must not collide with them.
    pub fn filled_columns(&self) -> Vec<String> {
        use crate::columns::*;
        let mut v: Vec<String> = self.stamps.iter().map(|s| cutout_uri(s.kind)).collect();
        if matches!(self.stamp_layout, StampLayout::Record { .. }) {
            v.extend(self.stamps.iter().map(|s| cutout_file_name(s.kind)));
        }
        v.extend(
            [
                NIGHT,
                INGEST_SOURCE,
                INGEST_SCHEMA_VERSION,
                INGEST_RUN_ID,
                INGESTED_AT,
                INGEST_ALERT_SHA256,
            ]
            .map(str::to_string),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surveys_by_name_and_record_name() {
        assert_eq!(
            Survey::by_name("lsst").map(|s| s.table),
            Some("lsst_alerts")
        );
        assert_eq!(
            Survey::of_record_name("ztf.alert").map(|s| s.name),
            Some("ztf")
        );
        assert_eq!(
            Survey::of_record_name("lsst.v11_0.alert").map(|s| s.name),
            Some("lsst")
        );
        assert!(Survey::of_record_name("alert").is_none());
    }

    #[test]
    fn day_obs_is_the_date_in_utc_minus_12h() {
        let rule = NightRule::DayObs(&["t"]);
        // MJD 60961.233 is 2025-10-13 05:35 UTC: the night that began on 2025-10-12 (Chile).
        let day = |mjd| rule.night(mjd).map(crate::format_day);
        assert_eq!(day(60961.233).as_deref(), Some("2025-10-12"));
        // Noon UTC turns the date.
        assert_eq!(day(60961.4999).as_deref(), Some("2025-10-12"));
        assert_eq!(day(60961.5001).as_deref(), Some("2025-10-13"));
        assert_eq!(rule.night(1.0e300), None);
    }
}
