//! A writer schema, as embedded in an Avro container header, parsed safely and reduced to
//! the shapes the bronze table can hold.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema};
use apache_avro::Schema;

use crate::SchemaError;

/// A primitive value type (Avro type, or logical type, that a bronze column holds).
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
    /// UTF-8 string (also Avro enums, stored by symbol, and `uuid` strings)
    String,
    /// raw bytes
    Bytes,
    /// `date` logical type (days since 1970-01-01)
    Date,
    /// `timestamp-micros` logical type (microseconds since the epoch, UTC)
    TimestampMicros,
}

impl Prim {
    /// The Avro spelling, for messages.
    pub fn avro_name(self) -> &'static str {
        match self {
            Prim::Boolean => "boolean",
            Prim::Int => "int",
            Prim::Long => "long",
            Prim::Float => "float",
            Prim::Double => "double",
            Prim::String => "string",
            Prim::Bytes => "bytes",
            Prim::Date => "date",
            Prim::TimestampMicros => "timestamp-micros",
        }
    }
}

/// The shape of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A primitive value.
    Prim(Prim),
    /// A nested record.
    Record(Vec<FieldDef>),
    /// An array of items.
    Array(Box<Ty>),
    /// A map from strings to values.
    Map(Box<Ty>),
}

impl Shape {
    /// Short description for messages (`record`, `array<long>`, `int`).
    pub fn describe(&self) -> String {
        match self {
            Shape::Prim(p) => p.avro_name().to_string(),
            Shape::Record(_) => "record".to_string(),
            Shape::Array(t) => format!("array<{}>", t.shape.describe()),
            Shape::Map(t) => format!("map<{}>", t.shape.describe()),
        }
    }
}

/// A type: a shape, and whether null is allowed (an Avro union with `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ty {
    /// The non-null shape.
    pub shape: Shape,
    /// True for a union with `null`.
    pub nullable: bool,
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// Field name as in the packet.
    pub name: String,
    /// The schema's `doc` string, if any.
    pub doc: Option<String>,
    /// Field type.
    pub ty: Ty,
}

/// A parsed writer schema: the Avro schema (for decoding), its version and its fields.
#[derive(Debug, Clone)]
pub struct WriterSchema {
    /// The Avro schema as apache-avro parsed it.
    pub avro: Schema,
    /// The `version` attribute of the top-level record, else the last part of its
    /// namespace (`lsst.v9_0` -> `9.0`), else `unknown`.
    pub version: String,
    /// Top-level fields.
    pub fields: Vec<FieldDef>,
}

/// Parses an alert writer schema (JSON text).
///
/// apache-avro 0.21 panics (an `unwrap`) on an invalid type name, so names are checked
/// first; the parse itself also runs under `catch_unwind`, so no damaged header can take
/// the ingest down.
pub fn parse_writer_schema(text: &str) -> Result<WriterSchema, SchemaError> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::Invalid(format!("schema is not JSON: {e}")))?;
    check_names(&json)?;
    let avro = match std::panic::catch_unwind(|| Schema::parse_str(text)) {
        Ok(Ok(schema)) => schema,
        Ok(Err(e)) => return Err(SchemaError::Invalid(format!("schema does not parse: {e}"))),
        Err(_) => {
            return Err(SchemaError::Invalid(
                "schema does not parse (the Avro schema parser gave up on it)".into(),
            ))
        }
    };
    let Schema::Record(record) = &avro else {
        return Err(SchemaError::Invalid(
            "top-level writer schema is not a record".into(),
        ));
    };
    let version = version_of(record);
    let mut names = Names::default();
    let fields = record_fields(record, "", &mut names)?;
    Ok(WriterSchema {
        avro,
        version,
        fields,
    })
}

fn version_of(record: &RecordSchema) -> String {
    if let Some(v) = record.attributes.get("version") {
        return match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    let last = record
        .name
        .namespace
        .as_deref()
        .and_then(|ns| ns.rsplit('.').next())
        .unwrap_or("unknown");
    // Rubin's `vMAJOR_MINOR` reads as the version it names.
    match last
        .strip_prefix('v')
        .and_then(|v| v.split_once('_'))
        .filter(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit())
        }) {
        Some((major, minor)) => format!("{major}.{minor}"),
        None => last.to_string(),
    }
}

/// Every `name` of a schema node (a JSON object with a `type`) must be an Avro name:
/// dot-separated parts of `[A-Za-z_][A-Za-z0-9_]*`.
fn check_names(v: &serde_json::Value) -> Result<(), SchemaError> {
    match v {
        serde_json::Value::Object(map) => {
            if map.contains_key("type") {
                if let Some(name) = map.get("name") {
                    let ok = name.as_str().is_some_and(|n| {
                        n.split('.').all(|part| {
                            let mut chars = part.chars();
                            chars
                                .next()
                                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                    });
                    if !ok {
                        return Err(SchemaError::Invalid(format!(
                            "schema has an invalid Avro name {name}"
                        )));
                    }
                }
            }
            map.values().try_for_each(check_names)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_names),
        _ => Ok(()),
    }
}

/// Named types met so far while walking a schema (definitions come before references).
#[derive(Default)]
pub struct Names(HashMap<String, Schema>);

impl Names {
    /// Remembers a named record so later references resolve.
    pub fn register(&mut self, schema: &Schema) {
        let name = match schema {
            Schema::Record(r) => &r.name,
            Schema::Enum(e) => &e.name,
            Schema::Fixed(f) => &f.name,
            _ => return,
        };
        self.0.insert(name.name.clone(), schema.clone());
        self.0.insert(name.fullname(None), schema.clone());
    }

    /// Follows a named-type reference (other schemas are returned as they are).
    pub fn resolve<'a>(&'a self, schema: &'a Schema, path: &str) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => self
                .lookup(name)
                .ok_or_else(|| format!("{}: unknown named type {}", display(path), name.name)),
            other => Ok(other),
        }
    }

    fn lookup(&self, name: &Name) -> Option<&Schema> {
        self.0
            .get(&name.fullname(None))
            .or_else(|| self.0.get(&name.name))
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "(top level)"
    } else {
        path
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn record_fields(
    record: &RecordSchema,
    path: &str,
    names: &mut Names,
) -> Result<Vec<FieldDef>, SchemaError> {
    record
        .fields
        .iter()
        .map(|f| {
            let child = join(path, &f.name);
            Ok(FieldDef {
                name: f.name.clone(),
                doc: f.doc.clone(),
                ty: ty_of(&f.schema, &child, names)?,
            })
        })
        .collect()
}

/// The bronze type of an Avro schema node at `path`.
pub fn ty_of(schema: &Schema, path: &str, names: &mut Names) -> Result<Ty, SchemaError> {
    names.register(schema);
    let unsupported = |what: String| SchemaError::Unsupported {
        path: display(path).to_string(),
        what,
    };
    let schema = names
        .resolve(schema, path)
        .map_err(SchemaError::Invalid)?
        .clone();
    let prim = |p| {
        Ok(Ty {
            shape: Shape::Prim(p),
            nullable: false,
        })
    };
    match &schema {
        Schema::Boolean => prim(Prim::Boolean),
        Schema::Int => prim(Prim::Int),
        Schema::Long => prim(Prim::Long),
        Schema::Float => prim(Prim::Float),
        Schema::Double => prim(Prim::Double),
        Schema::String | Schema::Uuid | Schema::Enum(_) => prim(Prim::String),
        Schema::Bytes => prim(Prim::Bytes),
        Schema::Date => prim(Prim::Date),
        Schema::TimestampMicros => prim(Prim::TimestampMicros),
        Schema::Record(r) => Ok(Ty {
            shape: Shape::Record(record_fields(r, path, names)?),
            nullable: false,
        }),
        Schema::Array(a) => Ok(Ty {
            shape: Shape::Array(Box::new(ty_of(&a.items, &format!("{path}[]"), names)?)),
            nullable: false,
        }),
        Schema::Map(m) => Ok(Ty {
            shape: Shape::Map(Box::new(ty_of(&m.types, &format!("{path}{{}}"), names)?)),
            nullable: false,
        }),
        Schema::Union(u) => {
            let branches = u.variants();
            let nullable = branches.iter().any(|b| matches!(b, Schema::Null));
            let non_null: Vec<&Schema> = branches
                .iter()
                .filter(|b| !matches!(b, Schema::Null))
                .collect();
            match non_null.as_slice() {
                [one] => Ok(Ty {
                    nullable,
                    ..ty_of(one, path, names)?
                }),
                [] => Err(unsupported("null (a field that can only be null)".into())),
                _ => Err(unsupported(format!(
                    "union of {} non-null types",
                    non_null.len()
                ))),
            }
        }
        Schema::Null => Err(unsupported("null (a field that can only be null)".into())),
        other => Err(unsupported(format!("{other:?}").to_lowercase())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_maps_enums_and_references() {
        let text = r#"{"type":"record","name":"a","namespace":"lsst.v9_0","fields":[
            {"name":"id","type":"long","doc":"the key"},
            {"name":"src","type":{"type":"record","name":"src","fields":[
                {"name":"x","type":["null","float"]},
                {"name":"band","type":{"type":"enum","name":"B","symbols":["g","r"]}}]}},
            {"name":"prv","type":["null",{"type":"array","items":"src"}]},
            {"name":"tags","type":{"type":"map","values":["null","int"]}},
            {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#;
        let w = parse_writer_schema(text).expect("parses");
        assert_eq!(w.version, "9.0");
        assert_eq!(w.fields.len(), 5);
        assert_eq!(w.fields[0].doc.as_deref(), Some("the key"));
        let Shape::Array(item) = &w.fields[2].ty.shape else {
            panic!("prv is an array")
        };
        assert!(w.fields[2].ty.nullable);
        assert!(matches!(&item.shape, Shape::Record(f) if f.len() == 2));
        assert_eq!(w.fields[3].ty.shape.describe(), "map<int>");
        assert_eq!(w.fields[4].ty.shape, Shape::Prim(Prim::TimestampMicros));
    }

    #[test]
    fn damaged_schemas_are_errors_not_panics() {
        for text in [
            "",
            "{",
            "[]",
            r#"{"type":"record","name":"1bad","fields":[]}"#,
            r#"{"type":"record","name":"a","fields":[{"name":"x","type":"nosuch"}]}"#,
            r#""long""#,
        ] {
            assert!(parse_writer_schema(text).is_err(), "{text}");
        }
        let two = r#"{"type":"record","name":"a","fields":[{"name":"x","type":["int","string"]}]}"#;
        let e = parse_writer_schema(two).expect_err("union of two types");
        assert!(e.to_string().contains("x: unsupported"), "{e}");
    }
}
