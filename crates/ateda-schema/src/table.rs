//! The bootstrap Iceberg schema of a survey's alerts table, and the one rule that turns a
//! writer type into an Iceberg type.

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};

use crate::avro::{parse_writer_schema, FieldDef, Prim, Shape, Ty};
use crate::columns;
use crate::survey::{StampLayout, Survey};
use crate::SchemaError;

/// The Iceberg type holding values of this primitive.
pub fn iceberg_primitive(p: Prim) -> PrimitiveType {
    match p {
        Prim::Boolean => PrimitiveType::Boolean,
        Prim::Int => PrimitiveType::Int,
        Prim::Long => PrimitiveType::Long,
        Prim::Float => PrimitiveType::Float,
        Prim::Double => PrimitiveType::Double,
        Prim::String => PrimitiveType::String,
        Prim::Bytes => PrimitiveType::Binary,
        Prim::Date => PrimitiveType::Date,
        Prim::TimestampMicros => PrimitiveType::Timestamptz,
    }
}

/// Hands out field ids.
pub struct Ids(i32);

impl Ids {
    /// Ids from `last + 1` on.
    pub fn after(last: i32) -> Self {
        Ids(last)
    }

    /// The next id.
    pub fn fresh(&mut self) -> i32 {
        self.0 += 1;
        self.0
    }
}

/// The Iceberg type of a writer type. Everything is optional (record fields, list
/// elements, map values): a later writer may leave a field out or allow null, and bronze
/// holds what any version sends.
pub fn iceberg_type(ty: &Ty, ids: &mut Ids) -> Type {
    match &ty.shape {
        Shape::Prim(p) => Type::Primitive(iceberg_primitive(*p)),
        Shape::Record(fields) => Type::Struct(StructType::new(
            fields.iter().map(|f| iceberg_field(f, ids)).collect(),
        )),
        Shape::Array(item) => {
            let id = ids.fresh();
            let element = iceberg_type(item, ids);
            Type::List(ListType::new(
                NestedField::list_element(id, element, false).into(),
            ))
        }
        Shape::Map(value) => {
            let key_id = ids.fresh();
            let value_id = ids.fresh();
            let v = iceberg_type(value, ids);
            Type::Map(MapType::new(
                NestedField::map_key_element(key_id, Type::Primitive(PrimitiveType::String)).into(),
                NestedField::map_value_element(value_id, v, false).into(),
            ))
        }
    }
}

/// An optional Iceberg field for a writer field (doc kept).
pub fn iceberg_field(f: &FieldDef, ids: &mut Ids) -> NestedFieldRef {
    let id = ids.fresh();
    let field = NestedField::optional(id, &f.name, iceberg_type(&f.ty, ids));
    match &f.doc {
        Some(doc) => field.with_doc(doc).into(),
        None => field.into(),
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
                merge_ty(&mut g.ty, f.ty, &child_path)?;
            }
        }
    }
    Ok(())
}

fn merge_ty(into: &mut Ty, from: Ty, path: &str) -> Result<(), SchemaError> {
    into.nullable |= from.nullable;
    match (&mut into.shape, from.shape) {
        (Shape::Record(a), Shape::Record(b)) => merge_fields(a, b, path),
        (Shape::Array(a), Shape::Array(b)) | (Shape::Map(a), Shape::Map(b)) => {
            merge_ty(a, *b, path)
        }
        (Shape::Prim(a), Shape::Prim(b)) if *a == b => Ok(()),
        (a, b) => Err(SchemaError::Conflict {
            path: path.to_string(),
            a: a.describe(),
            b: b.describe(),
        }),
    }
}

/// The union of a survey's bundled writer schemas, newest field order first.
pub fn merged_fields(survey: &Survey) -> Result<Vec<FieldDef>, SchemaError> {
    let mut merged = Vec::new();
    for (_, text) in survey.schemas {
        merge_fields(&mut merged, parse_writer_schema(text)?.fields, "alert")?;
    }
    Ok(merged)
}

fn doc_field(id: i32, name: &str, ty: PrimitiveType, doc: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(ty))
        .with_doc(doc)
        .into()
}

/// The Iceberg schema a survey's alerts table starts with: the merged packet fields
/// (stamps replaced by object URIs and file names), the key required, the night
/// partition column and the ingestion columns. From then on the table's own current
/// schema is the truth; it grows with every writer schema met (see [`crate::diff`]).
pub fn bootstrap_schema(survey: &Survey) -> Result<Schema, SchemaError> {
    let mut ids = Ids::after(0);
    let mut fields: Vec<NestedFieldRef> = Vec::new();
    for f in merged_fields(survey)? {
        if survey.stamp_index(&f.name).is_some() {
            continue;
        }
        if f.name == survey.key {
            let doc = f
                .doc
                .clone()
                .unwrap_or_else(|| "unique id of this alert".into());
            fields.push(
                NestedField::required(ids.fresh(), &f.name, Type::Primitive(PrimitiveType::Long))
                    .with_doc(doc)
                    .into(),
            );
            continue;
        }
        fields.push(iceberg_field(&f, &mut ids));
    }
    for s in survey.stamps {
        fields.push(doc_field(
            ids.fresh(),
            &columns::cutout_uri(s.kind),
            PrimitiveType::String,
            &format!(
                "URI of the object holding the exact stamp bytes of {}; null when the packet had none",
                s.field
            ),
        ));
    }
    for s in survey.stamps {
        fields.push(doc_field(
            ids.fresh(),
            &columns::cutout_offset(s.kind),
            PrimitiveType::Long,
            &format!(
                "byte offset of the {} stamp within the object at {} (packed layout); \
                 null: the whole object is the stamp",
                s.kind,
                columns::cutout_uri(s.kind)
            ),
        ));
        fields.push(doc_field(
            ids.fresh(),
            &columns::cutout_length(s.kind),
            PrimitiveType::Long,
            &format!(
                "length in bytes of the {} stamp within the object at {} (packed layout); \
                 null: the whole object is the stamp",
                s.kind,
                columns::cutout_uri(s.kind)
            ),
        ));
    }
    if let StampLayout::Record { file_name, .. } = survey.stamp_layout {
        for s in survey.stamps {
            fields.push(doc_field(
                ids.fresh(),
                &columns::cutout_file_name(s.kind),
                PrimitiveType::String,
                &format!("{}.{file_name} as carried by the packet", s.field),
            ));
        }
    }
    let night_doc = format!(
        "observation night: UTC date of {} (partition column)",
        survey.night.path().join(".")
    );
    let extra = [
        (columns::NIGHT, PrimitiveType::Date, night_doc.as_str()),
        (
            columns::INGEST_SOURCE,
            PrimitiveType::String,
            "where the packet was read: file path, or tarball path!member name",
        ),
        (
            columns::INGEST_SCHEMA_VERSION,
            PrimitiveType::String,
            "version attribute of the packet's own writer schema",
        ),
        (
            columns::INGEST_RUN_ID,
            PrimitiveType::String,
            "id of the ateda ingest run that added the row",
        ),
        (
            columns::INGESTED_AT,
            PrimitiveType::Timestamptz,
            "when the row was ingested (UTC)",
        ),
        (
            columns::INGEST_ALERT_SHA256,
            PrimitiveType::String,
            "sha256 (hex) of the alert's Avro datum bytes under its writer schema; the same \
             key met again with another value is quarantined, never stored twice",
        ),
    ];
    for (name, ty, doc) in extra {
        fields.push(doc_field(ids.fresh(), name, ty, doc));
    }
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| SchemaError::Invalid(format!("bootstrap schema: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ztf::ZTF;

    #[test]
    fn union_has_every_version_field() {
        let merged = merged_fields(&ZTF).expect("bundled schemas parse");
        let names: Vec<&str> = merged.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"fp_hists"));
        let Shape::Record(cand) = &merged
            .iter()
            .find(|f| f.name == "candidate")
            .expect("candidate")
            .ty
            .shape
        else {
            panic!("candidate is a record")
        };
        assert_eq!(cand.len(), 103);
        assert!(cand.iter().any(|f| f.name == "drb"));
    }

    #[test]
    fn bootstrap_replaces_cutouts_with_uris() {
        let s = bootstrap_schema(&ZTF).expect("schema");
        assert!(s.field_by_name("cutoutScience").is_none());
        assert!(s.field_by_name("cutout_science_uri").is_some());
        assert!(s.field_by_name("cutout_science_file_name").is_some());
        assert!(s.field_by_name("candid").expect("candid").required);
        let jd = s.field_by_name("candidate.jd").expect("jd");
        assert!(jd
            .doc
            .as_deref()
            .unwrap_or("")
            .to_lowercase()
            .contains("julian"));
        let filled = ZTF.filled_columns();
        for name in filled {
            assert!(s.field_by_name(&name).is_some(), "{name}");
        }
    }
}
