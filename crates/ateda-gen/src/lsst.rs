//! Synthetic Rubin/LSST nights.
//!
//! Every alert is written with one bundled Rubin writer schema (11.0 unless asked) through
//! apache-avro, starting from a real template packet (one with all three cutouts, e.g.
//! `tests/data/lsst/wire_v9_0_*.avro`): the fields the generator does not set keep the
//! template's values, whatever the template's version. The generator sets:
//!
//! - ids: a unique positive `diaSourceId` per alert (top level, or `alertId` for 7.x, equal
//!   to `diaSource.diaSourceId`), a `diaObjectId` per object; objects repeat across alerts
//!   (`alerts_per_object`), as in a real night;
//! - times: `midpointMjdTai` between 23:30 and 09:30 UTC of the night's dayObs (the UTC
//!   date of `midpointMjdTai - 0.5 d`), visits numbered `dayObs * 100000 + sequence`;
//! - photometry: bands u g r i z y, `psfFlux`/`psfFluxErr` in nJy from a magnitude per
//!   object (some negative difference fluxes), `scienceFlux` positive;
//! - history: `prvDiaSources` of 0-30 earlier detections over the past year plus the
//!   object's earlier alerts of the night, `prvDiaForcedSources` of up to 60 forced
//!   measurements (both null when empty, as Rubin sends them); `diaObject` summarises it;
//! - cutouts: the template's FITS cutouts remade at other image and PSF sizes (30-40 px
//!   images, 35-45 px PSF, 41-71 px for the template's PSF), about 30-70 KB each.
//!
//! Output is one `<diaSourceId>.avro` per alert, as an Avro object container file or in
//! Rubin's Confluent wire format (`0x00`, 4-byte big-endian schema id `major * 100 +
//! minor`, the datum), in a directory or a `lsst_YYYYMMDD.tar.gz`.

mod conform;
mod fits;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use apache_avro::schema::Schema;
use apache_avro::types::Value;

use crate::{avro_files, container, io, parse_night, GenError, Generated, Rng, Sink};
use conform::{Names, Stencil};
use fits::{Cutout, Shape};

/// Rubin writer schemas bundled with ateda (`ateda_schema::lsst::SCHEMAS`), `(version,
/// schema JSON)`, newest first; [`schema_id`] gives a version's Confluent id.
pub use ateda_schema::lsst::{schema_id, SCHEMAS as LSST_SCHEMAS};

/// How each alert file is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsstFormat {
    /// An Avro object container file with the writer schema in its header.
    Container,
    /// Rubin's Kafka framing: `0x00`, the schema id (4 bytes, big-endian), the datum.
    Wire,
}

/// What Rubin night to generate.
#[derive(Debug, Clone)]
pub struct LsstOptions {
    /// Number of alerts.
    pub n: usize,
    /// Night (dayObs) as `YYYYMMDD`.
    pub night: String,
    /// Output directory, or with `tar` a directory or a path ending in `.tar.gz`.
    pub out: PathBuf,
    /// Write `lsst_YYYYMMDD.tar.gz` instead of files.
    pub tar: bool,
    /// Directory of template packets (searched recursively for `.avro`; Rubin packets with
    /// all three cutouts are used, others skipped).
    pub templates: PathBuf,
    /// Alerts per object on average.
    pub alerts_per_object: usize,
    /// RNG seed.
    pub seed: u64,
    /// File framing.
    pub format: LsstFormat,
    /// Schema version to write (one of [`LSST_SCHEMAS`]); `None` for the newest.
    pub schema_version: Option<String>,
}

fn schema_text(version: &str) -> Option<&'static str> {
    LSST_SCHEMAS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, t)| *t)
}

/// MJD of 1970-01-01.
const MJD_UNIX_EPOCH: f64 = 40_587.0;
/// Observing starts at 23:30 UTC of dayObs and lasts 10 hours.
const NIGHT_START: f64 = 0.98;
const NIGHT_SPAN: f64 = 0.41;
const BANDS: [(&str, f64); 6] = [
    ("u", 0.05),
    ("g", 0.15),
    ("r", 0.25),
    ("i", 0.25),
    ("z", 0.17),
    ("y", 0.13),
];
/// Id ranges: alerts, earlier detections, forced measurements, objects (each plus
/// `night << 32`, so nights do not share ids).
const ALERT_IDS: i64 = 7_000_000_000_000_000;
const HISTORY_IDS: i64 = 7_500_000_000_000_000;
const FORCED_IDS: i64 = 8_000_000_000_000_000;
const OBJECT_IDS: i64 = 6_000_000_000_000_000;
const MAX_HISTORY: u64 = 30;
const MAX_FORCED: u64 = 60;

/// `YYYYMMDD` of a day number (days since 1970-01-01).
fn yyyymmdd(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    y * 10_000 + m * 100 + d
}

/// Rubin's dayObs (days since 1970-01-01) of an MJD: the UTC date 12 hours earlier.
pub fn day_obs(mjd: f64) -> i64 {
    (mjd - 0.5 - MJD_UNIX_EPOCH).floor() as i64
}

/// One measurement of an object (a detection or a forced measurement).
#[derive(Debug, Clone)]
struct Meas {
    id: i64,
    mjd: f64,
    band: &'static str,
    flux: f64,
    err: f64,
    science: f64,
    ra: f64,
    dec: f64,
    visit: i64,
    detector: i32,
    x: f64,
    y: f64,
}

/// An object's fixed traits and its measurements before the night.
struct Object {
    id: i64,
    ra: f64,
    dec: f64,
    mag: f64,
    history: Vec<Meas>,
    forced: Vec<Meas>,
}

fn band(rng: &mut Rng) -> &'static str {
    let mut u = rng.unit();
    for (b, w) in BANDS {
        if u < w {
            return b;
        }
        u -= w;
    }
    "r"
}

fn normal(rng: &mut Rng) -> f64 {
    // Box-Muller
    let u1 = rng.unit().max(1e-12);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn njy(mag: f64) -> f64 {
    10f64.powf((31.4 - mag) / 2.5)
}

/// A measurement of `obj` at `mjd`: `detected` ones have a flux well above the noise
/// (negative for about one in six: a source fainter than in the template image).
fn measure(obj: &Object, id: i64, mjd: f64, detected: bool, rng: &mut Rng) -> Meas {
    let mag = obj.mag + 0.6 * normal(rng);
    let f = njy(mag);
    let err = 0.04 * f + 60.0 + 140.0 * rng.unit();
    let flux = if !detected {
        0.3 * f + err * normal(rng)
    } else if rng.below(6) == 0 {
        -f
    } else {
        f
    };
    let day = day_obs(mjd);
    let seq = ((mjd - MJD_UNIX_EPOCH - day as f64 - 0.5) * 86_400.0 / 40.0) as i64;
    Meas {
        id,
        mjd,
        band: band(rng),
        flux,
        err,
        science: f.abs() + njy(obj.mag + 1.0),
        ra: obj.ra + 2e-5 * normal(rng),
        dec: obj.dec + 2e-5 * normal(rng),
        visit: yyyymmdd(day) * 100_000 + seq,
        detector: rng.below(189) as i32,
        x: 20.0 + 4_036.0 * rng.unit(),
        y: 20.0 + 3_956.0 * rng.unit(),
    }
}

/// `n` past measurements of `obj` at random times in `from..to` (MJD), in time order,
/// with ids from `base` on: detections, or forced photometry.
fn past(
    obj: &Object,
    n: u64,
    from: f64,
    to: f64,
    base: i64,
    detected: bool,
    rng: &mut Rng,
) -> Vec<Meas> {
    let mut times: Vec<f64> = (0..n).map(|_| from + (to - from) * rng.unit()).collect();
    times.sort_by(f64::total_cmp);
    times
        .iter()
        .enumerate()
        .map(|(k, &t)| measure(obj, base + k as i64, t, detected, rng))
        .collect()
}

/// Object `index` of the night starting at `start` (MJD): the same every time it is drawn.
fn object(seed: u64, night: i64, index: u64, start: f64) -> Object {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5EED);
    let sin_dec = -1.0 + rng.unit() * (1.0 + 30f64.to_radians().sin());
    let mut obj = Object {
        id: OBJECT_IDS + (night << 32) + index as i64,
        ra: 360.0 * rng.unit(),
        dec: sin_dec.asin().to_degrees(),
        mag: 18.5 + 5.5 * rng.unit(),
        history: Vec::new(),
        forced: Vec::new(),
    };
    // About a third of the objects are new tonight.
    let n_hist = if rng.below(3) == 0 {
        0
    } else {
        1 + rng.below(MAX_HISTORY)
    };
    let first = start - 1.0 - 364.0 * rng.unit();
    let base = HISTORY_IDS + (night << 32) + (index as i64) * 32;
    obj.history = past(&obj, n_hist, first, start - 1.0, base, true, &mut rng);
    if n_hist > 0 {
        let n_forced = (2 * n_hist + rng.below(10)).min(MAX_FORCED);
        let base = FORCED_IDS + (night << 32) + (index as i64) * 64;
        obj.forced = past(&obj, n_forced, first, start - 1.0, base, false, &mut rng);
    }
    obj
}

/// A template packet: its values (cutouts taken out) and its cutouts.
struct Template {
    alert: Value,
    difference: Cutout,
    science: Cutout,
    template: Cutout,
}

fn field_mut<'a>(v: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    match v {
        Value::Record(fields) => fields.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

fn take_bytes(v: &mut Value, name: &str) -> Option<Vec<u8>> {
    let slot = field_mut(v, name)?;
    match std::mem::replace(slot, Value::Null) {
        Value::Union(_, inner) => match *inner {
            Value::Bytes(b) => Some(b),
            _ => None,
        },
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// Reads the Rubin packets under `dir` (container files whose schema is in the `lsst`
/// namespace, and wire-format packets of a bundled version) that have three FITS cutouts.
fn load_templates(dir: &Path) -> Result<Vec<Template>, GenError> {
    let mut out = Vec::new();
    for f in avro_files(dir)? {
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        let bad = |reason: String| GenError::Template {
            path: f.clone(),
            reason,
        };
        let mut alerts = Vec::new();
        if bytes.starts_with(b"Obj\x01") {
            let reader = apache_avro::Reader::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
            let lsst = reader
                .writer_schema()
                .name()
                .is_some_and(|n| n.fullname(None).starts_with("lsst."));
            if !lsst {
                continue;
            }
            for v in reader {
                alerts.push(v.map_err(|e| bad(e.to_string()))?);
            }
        } else if bytes.len() > 5 && bytes[0] == 0 {
            let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            let Some(text) = ateda_schema::lsst::by_id(id) else {
                continue;
            };
            let schema = Schema::parse_str(text).map_err(|e| bad(e.to_string()))?;
            let v = apache_avro::from_avro_datum(&schema, &mut &bytes[5..], None)
                .map_err(|e| bad(e.to_string()))?;
            alerts.push(v);
        }
        for mut alert in alerts {
            let cut = |alert: &mut Value, name: &str| {
                take_bytes(alert, name).and_then(|b| Cutout::parse(&b))
            };
            let difference = cut(&mut alert, "cutoutDifference");
            let science = cut(&mut alert, "cutoutScience");
            let template = cut(&mut alert, "cutoutTemplate");
            if let (Some(difference), Some(science), Some(template)) =
                (difference, science, template)
            {
                out.push(Template {
                    alert,
                    difference,
                    science,
                    template,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(GenError::Args(format!(
            "no Rubin template packet with three FITS cutouts under {}",
            dir.display()
        )));
    }
    Ok(out)
}

/// A template turned into stencils of the written schema's records.
struct Stencils {
    alert: Stencil,
    source: Stencil,
    forced: Stencil,
    object: Stencil,
    difference: Cutout,
    science: Cutout,
    template: Cutout,
}

fn record_of<'a>(
    top: &'a apache_avro::schema::RecordSchema,
    field: &str,
    names: &'a Names,
) -> Result<&'a apache_avro::schema::RecordSchema, GenError> {
    top.lookup
        .get(field)
        .and_then(|&i| conform::record(&top.fields[i].schema, names))
        .ok_or_else(|| GenError::Args(format!("the Rubin schema has no record field {field}")))
}

impl Stencils {
    fn new(t: Template, schema: &Schema, names: &Names) -> Result<Stencils, GenError> {
        let top = conform::record(schema, names)
            .ok_or_else(|| GenError::Args("the Rubin schema is not a record".into()))?;
        let mut alert = t.alert;
        let mut take = |name: &str| {
            field_mut(&mut alert, name).map_or(Value::Null, |v| std::mem::replace(v, Value::Null))
        };
        let source = take("diaSource");
        let object = take("diaObject");
        let forced = match take("prvDiaForcedSources") {
            Value::Union(_, inner) => match *inner {
                Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        take("prvDiaSources");
        Ok(Stencils {
            source: Stencil::new(record_of(top, "diaSource", names)?, source, names),
            forced: Stencil::new(record_of(top, "prvDiaForcedSources", names)?, forced, names),
            object: Stencil::new(record_of(top, "diaObject", names)?, object, names),
            alert: Stencil::new(top, alert, names),
            difference: t.difference,
            science: t.science,
            template: t.template,
        })
    }

    fn source(&self, m: &Meas, object_id: i64, names: &Names) -> Value {
        let processed = m.mjd + 0.002;
        self.source.make(
            vec![
                ("diaSourceId", Value::Long(m.id)),
                ("visit", Value::Long(m.visit)),
                ("detector", Value::Int(m.detector)),
                ("diaObjectId", Value::Long(object_id)),
                ("midpointMjdTai", Value::Double(m.mjd)),
                ("ra", Value::Double(m.ra)),
                ("dec", Value::Double(m.dec)),
                ("x", Value::Double(m.x)),
                ("y", Value::Double(m.y)),
                ("psfFlux", Value::Double(m.flux)),
                ("psfFluxErr", Value::Double(m.err)),
                ("snr", Value::Double(m.flux.abs() / m.err)),
                ("isNegative", Value::Boolean(m.flux < 0.0)),
                ("scienceFlux", Value::Double(m.science)),
                ("scienceFluxErr", Value::Double(m.err)),
                ("band", Value::String(m.band.to_string())),
                ("timeProcessedMjdTai", Value::Double(processed)),
                ("time_processed", Value::Long(unix_micros(processed))),
            ],
            names,
        )
    }

    fn forced(&self, m: &Meas, object_id: i64, names: &Names) -> Value {
        let processed = m.mjd + 0.002;
        self.forced.make(
            vec![
                ("diaForcedSourceId", Value::Long(m.id)),
                ("diaObjectId", Value::Long(object_id)),
                ("ra", Value::Double(m.ra)),
                ("dec", Value::Double(m.dec)),
                ("visit", Value::Long(m.visit)),
                ("detector", Value::Int(m.detector)),
                ("psfFlux", Value::Double(m.flux)),
                ("psfFluxErr", Value::Double(m.err)),
                ("midpointMjdTai", Value::Double(m.mjd)),
                ("scienceFlux", Value::Double(m.science)),
                ("scienceFluxErr", Value::Double(m.err)),
                ("band", Value::String(m.band.to_string())),
                ("timeProcessedMjdTai", Value::Double(processed)),
                ("time_processed", Value::Long(unix_micros(processed))),
            ],
            names,
        )
    }
}

fn unix_micros(mjd: f64) -> i64 {
    ((mjd - MJD_UNIX_EPOCH) * 86_400e6) as i64
}

/// Null for an empty list (as Rubin sends a packet with no history), else the array.
fn list(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// Generates a synthetic Rubin night.
pub fn generate_lsst(opts: &LsstOptions) -> Result<Generated, GenError> {
    let night = i64::from(parse_night(&opts.night)?);
    let version = opts
        .schema_version
        .clone()
        .unwrap_or_else(|| LSST_SCHEMAS[0].0.to_string());
    let (Some(text), Some(id)) = (schema_text(&version), schema_id(&version)) else {
        let known: Vec<&str> = LSST_SCHEMAS.iter().map(|(v, _)| *v).collect();
        return Err(GenError::Args(format!(
            "no bundled Rubin schema {version:?} (bundled: {})",
            known.join(", ")
        )));
    };
    let schema = Schema::parse_str(text).map_err(|e| GenError::Encode(e.to_string()))?;
    let names = conform::names(&schema).map_err(GenError::Encode)?;
    let stencils = load_templates(&opts.templates)?
        .into_iter()
        .map(|t| Stencils::new(t, &schema, &names))
        .collect::<Result<Vec<_>, _>>()?;

    let mut rng = Rng(opts.seed);
    let objects = (opts.n / opts.alerts_per_object.max(1)).max(1) as u64;
    let start = night as f64 + MJD_UNIX_EPOCH + NIGHT_START;
    let mut tonight: HashMap<u64, Vec<Meas>> = HashMap::new();
    let mut bytes = 0u64;
    let mut sink = Sink::open(&opts.out, opts.tar, &format!("lsst_{}.tar.gz", opts.night))?;
    for i in 0..opts.n {
        let st = &stencils[rng.below(stencils.len() as u64) as usize];
        let index = rng.below(objects);
        let obj = object(opts.seed, night, index, start);
        let source_id = ALERT_IDS + (night << 32) + i as i64;
        let mjd = start + NIGHT_SPAN * (i as f64 + rng.unit()) / opts.n as f64;
        let det = measure(&obj, source_id, mjd, true, &mut rng);
        let earlier = tonight.entry(index).or_default();
        let prv: Vec<Value> = obj
            .history
            .iter()
            .chain(earlier.iter())
            .map(|m| st.source(m, obj.id, &names))
            .collect();
        let forced: Vec<Value> = obj
            .forced
            .iter()
            .map(|m| st.forced(m, obj.id, &names))
            .collect();
        let first = obj
            .history
            .first()
            .or(earlier.first())
            .map_or(mjd, |m| m.mjd);
        let n_sources = prv.len() as i64 + 1;
        earlier.push(det.clone());
        let dia_object = st.object.make(
            vec![
                ("diaObjectId", Value::Long(obj.id)),
                ("ra", Value::Double(obj.ra)),
                ("dec", Value::Double(obj.dec)),
                ("nDiaSources", Value::Long(n_sources)),
                ("firstDiaSourceMjdTai", Value::Double(first)),
                ("lastDiaSourceMjdTai", Value::Double(mjd)),
                ("validityStartMjdTai", Value::Double(mjd + 0.002)),
                ("validityStart", Value::Long(unix_micros(mjd + 0.002))),
            ],
            &names,
        );
        // Cutout sizes: mostly 30 px (bigger for extended sources), PSF sides with the seeing.
        let side = if rng.below(5) == 0 {
            31 + rng.below(10) as usize
        } else {
            30
        };
        let shape = Shape {
            side,
            psf_side: 35 + 2 * rng.below(6) as usize,
            ra: det.ra,
            dec: det.dec,
            corner: (det.x as i64 - 15, det.y as i64 - 15),
        };
        let template_shape = Shape {
            psf_side: 41 + 2 * rng.below(16) as usize,
            ..shape
        };
        let mut cutout = |c: &Cutout, shape: &Shape| {
            let mut out = Vec::new();
            c.render(shape, &mut rng, &mut out);
            Value::Bytes(out)
        };
        let difference = cutout(&st.difference, &shape);
        let science = cutout(&st.science, &shape);
        let template = cutout(&st.template, &template_shape);
        let alert = st.alert.make(
            vec![
                ("diaSourceId", Value::Long(source_id)),
                ("alertId", Value::Long(source_id)),
                ("diaSource", st.source(&det, obj.id, &names)),
                ("prvDiaSources", list(prv)),
                ("prvDiaForcedSources", list(forced)),
                ("diaObject", dia_object),
                ("ssSource", Value::Null),
                ("MPCORB", Value::Null),
                ("mpc_orbits", Value::Null),
                ("cutoutDifference", difference),
                ("cutoutScience", science),
                ("cutoutTemplate", template),
            ],
            &names,
        );
        let datum = apache_avro::to_avro_datum(&schema, alert)
            .map_err(|e| GenError::Encode(e.to_string()))?;
        let file = match opts.format {
            LsstFormat::Wire => {
                let mut f = Vec::with_capacity(datum.len() + 5);
                f.push(0);
                f.extend_from_slice(&id.to_be_bytes());
                f.extend_from_slice(&datum);
                f
            }
            LsstFormat::Container => {
                let mut sync = [0u8; 16];
                sync[..8].copy_from_slice(&rng.next().to_le_bytes());
                sync[8..].copy_from_slice(&rng.next().to_le_bytes());
                container(text.as_bytes(), &datum, sync)
            }
        };
        bytes += file.len() as u64;
        sink.put(&format!("{source_id}.avro"), &file)?;
    }
    Ok(Generated {
        path: sink.finish()?,
        alerts: opts.n,
        objects: tonight.len(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn data() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/lsst")
    }

    fn opts(out: PathBuf, format: LsstFormat, version: Option<&str>) -> LsstOptions {
        LsstOptions {
            n: 40,
            night: "20251012".into(),
            out,
            tar: false,
            templates: data(),
            alerts_per_object: 4,
            seed: 11,
            format,
            schema_version: version.map(str::to_string),
        }
    }

    fn get<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
        let Value::Record(fields) = v else {
            return None;
        };
        match fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)? {
            Value::Union(_, inner) => Some(inner),
            v => Some(v),
        }
    }

    fn long(v: Option<&Value>) -> i64 {
        match v {
            Some(Value::Long(i)) => *i,
            other => panic!("not a long: {other:?}"),
        }
    }

    fn double(v: Option<&Value>) -> f64 {
        match v {
            Some(Value::Double(f)) => *f,
            other => panic!("not a double: {other:?}"),
        }
    }

    /// Decodes every file of a generated directory: (file name, file length, alert).
    fn read_night(dir: &Path, format: LsstFormat, version: &str) -> Vec<(String, usize, Value)> {
        let schema = Schema::parse_str(schema_text(version).expect("bundled")).expect("schema");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            let bytes = std::fs::read(&p).expect("read");
            let alert = match format {
                LsstFormat::Wire => {
                    assert_eq!(bytes[0], 0, "magic byte");
                    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                    assert_eq!(Some(id), schema_id(version));
                    apache_avro::from_avro_datum(&schema, &mut &bytes[5..], None).expect("datum")
                }
                LsstFormat::Container => {
                    let reader = apache_avro::Reader::new(&bytes[..]).expect("container");
                    assert_eq!(reader.writer_schema(), &schema);
                    let mut alerts: Vec<Value> = reader.map(|v| v.expect("decodes")).collect();
                    assert_eq!(alerts.len(), 1);
                    alerts.remove(0)
                }
            };
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            out.push((name, bytes.len(), alert));
        }
        out
    }

    #[test]
    fn schema_ids_are_major_times_100_plus_minor() {
        assert_eq!(schema_id("9.0"), Some(900));
        assert_eq!(schema_id("11.0"), Some(1100));
        assert_eq!(schema_id("7.4"), Some(704));
        assert_eq!(schema_id("x"), None);
        assert_eq!(LSST_SCHEMAS[0].0, "11.0");
    }

    #[test]
    fn day_obs_is_the_utc_date_twelve_hours_earlier() {
        // 2025-10-13 09:00 UTC belongs to dayObs 2025-10-12
        let mjd = 60_961.375;
        assert_eq!(yyyymmdd(day_obs(mjd)), 20251012);
        assert_eq!(yyyymmdd(day_obs(60_961.6)), 20251013);
        assert_eq!(yyyymmdd(0), 19700101);
    }

    #[test]
    fn a_wire_night_round_trips_with_realistic_packets() {
        let tmp = tempfile::tempdir().expect("tmp");
        let o = opts(tmp.path().join("night"), LsstFormat::Wire, None);
        let g = generate_lsst(&o).expect("generate");
        assert_eq!(g.alerts, 40);
        assert!(g.objects >= 2 && g.objects <= 10, "{} objects", g.objects);
        let alerts = read_night(&g.path, LsstFormat::Wire, "11.0");
        assert_eq!(alerts.len(), 40);
        assert_eq!(g.bytes, alerts.iter().map(|a| a.1 as u64).sum::<u64>());
        let mut ids = HashSet::new();
        let mut objects: HashMap<i64, usize> = HashMap::new();
        let (mut negative, mut with_history, mut with_forced) = (0, 0, 0);
        for (name, len, alert) in &alerts {
            assert!((80_000..=170_000).contains(len), "{name}: {len} bytes");
            let id = long(get(alert, "diaSourceId"));
            assert!(id > 0);
            assert_eq!(name, &format!("{id}.avro"));
            assert!(ids.insert(id), "duplicate {id}");
            let src = get(alert, "diaSource").expect("diaSource");
            assert_eq!(long(get(src, "diaSourceId")), id);
            let mjd = double(get(src, "midpointMjdTai"));
            assert_eq!(yyyymmdd(day_obs(mjd)), 20251012, "{mjd}");
            let Some(Value::String(b)) = get(src, "band") else {
                panic!("band")
            };
            assert!(["u", "g", "r", "i", "z", "y"].contains(&b.as_str()));
            let Some(Value::Float(flux)) = get(src, "psfFlux") else {
                panic!("psfFlux")
            };
            assert!(
                flux.is_finite() && flux.abs() > 100.0 && flux.abs() < 1e7,
                "{flux}"
            );
            negative += usize::from(*flux < 0.0);
            let object_id = long(get(src, "diaObjectId"));
            let obj = get(alert, "diaObject").expect("diaObject");
            assert_eq!(long(get(obj, "diaObjectId")), object_id);
            *objects.entry(object_id).or_default() += 1;
            if let Some(Value::Array(prv)) = get(alert, "prvDiaSources") {
                with_history += 1;
                assert!(!prv.is_empty() && prv.len() <= 40);
                for p in prv {
                    let t = double(get(p, "midpointMjdTai"));
                    assert!(t < mjd && t > mjd - 367.0, "{t} vs {mjd}");
                    assert_eq!(long(get(p, "diaObjectId")), object_id);
                }
            }
            if let Some(Value::Array(f)) = get(alert, "prvDiaForcedSources") {
                with_forced += 1;
                assert!(f.len() <= 60);
            }
            for kind in ["cutoutDifference", "cutoutScience", "cutoutTemplate"] {
                let Some(Value::Bytes(stamp)) = get(alert, kind) else {
                    panic!("{kind}")
                };
                assert!(
                    (28_000..=80_000).contains(&stamp.len()),
                    "{kind} {}",
                    stamp.len()
                );
                assert_eq!(stamp.len() % fits::BLOCK, 0);
                assert!(stamp.starts_with(b"SIMPLE  ="));
                assert!(Cutout::parse(stamp).is_some());
            }
        }
        assert!(negative > 0 && negative < 20, "{negative} negative fluxes");
        assert!(with_history > 10 && with_forced > 5);
        assert!(objects.values().any(|&n| n > 1), "objects repeat");
    }

    #[test]
    fn every_bundled_version_writes_container_files_into_a_tarball() {
        for (version, _) in LSST_SCHEMAS {
            let tmp = tempfile::tempdir().expect("tmp");
            let mut o = opts(
                tmp.path().join("night"),
                LsstFormat::Container,
                Some(version),
            );
            o.n = 5;
            let g = generate_lsst(&o).expect("generate");
            let alerts = read_night(&g.path, LsstFormat::Container, version);
            assert_eq!(alerts.len(), 5, "{version}");
            for (_, _, alert) in &alerts {
                let src = get(alert, "diaSource").expect("diaSource");
                let key = long(get(src, "diaSourceId"));
                let top = get(alert, "diaSourceId").or(get(alert, "alertId"));
                assert_eq!(long(top), key, "{version}");
                let mjd = double(get(src, "midpointMjdTai"));
                assert_eq!(yyyymmdd(day_obs(mjd)), 20251012, "{version}");
            }
            o.tar = true;
            o.out = tmp.path().to_path_buf();
            let g = generate_lsst(&o).expect("tarball");
            assert_eq!(g.path, tmp.path().join("lsst_20251012.tar.gz"));
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(&g.path).expect("open"));
            let names: Vec<String> = tar::Archive::new(gz)
                .entries()
                .expect("entries")
                .map(|e| {
                    e.expect("entry")
                        .path()
                        .expect("path")
                        .display()
                        .to_string()
                })
                .collect();
            assert_eq!(names.len(), 5);
            assert!(names.iter().all(|n| n.ends_with(".avro")));
        }
    }

    #[test]
    fn nights_do_not_share_ids_and_bad_options_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let ids = |night: &str| -> HashSet<i64> {
            let mut o = opts(tmp.path().join(night), LsstFormat::Wire, None);
            o.night = night.into();
            o.n = 5;
            let g = generate_lsst(&o).expect("generate");
            read_night(&g.path, LsstFormat::Wire, "11.0")
                .iter()
                .map(|(_, _, a)| long(get(a, "diaSourceId")))
                .collect()
        };
        assert!(ids("20251012").is_disjoint(&ids("20251013")));
        let bad = opts(tmp.path().join("x"), LsstFormat::Wire, Some("6.0"));
        assert!(matches!(generate_lsst(&bad), Err(GenError::Args(_))));
        let mut no_templates = opts(tmp.path().join("y"), LsstFormat::Wire, None);
        no_templates.templates =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf");
        let err = generate_lsst(&no_templates).expect_err("refused");
        assert!(err.to_string().contains("no Rubin template"), "{err}");
    }
}
