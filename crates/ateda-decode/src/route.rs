//! Which survey a member belongs to, read from its first bytes: ZTF and Rubin packets can
//! be mixed freely in one directory or tarball.
//!
//! - A wire-format packet (`0x00`, schema id, datum) belongs to the survey that ships
//!   that format ([`Survey::wire_format`]).
//! - A container belongs to the survey its writer schema's record name names
//!   ([`Survey::of_record_name`]: `ztf.alert`, `lsst.v11_0.alert`), read from the header
//!   only.
//! - Anything else goes to the first survey, whose decoder says what is wrong with it.

use ateda_schema::Survey;

use crate::ocf::header_schema;
use crate::wire::parse_wire;

/// Routes members to surveys; remembers the last writer schema seen, as a night's
/// packets mostly share one.
#[derive(Debug, Clone)]
pub struct Router {
    surveys: Vec<Survey>,
    last: Option<(Vec<u8>, usize)>,
}

#[derive(serde::Deserialize)]
struct Named {
    name: Option<String>,
    namespace: Option<String>,
}

impl Router {
    /// A router over these surveys (the first is the default).
    pub fn new(surveys: &[Survey]) -> Router {
        Router {
            surveys: surveys.to_vec(),
            last: None,
        }
    }

    /// The index (into the surveys given) of the survey a member belongs to.
    pub fn route(&mut self, bytes: &[u8]) -> usize {
        if parse_wire(bytes).is_some() {
            return self.surveys.iter().position(|s| s.wire_format).unwrap_or(0);
        }
        let Ok(schema) = header_schema(bytes) else {
            return 0;
        };
        if let Some((raw, i)) = &self.last {
            if raw.as_slice() == schema {
                return *i;
            }
        }
        let i = record_name(schema)
            .and_then(|name| {
                let survey = Survey::of_record_name(&name)?;
                self.surveys.iter().position(|s| s.name == survey.name)
            })
            .unwrap_or(0);
        self.last = Some((schema.to_vec(), i));
        i
    }
}

/// The full name of a schema's top-level record, if the text says.
fn record_name(schema: &[u8]) -> Option<String> {
    let named: Named = serde_json::from_slice(schema).ok()?;
    let name = named.name?;
    Some(match named.namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ateda_schema::{lsst::LSST, ztf::ZTF};

    fn container(schema: &str) -> Vec<u8> {
        let mut v = b"Obj\x01".to_vec();
        v.push(2); // one metadata entry
        let key = b"avro.schema";
        v.push((key.len() * 2) as u8);
        v.extend_from_slice(key);
        v.extend(crate::primitives::encode_long(schema.len() as i64));
        v.extend_from_slice(schema.as_bytes());
        v.push(0);
        v.extend([0u8; 16]);
        v
    }

    #[test]
    fn routes_by_record_name_and_wire_format() {
        let mut r = Router::new(&[ZTF, LSST]);
        assert_eq!(
            r.route(&container(
                r#"{"type":"record","name":"alert","namespace":"ztf","fields":[]}"#
            )),
            0
        );
        assert_eq!(
            r.route(&container(
                r#"{"type":"record","name":"lsst.v9_0.alert","fields":[]}"#
            )),
            1
        );
        assert_eq!(
            r.route(&container(
                r#"{"type":"record","name":"alert","namespace":"lsst.v11_0","fields":[]}"#
            )),
            1
        );
        assert_eq!(
            r.route(&container(
                r#"{"type":"record","name":"other","fields":[]}"#
            )),
            0
        );
        assert_eq!(r.route(&[0, 0, 0, 4, 0x4c, 1, 2]), 1);
        assert_eq!(r.route(b"garbage"), 0);
        assert_eq!(r.route(&container("not json")), 0);
    }
}
