//! ZTF alert schemas and the bronze table schema.
//!
//! The ZTF alert schema changed over time (3.0 .. 4.02) by *adding* fields.
//! The bronze table schema is the union of every bundled writer schema: each
//! record keeps the packet's own field names, types and `doc` strings, so a
//! packet of any version maps onto it by name (fields a version lacks are null).

use std::collections::HashMap;

use iceberg::spec::{
    ListType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};
use serde_json::Value;

/// Bundled writer schemas, as embedded in real ZTF packets, newest first.
pub const BUNDLED_SCHEMAS: &[(&str, &str)] = &[
    ("4.02", include_str!("../schemas/ztf-4.02.avsc")),
    ("4.01", include_str!("../schemas/ztf-4.01.avsc")),
    ("3.3", include_str!("../schemas/ztf-3.3.avsc")),
    ("3.2", include_str!("../schemas/ztf-3.2.avsc")),
];

/// Names of the three cutout fields of a packet, with the short kind used in keys and columns.
pub const CUTOUTS: [(&str, &str); 3] = [
    ("cutoutScience", "science"),
    ("cutoutTemplate", "template"),
    ("cutoutDifference", "difference"),
];

/// Name of the partition column (UTC date of `candidate.jd`).
pub const NIGHT_COLUMN: &str = "night";

/// Julian date of the Unix epoch.
pub const JD_UNIX_EPOCH: f64 = 2_440_587.5;

/// Errors raised while reading a bundled or embedded Avro schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema text is not JSON.
    #[error("schema is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The schema uses a construct the bronze table cannot hold.
    #[error("unsupported Avro schema construct at {path}: {what}")]
    Unsupported {
        /// Dotted path of the field.
        path: String,
        /// What was found.
        what: String,
    },
    /// Two schema versions disagree on a field's type.
    #[error("field {path} has type {a} in one version and {b} in another")]
    Conflict {
        /// Dotted path of the field.
        path: String,
        /// First type.
        a: String,
        /// Second type.
        b: String,
    },
}

/// A primitive Avro type as it appears in ZTF schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    /// boolean
    Boolean,
    /// int (32 bit)
    Int,
    /// long (64 bit)
    Long,
    /// float (32 bit IEEE)
    Float,
    /// double (64 bit IEEE)
    Double,
    /// UTF-8 string
    String,
    /// raw bytes
    Bytes,
}

impl Prim {
    fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "boolean" => Prim::Boolean,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "string" => Prim::String,
            "bytes" => Prim::Bytes,
            _ => return None,
        })
    }

    fn iceberg(self) -> PrimitiveType {
        match self {
            Prim::Boolean => PrimitiveType::Boolean,
            Prim::Int => PrimitiveType::Int,
            Prim::Long => PrimitiveType::Long,
            Prim::Float => PrimitiveType::Float,
            Prim::Double => PrimitiveType::Double,
            Prim::String => PrimitiveType::String,
            Prim::Bytes => PrimitiveType::Binary,
        }
    }
}

/// The shape of a field in the merged ZTF schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A primitive value.
    Prim(Prim),
    /// A nested record.
    Record(Vec<FieldDef>),
    /// An array of items.
    Array(Box<Shape>),
}

/// One field of the merged ZTF schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// Field name as in the packet.
    pub name: String,
    /// The schema's `doc` string, if any.
    pub doc: Option<String>,
    /// Field shape.
    pub shape: Shape,
}

fn parse_shape(
    v: &Value,
    path: &str,
    names: &mut HashMap<String, Shape>,
) -> Result<Shape, SchemaError> {
    let unsupported = |what: String| SchemaError::Unsupported {
        path: path.to_string(),
        what,
    };
    match v {
        Value::String(s) => Prim::from_name(s)
            .map(Shape::Prim)
            .or_else(|| names.get(s.as_str()).cloned())
            .or_else(|| {
                names
                    .iter()
                    .find(|(k, _)| k.rsplit('.').next() == Some(s.as_str()))
                    .map(|(_, v)| v.clone())
            })
            .ok_or_else(|| unsupported(format!("unknown type {s}"))),
        Value::Array(branches) => {
            let non_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.as_str() != Some("null"))
                .collect();
            match non_null.as_slice() {
                [one] => parse_shape(one, path, names),
                _ => Err(unsupported(format!("union {v}"))),
            }
        }
        Value::Object(obj) => match obj.get("type").and_then(Value::as_str) {
            Some("record") => {
                let fields = obj
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| unsupported("record without fields".into()))?;
                let mut defs = Vec::with_capacity(fields.len());
                for f in fields {
                    let name = f
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| unsupported("field without name".into()))?;
                    let child_path = format!("{path}.{name}");
                    let ty = f
                        .get("type")
                        .ok_or_else(|| unsupported(format!("field {name} without type")))?;
                    defs.push(FieldDef {
                        name: name.to_string(),
                        doc: f.get("doc").and_then(Value::as_str).map(str::to_string),
                        shape: parse_shape(ty, &child_path, names)?,
                    });
                }
                let shape = Shape::Record(defs);
                if let Some(name) = obj.get("name").and_then(Value::as_str) {
                    let full = match obj.get("namespace").and_then(Value::as_str) {
                        Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
                        _ => name.to_string(),
                    };
                    names.insert(full, shape.clone());
                }
                Ok(shape)
            }
            Some("array") => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| unsupported("array without items".into()))?;
                Ok(Shape::Array(Box::new(parse_shape(items, path, names)?)))
            }
            Some(other) => match Prim::from_name(other) {
                Some(p) => Ok(Shape::Prim(p)),
                None => Err(unsupported(format!("type {other}"))),
            },
            None => Err(unsupported("object without type".into())),
        },
        other => Err(unsupported(format!("{other}"))),
    }
}

/// Parses an alert writer schema (JSON text) into its top-level fields.
pub fn parse_alert_schema(text: &str) -> Result<Vec<FieldDef>, SchemaError> {
    let v: Value = serde_json::from_str(text)?;
    match parse_shape(&v, "alert", &mut HashMap::new())? {
        Shape::Record(fields) => Ok(fields),
        other => Err(SchemaError::Unsupported {
            path: "alert".into(),
            what: format!("top level is {other:?}, not a record"),
        }),
    }
}

fn merge_fields(
    into: &mut Vec<FieldDef>,
    from: Vec<FieldDef>,
    path: &str,
) -> Result<(), SchemaError> {
    for f in from {
        match into.iter_mut().find(|g| g.name == f.name) {
            None => into.push(f),
            Some(g) => {
                if g.doc.is_none() {
                    g.doc = f.doc;
                }
                let child_path = format!("{path}.{}", f.name);
                merge_shape(&mut g.shape, f.shape, &child_path)?;
            }
        }
    }
    Ok(())
}

fn merge_shape(into: &mut Shape, from: Shape, path: &str) -> Result<(), SchemaError> {
    match (into, from) {
        (Shape::Record(a), Shape::Record(b)) => merge_fields(a, b, path),
        (Shape::Array(a), Shape::Array(b)) => merge_shape(a, *b, path),
        (Shape::Prim(a), Shape::Prim(b)) if *a == b => Ok(()),
        (a, b) => Err(SchemaError::Conflict {
            path: path.to_string(),
            a: format!("{a:?}"),
            b: format!("{b:?}"),
        }),
    }
}

/// The union of every bundled ZTF schema version, newest field order first.
pub fn merged_alert_fields() -> Result<Vec<FieldDef>, SchemaError> {
    let mut merged = Vec::new();
    for (_, text) in BUNDLED_SCHEMAS {
        merge_fields(&mut merged, parse_alert_schema(text)?, "alert")?;
    }
    Ok(merged)
}

struct Ids(i32);
impl Ids {
    fn next(&mut self) -> i32 {
        self.0 += 1;
        self.0
    }
}

fn to_iceberg_type(shape: &Shape, ids: &mut Ids) -> Type {
    match shape {
        Shape::Prim(p) => Type::Primitive(p.iceberg()),
        Shape::Record(fields) => Type::Struct(StructType::new(
            fields.iter().map(|f| to_iceberg_field(f, ids)).collect(),
        )),
        Shape::Array(item) => {
            let id = ids.next();
            let element = to_iceberg_type(item, ids);
            Type::List(ListType::new(
                NestedField::list_element(id, element, false).into(),
            ))
        }
    }
}

fn to_iceberg_field(f: &FieldDef, ids: &mut Ids) -> NestedFieldRef {
    let id = ids.next();
    let field = NestedField::optional(id, &f.name, to_iceberg_type(&f.shape, ids));
    match &f.doc {
        Some(doc) => field.with_doc(doc).into(),
        None => field.into(),
    }
}

fn doc_field(id: i32, name: &str, ty: PrimitiveType, doc: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(ty))
        .with_doc(doc)
        .into()
}

/// The Iceberg schema of `bronze.alerts`: the merged packet fields (cutouts
/// replaced by object URIs and file names), the night partition column and
/// ingestion columns.
pub fn bronze_alerts_schema() -> Result<Schema, SchemaError> {
    let mut ids = Ids(0);
    let mut fields: Vec<NestedFieldRef> = Vec::new();
    for f in merged_alert_fields()? {
        if CUTOUTS.iter().any(|(name, _)| *name == f.name) {
            continue;
        }
        if f.name == "candid" {
            let id = ids.next();
            let doc = f
                .doc
                .clone()
                .unwrap_or_else(|| "unique candidate id of this alert".into());
            fields.push(
                NestedField::required(id, "candid", Type::Primitive(PrimitiveType::Long))
                    .with_doc(doc)
                    .into(),
            );
            continue;
        }
        fields.push(to_iceberg_field(&f, &mut ids));
    }
    for (packet_field, kind) in CUTOUTS {
        let id = ids.next();
        fields.push(doc_field(
            id,
            &format!("cutout_{kind}_uri"),
            PrimitiveType::String,
            &format!("URI of the object holding the exact stampData bytes of {packet_field} (gzipped FITS); null when the packet had none"),
        ));
    }
    for (packet_field, kind) in CUTOUTS {
        let id = ids.next();
        fields.push(doc_field(
            id,
            &format!("cutout_{kind}_file_name"),
            PrimitiveType::String,
            &format!("{packet_field}.fileName as carried by the packet"),
        ));
    }
    let extra = [
        (
            NIGHT_COLUMN,
            PrimitiveType::Date,
            "observation night: UTC date of candidate.jd (partition column)",
        ),
        (
            "ingest_source",
            PrimitiveType::String,
            "where the packet was read: file path, or tarball path!member name",
        ),
        (
            "ingest_schema_version",
            PrimitiveType::String,
            "version attribute of the packet's own writer schema",
        ),
        (
            "ingest_run_id",
            PrimitiveType::String,
            "id of the ateda ingest run that added the row",
        ),
        (
            "ingested_at",
            PrimitiveType::Timestamptz,
            "when the row was ingested (UTC)",
        ),
    ];
    for (name, ty, doc) in extra {
        let id = ids.next();
        fields.push(doc_field(id, name, ty, doc));
    }
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| SchemaError::Unsupported {
            path: "alerts".into(),
            what: e.to_string(),
        })
}

/// Observation night (days since 1970-01-01, UTC) of a Julian date.
pub fn night_from_jd(jd: f64) -> Option<i32> {
    if !jd.is_finite() {
        return None;
    }
    let days = (jd - JD_UNIX_EPOCH).floor();
    if days < i32::MIN as f64 || days > i32::MAX as f64 {
        return None;
    }
    Some(days as i32)
}

/// Formats a day number (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn format_day(days: i32) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_has_every_version_field() {
        let merged = merged_alert_fields().expect("bundled schemas parse");
        let names: Vec<&str> = merged.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"fp_hists"));
        let Shape::Record(cand) = &merged
            .iter()
            .find(|f| f.name == "candidate")
            .expect("candidate")
            .shape
        else {
            panic!("candidate is a record")
        };
        assert_eq!(cand.len(), 103);
        assert!(cand.iter().any(|f| f.name == "drb"));
    }

    #[test]
    fn bronze_schema_replaces_cutouts_with_uris() {
        let s = bronze_alerts_schema().expect("schema");
        assert!(s.field_by_name("cutoutScience").is_none());
        assert!(s.field_by_name("cutout_science_uri").is_some());
        assert!(s.field_by_name("candid").expect("candid").required);
        let jd = s.field_by_name("candidate.jd").expect("jd");
        assert!(jd
            .doc
            .as_deref()
            .unwrap_or("")
            .to_lowercase()
            .contains("julian"));
    }

    #[test]
    fn nights() {
        assert_eq!(night_from_jd(2440587.5), Some(0));
        assert_eq!(format_day(0), "1970-01-01");
        // 2023-10-18 05:00 UTC
        let jd = 2460235.708;
        assert_eq!(format_day(night_from_jd(jd).expect("finite")), "2023-10-18");
        assert_eq!(night_from_jd(f64::NAN), None);
    }
}
