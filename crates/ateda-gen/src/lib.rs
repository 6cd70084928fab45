//! Synthetic nights for benchmarks and tests, made from real packets.
//!
//! ZTF ([`generate`]): each synthetic alert is a real template packet transcoded with its own
//! writer schema, with a fresh unique `candid`, an `objectId` drawn from a
//! pool (objects repeat across alerts, as in a real night), and every `jd`
//! shifted so the alert falls inside the requested night (history shifted
//! with it). Stamps and all other fields are the template's.
//!
//! Rubin/LSST ([`generate_lsst`]): alerts written with a bundled Rubin schema from a real
//! template packet's values, with their own ids, times, fluxes, histories and resized
//! FITS cutouts (see the `lsst` module).

#![deny(missing_docs)]

mod lsst;
mod transcode;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ateda_decode::ocf::parse_container;
pub use lsst::{generate_lsst, schema_id, LsstFormat, LsstOptions, LSST_SCHEMAS};
pub use transcode::Patch;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Reading templates or writing output failed.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A template cannot be used.
    #[error("template {path}: {reason}")]
    Template {
        /// Template file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Bad arguments.
    #[error("{0}")]
    Args(String),
    /// A generated alert does not encode with its schema (a bug of the generator).
    #[error("encoding an alert: {0}")]
    Encode(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
    move |source| GenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A template packet: its header (everything before the data block) and its datum.
struct Template {
    schema_text: Vec<u8>,
    shifter: transcode::TimeShifter,
    datum: Vec<u8>,
    jd: f64,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of alerts.
    pub n: usize,
    /// Night as `YYYYMMDD`.
    pub night: String,
    /// Output directory (one file per alert) or tarball path / directory (with `tar`).
    pub out: PathBuf,
    /// Write `ztf_public_YYYYMMDD.tar.gz` instead of files.
    pub tar: bool,
    /// Directory of template packets (searched recursively for `.avro`).
    pub templates: PathBuf,
    /// Alerts per object on average.
    pub alerts_per_object: usize,
    /// RNG seed.
    pub seed: u64,
    /// Also use a drifted twin of every template (its writer schema gains a field at the
    /// top level and in `candidate`): about half the alerts then carry fields the bundled
    /// schemas lack, so the night has twice as many writer schemas.
    pub drift_extra_fields: bool,
}

/// Summary of a generated night.
#[derive(Debug)]
pub struct Generated {
    /// Where it was written.
    pub path: PathBuf,
    /// Alerts written.
    pub alerts: usize,
    /// Distinct objects.
    pub objects: usize,
    /// Bytes of Avro written (before compression).
    pub bytes: u64,
}

/// SplitMix64: a tiny deterministic generator (no dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Days since 1970-01-01 of `YYYYMMDD`.
pub fn parse_night(night: &str) -> Result<i32, GenError> {
    let bad = || GenError::Args(format!("night {night:?} is not YYYYMMDD"));
    if night.len() != 8 || !night.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let y: i64 = night[..4].parse().map_err(|_| bad())?;
    let m: i64 = night[4..6].parse().map_err(|_| bad())?;
    let d: i64 = night[6..].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // days-from-civil (Howard Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let out = i32::try_from(days).map_err(|_| bad())?;
    if ateda_schema::format_day(out).replace('-', "") != night {
        return Err(bad());
    }
    Ok(out)
}

/// The `.avro` files under `dir` (recursively), sorted.
fn avro_files(dir: &Path) -> Result<Vec<PathBuf>, GenError> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io(&d))? {
            let p = e.map_err(io(&d))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "avro") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn load_templates(dir: &Path, drift: bool) -> Result<Vec<Template>, GenError> {
    let files = avro_files(dir)?;
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        let bad = |reason: String| GenError::Template {
            path: f.clone(),
            reason,
        };
        let c = parse_container(&bytes).map_err(|e| bad(e.to_string()))?;
        let shifter = transcode::TimeShifter::compile(c.schema).map_err(bad)?;
        let twin = if drift {
            Some((
                transcode::drifted_schema(c.schema).map_err(bad)?,
                transcode::TimeShifter::compile_with(c.schema, true).map_err(bad)?,
            ))
        } else {
            None
        };
        for block in &c.blocks {
            let mut buf: &[u8] = &block.data;
            for _ in 0..block.count {
                let start = buf;
                let jd = shifter.skip_and_jd(&mut buf).map_err(bad)?;
                let len = start.len() - buf.len();
                out.push(Template {
                    schema_text: c.schema.to_vec(),
                    shifter: shifter.clone(),
                    datum: start[..len].to_vec(),
                    jd,
                });
                if let Some((schema, drifted)) = &twin {
                    out.push(Template {
                        schema_text: schema.clone(),
                        shifter: drifted.clone(),
                        datum: start[..len].to_vec(),
                        jd,
                    });
                }
            }
        }
    }
    if out.is_empty() {
        return Err(GenError::Args(format!(
            "no .avro template packets under {}",
            dir.display()
        )));
    }
    Ok(out)
}

fn object_id(night: i32, index: u64) -> String {
    let year = ateda_schema::format_day(night)[2..4].to_string();
    let mut letters = [b'a'; 7];
    let mut x = index;
    for slot in letters.iter_mut().rev() {
        *slot = b'a' + (x % 26) as u8;
        x /= 26;
    }
    format!("ZTF{year}{}", String::from_utf8_lossy(&letters))
}

fn container(schema: &[u8], datum: &[u8], sync: [u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(datum.len() + schema.len() + 64);
    out.extend_from_slice(b"Obj\x01");
    transcode::write_long(&mut out, 2);
    for (k, v) in [
        (&b"avro.schema"[..], schema),
        (&b"avro.codec"[..], &b"null"[..]),
    ] {
        transcode::write_long(&mut out, k.len() as i64);
        out.extend_from_slice(k);
        transcode::write_long(&mut out, v.len() as i64);
        out.extend_from_slice(v);
    }
    transcode::write_long(&mut out, 0);
    out.extend_from_slice(&sync);
    transcode::write_long(&mut out, 1);
    transcode::write_long(&mut out, datum.len() as i64);
    out.extend_from_slice(datum);
    out.extend_from_slice(&sync);
    out
}

/// Where a generated night goes: one file per alert in a directory, or members of one
/// `.tar.gz`.
struct Sink {
    path: PathBuf,
    tar: Option<tar::Builder<flate2::write::GzEncoder<BufWriter<File>>>>,
}

impl Sink {
    /// `out` is the directory, or with `tar` a directory (the tarball is `tar_name` in
    /// it) or a path ending in `.tar.gz`.
    fn open(out: &Path, tar: bool, tar_name: &str) -> Result<Sink, GenError> {
        let path = if tar && !out.to_string_lossy().ends_with(".tar.gz") {
            out.join(tar_name)
        } else {
            out.to_path_buf()
        };
        let dir = if tar {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            path.clone()
        };
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let tar = if tar {
            let f = File::create(&path).map_err(io(&path))?;
            let gz = flate2::write::GzEncoder::new(
                BufWriter::with_capacity(1 << 20, f),
                flate2::Compression::default(),
            );
            Some(tar::Builder::new(gz))
        } else {
            None
        };
        Ok(Sink { path, tar })
    }

    /// Writes one alert file.
    fn put(&mut self, name: &str, file: &[u8]) -> Result<(), GenError> {
        match self.tar.as_mut() {
            Some(t) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(file.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_cksum();
                t.append_data(&mut h, name, file).map_err(io(&self.path))
            }
            None => {
                let p = self.path.join(name);
                std::fs::write(&p, file).map_err(io(&p))
            }
        }
    }

    /// Finishes the tarball, if any; returns the output path.
    fn finish(self) -> Result<PathBuf, GenError> {
        if let Some(t) = self.tar {
            let gz = t.into_inner().map_err(io(&self.path))?;
            let mut w = gz.finish().map_err(io(&self.path))?;
            w.flush().map_err(io(&self.path))?;
        }
        Ok(self.path)
    }
}

/// Generates a synthetic night.
pub fn generate(opts: &GenOptions) -> Result<Generated, GenError> {
    let night = parse_night(&opts.night)?;
    let templates = load_templates(&opts.templates, opts.drift_extra_fields)?;
    let mut rng = Rng(opts.seed);
    let objects = (opts.n / opts.alerts_per_object.max(1)).max(1) as u64;
    // Observations run from about 03:00 to 13:00 UTC at Palomar.
    let night_start_jd = f64::from(night) + ateda_schema::JD_UNIX_EPOCH + 0.125;
    let base_candid: i64 = 5_000_000_000_000_000_000 + i64::from(night) * 100_000_000;
    let mut bytes = 0u64;
    let mut seen_objects = std::collections::HashSet::new();

    let mut sink = Sink::open(
        &opts.out,
        opts.tar,
        &format!("ztf_public_{}.tar.gz", opts.night),
    )?;
    let mut patched = Vec::new();
    for i in 0..opts.n {
        let t = &templates[rng.below(templates.len() as u64) as usize];
        let obj = rng.below(objects);
        seen_objects.insert(obj);
        let candid = base_candid + i as i64;
        let jd = night_start_jd + 0.42 * (i as f64 + 0.5) / opts.n as f64;
        let patch = Patch {
            object_id: object_id(night, obj),
            candid,
            jd_shift: jd - t.jd,
        };
        patched.clear();
        t.shifter
            .transcode(&t.datum, &patch, &mut patched)
            .map_err(|reason| GenError::Template {
                path: PathBuf::from("<template>"),
                reason,
            })?;
        let mut sync = [0u8; 16];
        sync[..8].copy_from_slice(&rng.next().to_le_bytes());
        sync[8..].copy_from_slice(&rng.next().to_le_bytes());
        let file = container(&t.schema_text, &patched, sync);
        bytes += file.len() as u64;
        sink.put(&format!("{candid}.avro"), &file)?;
    }
    let path = sink.finish()?;
    Ok(Generated {
        path,
        alerts: opts.n,
        objects: seen_objects.len(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nights_parse() {
        assert_eq!(parse_night("19700101").ok(), Some(0));
        assert_eq!(
            ateda_schema::format_day(parse_night("20231012").unwrap_or(0)),
            "2023-10-12"
        );
        assert!(parse_night("20231332").is_err());
        assert!(parse_night("2023101").is_err());
        assert!(parse_night("20230229").is_err());
    }

    #[test]
    fn object_ids_look_like_ztf() {
        assert_eq!(object_id(19642, 0), "ZTF23aaaaaaa");
        assert_eq!(object_id(19642, 27), "ZTF23aaaaabb");
    }

    #[test]
    fn drifted_alerts_carry_the_extra_fields_and_everything_else() {
        use apache_avro::types::Value;
        let tmp = tempfile::tempdir().expect("tmp");
        let templates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf");
        let opts = GenOptions {
            n: 60,
            night: "20231012".into(),
            out: tmp.path().join("night"),
            tar: false,
            templates,
            alerts_per_object: 3,
            seed: 7,
            drift_extra_fields: true,
        };
        let g = generate(&opts).expect("generate");
        assert_eq!(g.alerts, 60);
        let (mut drifted, mut plain) = (0, 0);
        for e in std::fs::read_dir(&g.path).expect("dir") {
            let bytes = std::fs::read(e.expect("entry").path()).expect("read");
            let reader = apache_avro::Reader::new(&bytes[..]).expect("a valid container");
            for v in reader {
                let Value::Record(top) = v.expect("datum decodes with its writer schema") else {
                    panic!("record")
                };
                let get = |fields: &[(String, Value)], n: &str| {
                    fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
                };
                let Some(Value::Record(cand)) = get(&top, "candidate") else {
                    panic!("candidate")
                };
                let want = Value::Union(1, Box::new(Value::Double(0.5)));
                match get(&top, transcode::DRIFT_FIELD) {
                    Some(v) => {
                        drifted += 1;
                        assert_eq!(v, want);
                        assert_eq!(get(&cand, transcode::DRIFT_FIELD), Some(want));
                    }
                    None => {
                        plain += 1;
                        assert!(get(&cand, transcode::DRIFT_FIELD).is_none());
                    }
                }
                // the rest of the packet is intact: stamps present, jd inside the night
                let stamp = match get(&top, "cutoutScience") {
                    Some(Value::Union(_, inner)) => *inner,
                    other => other.expect("cutoutScience"),
                };
                assert!(matches!(stamp, Value::Record(_)), "{stamp:?}");
                let Some(Value::Double(jd)) = get(&cand, "jd") else {
                    panic!("jd")
                };
                assert_eq!(
                    ateda_schema::format_day(ateda_schema::night_from_jd(jd).expect("jd")),
                    "2023-10-12"
                );
            }
        }
        assert!(
            drifted > 10 && plain > 10,
            "{drifted} drifted, {plain} plain"
        );
    }
}
