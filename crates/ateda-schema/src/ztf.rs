//! The Zwicky Transient Facility: schema versions 3.2 to 4.02, key `candid`, night from
//! `candidate.jd`, three stamps as `{fileName, stampData}` records of gzipped FITS.

use crate::survey::{NightRule, StampField, StampLayout, Survey};

/// Bundled writer schemas, as embedded in real ZTF packets, newest first.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("4.02", include_str!("../schemas/ztf-4.02.avsc")),
    ("4.01", include_str!("../schemas/ztf-4.01.avsc")),
    ("3.3", include_str!("../schemas/ztf-3.3.avsc")),
    ("3.2", include_str!("../schemas/ztf-3.2.avsc")),
];

/// The three cutout fields of a ZTF packet with the short kind used in keys and columns.
pub const STAMPS: &[StampField] = &[
    StampField {
        field: "cutoutScience",
        kind: "science",
    },
    StampField {
        field: "cutoutTemplate",
        kind: "template",
    },
    StampField {
        field: "cutoutDifference",
        kind: "difference",
    },
];

/// ZTF as `ateda` ingests it.
pub const ZTF: Survey = Survey {
    name: "ztf",
    table: "alerts",
    schemas: SCHEMAS,
    key: "candid",
    key_fallback: None,
    night: NightRule::JulianDate(&["candidate", "jd"]),
    stamps: STAMPS,
    stamp_layout: StampLayout::Record {
        file_name: "fileName",
        data: "stampData",
    },
    wire_format: false,
    stamp_suffix: ".fits.gz",
    // 2017-01-01: before ZTF's first light (2017-11), after every commissioning packet.
    first_night: 17_167,
};
