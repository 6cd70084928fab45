//! Fits an Avro value to a schema: fields matched by name (missing ones null or zero),
//! union branches chosen by the value's kind, numbers widened or narrowed to the field's
//! type. So a template read with one Rubin schema version, plus the generator's own field
//! values, can be written with any other version.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, Schema};
use apache_avro::types::Value;

/// Named types of a schema, by name.
pub type Names = HashMap<Name, Schema>;

/// The named types of `schema` (records defined inline at first use, referenced after).
pub fn names(schema: &Schema) -> Result<Names, String> {
    let rs = apache_avro::schema::ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
    Ok(rs
        .get_names()
        .iter()
        .map(|(n, s)| (n.clone(), (*s).clone()))
        .collect())
}

/// Follows references.
pub fn deref<'a>(schema: &'a Schema, names: &'a Names) -> &'a Schema {
    match schema {
        Schema::Ref { name } => names.get(name).map_or(schema, |s| deref(s, names)),
        s => s,
    }
}

/// The record schema of `schema`, seen through references and a nullable union.
pub fn record<'a>(schema: &'a Schema, names: &'a Names) -> Option<&'a RecordSchema> {
    match deref(schema, names) {
        Schema::Record(r) => Some(r),
        Schema::Union(u) => u.variants().iter().find_map(|v| record(v, names)),
        Schema::Array(a) => record(&a.items, names),
        _ => None,
    }
}

/// Whether `value` (not a union) can become a value of `schema`.
fn fits(schema: &Schema, value: &Value, names: &Names) -> bool {
    use Schema as S;
    use Value as V;
    matches!(
        (deref(schema, names), value),
        (S::Null, V::Null)
            | (S::Boolean, V::Boolean(_))
            | (
                S::Int | S::Long | S::TimestampMicros | S::TimestampMillis,
                V::Int(_) | V::Long(_) | V::TimestampMicros(_) | V::TimestampMillis(_)
            )
            | (S::Float | S::Double, V::Float(_) | V::Double(_))
            | (S::String | S::Bytes, V::String(_) | V::Bytes(_))
            | (S::Record(_), V::Record(_))
            | (S::Array(_), V::Array(_))
            | (S::Map(_), V::Map(_))
            | (S::Enum(_), V::Enum(..) | V::String(_))
            | (S::Fixed(_), V::Fixed(..))
    )
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i64::from(*i)),
        Value::Long(i) | Value::TimestampMicros(i) | Value::TimestampMillis(i) => Some(*i),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(f64::from(*f)),
        Value::Double(f) => Some(*f),
        _ => None,
    }
}

/// `value` made a valid value of `schema` (use `Value::Null` for "absent").
pub fn conform(schema: &Schema, value: Value, names: &Names) -> Value {
    let value = match value {
        Value::Union(_, inner) => *inner,
        v => v,
    };
    match deref(schema, names) {
        Schema::Union(u) => {
            let variants = u.variants();
            let pick = if matches!(value, Value::Null) {
                None
            } else {
                variants.iter().position(|s| fits(s, &value, names))
            };
            let null = variants.iter().position(|s| matches!(s, Schema::Null));
            match (pick, null) {
                (Some(i), _) => {
                    Value::Union(i as u32, Box::new(conform(&variants[i], value, names)))
                }
                (None, Some(i)) => Value::Union(i as u32, Box::new(Value::Null)),
                (None, None) => match variants.first() {
                    Some(s) => Value::Union(0, Box::new(conform(s, Value::Null, names))),
                    None => Value::Null,
                },
            }
        }
        Schema::Record(r) => Value::Record(conform_record(r, value, names)),
        Schema::Array(a) => match value {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| conform(&a.items, v, names))
                    .collect(),
            ),
            _ => Value::Array(Vec::new()),
        },
        Schema::Map(m) => match value {
            Value::Map(items) => Value::Map(
                items
                    .into_iter()
                    .map(|(k, v)| (k, conform(&m.types, v, names)))
                    .collect(),
            ),
            _ => Value::Map(HashMap::new()),
        },
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(matches!(value, Value::Boolean(true))),
        Schema::Int => Value::Int(
            as_i64(&value).map_or(0, |i| i.clamp(i32::MIN.into(), i32::MAX.into()) as i32),
        ),
        Schema::Long => Value::Long(as_i64(&value).unwrap_or(0)),
        Schema::TimestampMicros => Value::TimestampMicros(as_i64(&value).unwrap_or(0)),
        Schema::TimestampMillis => Value::TimestampMillis(as_i64(&value).unwrap_or(0)),
        Schema::Float => Value::Float(as_f64(&value).unwrap_or(0.0) as f32),
        Schema::Double => Value::Double(as_f64(&value).unwrap_or(0.0)),
        Schema::String => match value {
            Value::String(s) => Value::String(s),
            Value::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
            _ => Value::String(String::new()),
        },
        Schema::Bytes => match value {
            Value::Bytes(b) => Value::Bytes(b),
            Value::String(s) => Value::Bytes(s.into_bytes()),
            _ => Value::Bytes(Vec::new()),
        },
        Schema::Enum(e) => {
            let symbol = match &value {
                Value::Enum(_, s) | Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            let i = symbol
                .and_then(|s| e.symbols.iter().position(|x| x == s))
                .unwrap_or(0);
            Value::Enum(i as u32, e.symbols.get(i).cloned().unwrap_or_default())
        }
        Schema::Fixed(f) => match value {
            Value::Fixed(n, b) if n == f.size => Value::Fixed(n, b),
            _ => Value::Fixed(f.size, vec![0; f.size]),
        },
        _ => value,
    }
}

/// The fields of `value` (a record, or absent) made the fields of `r`, in its order.
pub fn conform_record(r: &RecordSchema, value: Value, names: &Names) -> Vec<(String, Value)> {
    let mut given = match value {
        Value::Record(f) => f,
        _ => Vec::new(),
    };
    let same_order = given.len() == r.fields.len()
        && given.iter().zip(&r.fields).all(|((n, _), f)| *n == f.name);
    if same_order {
        return given
            .into_iter()
            .zip(&r.fields)
            .map(|((n, v), f)| (n, conform(&f.schema, v, names)))
            .collect();
    }
    r.fields
        .iter()
        .map(|f| {
            let v = given
                .iter_mut()
                .find(|(n, _)| *n == f.name)
                .map_or(Value::Null, |(_, v)| std::mem::replace(v, Value::Null));
            (f.name.clone(), conform(&f.schema, v, names))
        })
        .collect()
}

/// A record of one schema with most fields fixed: each `make` clones the fixed fields and
/// sets the given ones.
#[derive(Debug, Clone)]
pub struct Stencil {
    schema: RecordSchema,
    base: Vec<(String, Value)>,
}

impl Stencil {
    /// A stencil of record schema `r` whose fixed fields come from `base` (a record value
    /// of any version, or `Value::Null`).
    pub fn new(r: &RecordSchema, base: Value, names: &Names) -> Stencil {
        Stencil {
            schema: r.clone(),
            base: conform_record(r, base, names),
        }
    }

    /// The record with `fields` set (those the schema lacks are ignored).
    pub fn make(&self, fields: Vec<(&str, Value)>, names: &Names) -> Value {
        let mut out = self.base.clone();
        for (name, v) in fields {
            if let Some(&i) = self.schema.lookup.get(name) {
                out[i].1 = conform(&self.schema.fields[i].schema, v, names);
            }
        }
        Value::Record(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type": "record", "name": "a", "fields": [
        {"name": "id", "type": "long"},
        {"name": "flux", "type": ["null", "float"]},
        {"name": "band", "type": ["null", "string"]},
        {"name": "src", "type": {"type": "record", "name": "s", "fields": [{"name": "x", "type": "int"}]}},
        {"name": "prv", "type": ["null", {"type": "array", "items": "s"}]}
    ]}"#;

    #[test]
    fn values_of_another_shape_are_made_valid() {
        let schema = Schema::parse_str(SCHEMA).expect("schema");
        let names = names(&schema).expect("names");
        let given = Value::Record(vec![
            ("band".into(), Value::String("r".into())),
            ("flux".into(), Value::Double(2.5)),
            ("extra".into(), Value::Boolean(true)),
            (
                "prv".into(),
                Value::Array(vec![Value::Record(vec![("x".into(), Value::Long(4))])]),
            ),
        ]);
        let v = conform(&schema, given, &names);
        assert!(v.validate(&schema), "{v:?}");
        let Value::Record(f) = v else {
            panic!("record")
        };
        assert_eq!(f[0], ("id".into(), Value::Long(0)));
        assert_eq!(f[1].1, Value::Union(1, Box::new(Value::Float(2.5))));
        assert_eq!(f[2].1, Value::Union(1, Box::new(Value::String("r".into()))));
        let r = record(&schema, &names).expect("record");
        let st = Stencil::new(r, Value::Null, &names);
        let made = st.make(vec![("id", Value::Int(7)), ("nope", Value::Null)], &names);
        assert!(made.validate(&schema));
    }
}
