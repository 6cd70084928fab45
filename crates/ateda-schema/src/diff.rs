//! What ingesting packets of a writer schema would change in a table schema.
//!
//! Compared by field name at every depth (top level, nested records, list elements, map
//! values):
//! - a writer field the table lacks: an optional column to add (doc from the writer);
//! - Iceberg-legal promotions: `int` -> `long`, `float` -> `double`, required ->
//!   optional (a writer union with `null`);
//! - a table field the writer lacks: nothing (null in that row);
//! - anything else (a string that became a record, a long that became a string): a
//!   [`Conflict`] naming the field path and both types. Packets of that writer schema are
//!   quarantined; the table never changes a type in an illegal way.
//!
//! (Over 400 lines: about half are the tests that drive real ZTF schemas through every
//! kind of drift, kept next to the rules they check.)

use std::collections::{HashMap, HashSet};

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type,
};

use crate::avro::{FieldDef, Prim, Shape, Ty, WriterSchema};
use crate::survey::{StampLayout, Survey};
use crate::table::{iceberg_primitive, iceberg_type, Ids};
use crate::SchemaError;

/// One change to the table schema.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaChange {
    /// Add an optional column.
    AddColumn {
        /// Full name of the struct, list (of structs) or map (of structs) to add it to;
        /// `None` for the top level.
        parent: Option<String>,
        /// Full Iceberg name of the new column (`prv_candidates.element.x`): how readers
        /// name it, and how changes are reported.
        path: String,
        /// Column name.
        name: String,
        /// Its type (field ids inside are placeholders; the table assigns fresh ones).
        field_type: Type,
        /// The writer's doc string.
        doc: Option<String>,
    },
    /// Widen a primitive column (`int` -> `long`, `float` -> `double`).
    Promote {
        /// Full name of the column.
        path: String,
        /// Its type today.
        from: PrimitiveType,
        /// Its type after the change.
        to: PrimitiveType,
    },
    /// Make a required column (or list element, map value) optional.
    MakeOptional {
        /// Full name of the column.
        path: String,
    },
}

impl SchemaChange {
    /// True for the changes iceberg's add-column action cannot make (promotions and
    /// required -> optional): they are committed as a whole new schema.
    pub fn rewrites_types(&self) -> bool {
        !matches!(self, SchemaChange::AddColumn { .. })
    }

    /// One line for humans, e.g. `add candidate.newfield: double`.
    pub fn describe(&self) -> String {
        match self {
            SchemaChange::AddColumn {
                path, field_type, ..
            } => format!("add {path}: {}", short(field_type)),
            SchemaChange::Promote { path, from, to } => format!("promote {path}: {from} -> {to}"),
            SchemaChange::MakeOptional { path } => format!("make {path} optional"),
        }
    }
}

fn short(t: &Type) -> String {
    match t {
        Type::Primitive(p) => p.to_string(),
        Type::Struct(s) => format!("struct<{} fields>", s.fields().len()),
        Type::List(l) => format!("list<{}>", short(&l.element_field.field_type)),
        Type::Map(m) => format!("map<string, {}>", short(&m.value_field.field_type)),
    }
}

/// A writer field that cannot be stored in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Field path (`candidate.magpsf`, `prv_candidates[].jd`).
    pub path: String,
    /// The table's type (or what the column is).
    pub table: String,
    /// The writer's type.
    pub writer: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: writer type {} cannot be stored in the bronze column of type {}",
            self.path, self.writer, self.table
        )
    }
}

/// The difference between a writer schema and a table schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaDiff {
    /// Changes that make the table able to hold the writer's packets.
    pub changes: Vec<SchemaChange>,
    /// Irreconcilable differences (packets of this writer are quarantined).
    pub conflicts: Vec<Conflict>,
}

impl SchemaDiff {
    /// True when packets of this writer fit the table as it is.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.conflicts.is_empty()
    }

    /// The quarantine reason when there is a conflict.
    pub fn conflict_reason(&self) -> Option<String> {
        if self.conflicts.is_empty() {
            return None;
        }
        let parts: Vec<String> = self.conflicts.iter().map(|c| c.to_string()).collect();
        Some(format!(
            "irreconcilable schema change: {}",
            parts.join("; ")
        ))
    }
}

struct Walk<'a> {
    out: SchemaDiff,
    survey: &'a Survey,
}

/// Where the fields of a struct live: the name to give as an add-column parent, the
/// prefix of its children's full names, and the prefix of their display paths.
#[derive(Clone)]
struct At {
    parent: Option<String>,
    names: String,
    display: String,
}

impl At {
    fn top() -> Self {
        At {
            parent: None,
            names: String::new(),
            display: String::new(),
        }
    }
    fn name(&self, child: &str) -> String {
        join(&self.names, child)
    }
    fn show(&self, child: &str) -> String {
        join(&self.display, child)
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// What ingesting packets of `writer` would change in `table`.
pub fn diff_writer(survey: &Survey, writer: &WriterSchema, table: &Schema) -> SchemaDiff {
    let mut w = Walk {
        out: SchemaDiff::default(),
        survey,
    };
    let filled = survey.filled_columns();
    let mut has_key = false;
    for f in &writer.fields {
        if survey.stamp_index(&f.name).is_some() {
            w.stamp(f);
            continue;
        }
        if filled.contains(&f.name) {
            w.conflict(&f.name, "a column ateda fills itself", &f.ty);
            continue;
        }
        if f.name == survey.key {
            has_key = true;
            let key_ok =
                matches!(f.ty.shape, Shape::Prim(Prim::Long | Prim::Int)) && !f.ty.nullable;
            if !key_ok {
                w.conflict(&f.name, "long (the key, never null)", &f.ty);
                continue;
            }
        }
        w.field(f, table.as_struct(), &At::top());
    }
    let fallback_ok = survey
        .key_fallback
        .is_some_and(|path| is_required_long(&writer.fields, path));
    if !has_key && !fallback_ok {
        w.out.conflicts.push(Conflict {
            path: survey.key.to_string(),
            table: "long (the key)".into(),
            writer: "absent".into(),
        });
    }
    w.out
}

/// Whether a nested writer field (through required records) is a long that is never
/// null: a key can be read from it.
fn is_required_long(fields: &[FieldDef], path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Some(f) = fields.iter().find(|f| f.name == *first) else {
        return false;
    };
    if f.ty.nullable {
        return false;
    }
    match (&f.ty.shape, rest.is_empty()) {
        (Shape::Prim(Prim::Long), true) => true,
        (Shape::Record(children), false) => is_required_long(children, rest),
        _ => false,
    }
}

fn describe_ty(ty: &Ty) -> String {
    if ty.nullable {
        format!("{} (nullable)", ty.shape.describe())
    } else {
        ty.shape.describe()
    }
}

impl Walk<'_> {
    fn conflict(&mut self, path: &str, table: &str, writer: &Ty) {
        self.out.conflicts.push(Conflict {
            path: path.to_string(),
            table: table.to_string(),
            writer: describe_ty(writer),
        });
    }

    fn stamp(&mut self, f: &FieldDef) {
        let ok = match (self.survey.stamp_layout, &f.ty.shape) {
            (StampLayout::Bytes, Shape::Prim(Prim::Bytes)) => true,
            (StampLayout::Record { file_name, data }, Shape::Record(fields)) => {
                fields.iter().all(|g| {
                    (g.name == file_name && g.ty.shape == Shape::Prim(Prim::String))
                        || (g.name == data && g.ty.shape == Shape::Prim(Prim::Bytes))
                }) && fields.iter().any(|g| g.name == data)
            }
            _ => false,
        };
        if !ok {
            let expected = match self.survey.stamp_layout {
                StampLayout::Bytes => "bytes (a stamp)".to_string(),
                StampLayout::Record { file_name, data } => {
                    format!("record {{{file_name}: string, {data}: bytes}} (a stamp)")
                }
            };
            let writer = match &f.ty.shape {
                Shape::Record(fields) => format!(
                    "record {{{}}}",
                    fields
                        .iter()
                        .map(|g| format!("{}: {}", g.name, describe_ty(&g.ty)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => other.describe(),
            };
            self.out.conflicts.push(Conflict {
                path: f.name.clone(),
                table: expected,
                writer,
            });
        }
    }

    /// One writer field against the struct `table` whose fields live `at`.
    fn field(&mut self, f: &FieldDef, table: &StructType, at: &At) {
        match table.field_by_name(&f.name) {
            None => {
                let mut ids = Ids::after(0);
                self.out.changes.push(SchemaChange::AddColumn {
                    parent: at.parent.clone(),
                    path: at.name(&f.name),
                    name: f.name.clone(),
                    field_type: iceberg_type(&f.ty, &mut ids),
                    doc: f.doc.clone(),
                });
            }
            Some(t) => self.ty(&f.ty, t, &at.name(&f.name), &at.show(&f.name)),
        }
    }

    /// A writer type against an existing table field of full name `name`.
    fn ty(&mut self, w: &Ty, t: &NestedField, name: &str, show: &str) {
        if w.nullable && t.required {
            self.out.changes.push(SchemaChange::MakeOptional {
                path: name.to_string(),
            });
        }
        match (&w.shape, &*t.field_type) {
            (Shape::Prim(p), Type::Primitive(tp)) => {
                let wp = iceberg_primitive(*p);
                let fits = wp == *tp || widens(&wp, tp);
                let widen = widens(tp, &wp);
                if widen {
                    self.out.changes.push(SchemaChange::Promote {
                        path: name.to_string(),
                        from: tp.clone(),
                        to: wp,
                    });
                } else if !fits {
                    self.conflict(show, &tp.to_string(), w);
                }
            }
            (Shape::Record(fields), Type::Struct(s)) => {
                let at = At {
                    parent: Some(name.to_string()),
                    names: name.to_string(),
                    display: show.to_string(),
                };
                for f in fields {
                    self.field(f, s, &at);
                }
            }
            (Shape::Array(item), Type::List(l)) => self.element(
                item,
                &l.element_field,
                name,
                "element",
                &format!("{show}[]"),
            ),
            (Shape::Map(value), Type::Map(m)) => {
                self.element(value, &m.value_field, name, "value", &format!("{show}{{}}"))
            }
            (_, other) => {
                let table = short(other);
                self.conflict(show, &table, w)
            }
        }
    }

    /// A list element or map value: records inside are added to with the list or map's
    /// own name as parent.
    fn element(&mut self, w: &Ty, t: &NestedField, container: &str, part: &str, show: &str) {
        let name = format!("{container}.{part}");
        match (&w.shape, &*t.field_type) {
            (Shape::Record(fields), Type::Struct(s)) => {
                if w.nullable && t.required {
                    self.out
                        .changes
                        .push(SchemaChange::MakeOptional { path: name.clone() });
                }
                let at = At {
                    parent: Some(container.to_string()),
                    names: name,
                    display: show.to_string(),
                };
                for f in fields {
                    self.field(f, s, &at);
                }
            }
            _ => self.ty(w, t, &name, show),
        }
    }
}

/// Columns of `wanted` that `current` lacks, as additions (nested fields included): how
/// an existing table made by an older `ateda` (or by hand) gets the columns the bootstrap
/// schema has. A type that differs is a [`Conflict`]: bronze never rewrites history.
pub fn missing_columns(wanted: &Schema, current: &Schema) -> Result<Vec<SchemaChange>, Conflict> {
    let mut out = Vec::new();
    missing_in(wanted.as_struct(), current.as_struct(), None, "", &mut out)?;
    Ok(out)
}

/// The Iceberg-legal primitive promotions bronze makes: `from` widens to `to`. The one
/// home of the rule, for writer diffs and bootstrap checks alike.
pub fn widens(from: &PrimitiveType, to: &PrimitiveType) -> bool {
    matches!(
        (from, to),
        (PrimitiveType::Int, PrimitiveType::Long) | (PrimitiveType::Float, PrimitiveType::Double)
    )
}

/// Whether a table type `current` holds values of type `wanted`: the same, or a legal
/// widening of it (a column promoted since).
fn holds(wanted: &Type, current: &Type) -> bool {
    match (wanted, current) {
        (Type::Primitive(w), Type::Primitive(c)) => w == c || widens(w, c),
        _ => wanted == current,
    }
}

fn missing_in(
    wanted: &StructType,
    current: &StructType,
    parent: Option<&str>,
    names: &str,
    out: &mut Vec<SchemaChange>,
) -> Result<(), Conflict> {
    for w in wanted.fields() {
        let name = join(names, &w.name);
        let Some(c) = current.field_by_name(&w.name) else {
            out.push(SchemaChange::AddColumn {
                parent: parent.map(str::to_string),
                path: name.clone(),
                name: w.name.clone(),
                field_type: (*w.field_type).clone(),
                doc: w.doc.clone(),
            });
            continue;
        };
        let conflict = || Conflict {
            path: name.clone(),
            table: short(&c.field_type),
            writer: short(&w.field_type),
        };
        match (&*w.field_type, &*c.field_type) {
            (Type::Struct(ws), Type::Struct(cs)) => missing_in(ws, cs, Some(&name), &name, out)?,
            (Type::List(wl), Type::List(cl)) => {
                match (&*wl.element_field.field_type, &*cl.element_field.field_type) {
                    (Type::Struct(ws), Type::Struct(cs)) => {
                        missing_in(ws, cs, Some(&name), &format!("{name}.element"), out)?
                    }
                    (a, b) if holds(a, b) => {}
                    _ => return Err(conflict()),
                }
            }
            (a, b) if holds(a, b) => {}
            _ => return Err(conflict()),
        }
    }
    Ok(())
}

/// The table schema after `changes` (new columns get ids after `last_column_id`).
/// Used to commit promotions, which iceberg's add-column action cannot express, and to
/// show what a dry run would do.
pub fn apply_changes(
    table: &Schema,
    changes: &[SchemaChange],
    last_column_id: i32,
) -> Result<Schema, SchemaError> {
    let mut ids = Ids::after(last_column_id.max(table.highest_field_id()));
    let mut promote: HashMap<i32, PrimitiveType> = HashMap::new();
    let mut optional: HashSet<i32> = HashSet::new();
    let mut additions: HashMap<Option<i32>, Vec<NestedFieldRef>> = HashMap::new();
    let find = |path: &str| {
        table
            .field_by_name(path)
            .ok_or_else(|| SchemaError::Invalid(format!("{path}: no such column")))
    };
    for c in changes {
        match c {
            SchemaChange::Promote { path, to, .. } => {
                promote.insert(find(path)?.id, to.clone());
            }
            SchemaChange::MakeOptional { path } => {
                optional.insert(find(path)?.id);
            }
            SchemaChange::AddColumn {
                parent,
                name,
                field_type,
                doc,
                ..
            } => {
                let parent_id = match parent {
                    None => None,
                    Some(p) => Some(match &*find(p)?.field_type {
                        Type::Struct(_) => find(p)?.id,
                        Type::List(l) => l.element_field.id,
                        Type::Map(m) => m.value_field.id,
                        Type::Primitive(_) => {
                            return Err(SchemaError::Invalid(format!("{p}: not a struct")))
                        }
                    }),
                };
                let field_type = reassign(field_type, &mut ids);
                let mut field = NestedField::optional(ids.fresh(), name, field_type);
                if let Some(d) = doc {
                    field = field.with_doc(d);
                }
                additions.entry(parent_id).or_default().push(field.into());
            }
        }
    }
    let r = Rebuild {
        promote,
        optional,
        additions,
    };
    let fields = r.fields(table.as_struct().fields(), None);
    Schema::builder()
        .with_schema_id(table.schema_id() + 1)
        .with_identifier_field_ids(table.identifier_field_ids())
        .with_fields(fields)
        .build()
        .map_err(|e| SchemaError::Invalid(format!("evolved schema: {e}")))
}

/// A type with fresh field ids (for a new column).
fn reassign(t: &Type, ids: &mut Ids) -> Type {
    match t {
        Type::Primitive(_) => t.clone(),
        Type::Struct(s) => Type::Struct(StructType::new(
            s.fields()
                .iter()
                .map(|f| {
                    let id = ids.fresh();
                    let mut g =
                        NestedField::new(id, &f.name, reassign(&f.field_type, ids), f.required);
                    g.doc = f.doc.clone();
                    g.into()
                })
                .collect(),
        )),
        Type::List(l) => {
            let id = ids.fresh();
            Type::List(ListType::new(
                NestedField::list_element(
                    id,
                    reassign(&l.element_field.field_type, ids),
                    l.element_field.required,
                )
                .into(),
            ))
        }
        Type::Map(m) => {
            let k = ids.fresh();
            let v = ids.fresh();
            Type::Map(MapType::new(
                NestedField::map_key_element(k, reassign(&m.key_field.field_type, ids)).into(),
                NestedField::map_value_element(
                    v,
                    reassign(&m.value_field.field_type, ids),
                    m.value_field.required,
                )
                .into(),
            ))
        }
    }
}

struct Rebuild {
    promote: HashMap<i32, PrimitiveType>,
    optional: HashSet<i32>,
    additions: HashMap<Option<i32>, Vec<NestedFieldRef>>,
}

impl Rebuild {
    fn fields(&self, fields: &[NestedFieldRef], parent: Option<i32>) -> Vec<NestedFieldRef> {
        let mut out: Vec<NestedFieldRef> = fields.iter().map(|f| self.field(f)).collect();
        if let Some(extra) = self.additions.get(&parent) {
            out.extend(extra.iter().cloned());
        }
        out
    }

    fn field(&self, f: &NestedFieldRef) -> NestedFieldRef {
        let mut g = (**f).clone();
        if self.optional.contains(&f.id) {
            g.required = false;
        }
        g.field_type = Box::new(match &*f.field_type {
            Type::Primitive(p) => Type::Primitive(
                self.promote
                    .get(&f.id)
                    .cloned()
                    .unwrap_or_else(|| p.clone()),
            ),
            Type::Struct(s) => Type::Struct(StructType::new(self.fields(s.fields(), Some(f.id)))),
            // A list element or map value: its struct fields take additions keyed by its
            // own id, as any field's do.
            Type::List(l) => Type::List(ListType::new(self.field(&l.element_field))),
            Type::Map(m) => Type::Map(MapType::new(
                m.key_field.clone(),
                self.field(&m.value_field),
            )),
        });
        g.into()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::avro::parse_writer_schema;
    use crate::table::bootstrap_schema;
    use crate::ztf::{SCHEMAS, ZTF};

    fn newest() -> Value {
        serde_json::from_str(SCHEMAS[0].1).expect("json")
    }

    /// The field list of the record at `path` (top level when empty; array items and
    /// unions with null are followed).
    fn record<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Vec<Value> {
        let mut node = v;
        for name in path {
            let fields = node["fields"].as_array_mut().expect("record");
            let f = fields
                .iter_mut()
                .find(|f| f["name"] == *name)
                .expect("field");
            node = &mut f["type"];
            loop {
                if node.is_array() {
                    node = node
                        .as_array_mut()
                        .expect("union")
                        .iter_mut()
                        .find(|b| *b != "null")
                        .expect("branch");
                } else if node["type"] == "array" {
                    node = &mut node["items"];
                } else {
                    break;
                }
            }
        }
        node["fields"].as_array_mut().expect("record fields")
    }

    fn set_type(v: &mut Value, path: &[&str], name: &str, ty: Value) {
        let f = record(v, path)
            .iter_mut()
            .find(|f| f["name"] == name)
            .expect("field");
        f["type"] = ty;
    }

    fn diff(v: &Value, table: &Schema) -> SchemaDiff {
        let w = parse_writer_schema(&v.to_string()).expect("writer parses");
        diff_writer(&ZTF, &w, table)
    }

    #[test]
    fn bundled_versions_fit_the_bootstrap_table() {
        let table = bootstrap_schema(&ZTF).expect("bootstrap");
        for (version, text) in SCHEMAS {
            let w = parse_writer_schema(text).expect("parses");
            let d = diff_writer(&ZTF, &w, &table);
            assert!(d.is_empty(), "{version}: {d:?}");
        }
    }

    #[test]
    fn extra_fields_at_every_depth_are_added_then_fit() {
        let table = bootstrap_schema(&ZTF).expect("bootstrap");
        let mut v = newest();
        let extra = |name: &str| json!({"name": name, "type": ["null", "double"], "doc": format!("{name} doc")});
        record(&mut v, &[]).push(extra("fink_score"));
        record(&mut v, &["candidate"]).push(extra("new_cand"));
        record(&mut v, &["prv_candidates"]).push(extra("new_prv"));
        record(&mut v, &["fp_hists"]).push(extra("new_fp"));
        record(&mut v, &[]).push(json!({"name": "classes", "type":
            {"type": "map", "values": {"type": "record", "name": "cls", "fields": [
                {"name": "p", "type": "float"}]}}}));
        let d = diff(&v, &table);
        assert!(d.conflicts.is_empty(), "{d:?}");
        let adds: Vec<String> = d.changes.iter().map(SchemaChange::describe).collect();
        assert_eq!(
            adds,
            [
                "add candidate.new_cand: double",
                "add prv_candidates.element.new_prv: double",
                "add fp_hists.element.new_fp: double",
                "add fink_score: double",
                "add classes: map<string, struct<1 fields>>",
            ],
        );
        let evolved = apply_changes(&table, &d.changes, table.highest_field_id()).expect("apply");
        assert!(diff(&v, &evolved).is_empty(), "a second diff adds nothing");
        let f = evolved
            .field_by_name("prv_candidates.element.new_prv")
            .expect("added");
        assert_eq!(f.doc.as_deref(), Some("new_prv doc"));
        assert!(f.id > table.highest_field_id());
        // existing ids are kept
        let jd = |s: &Schema| s.field_by_name("candidate.jd").expect("jd").id;
        assert_eq!(jd(&table), jd(&evolved));
        // a map of records can be added to later, inside its value
        record(&mut v, &[]).pop();
        record(&mut v, &[]).push(json!({"name": "classes", "type":
            {"type": "map", "values": {"type": "record", "name": "cls", "fields": [
                {"name": "p", "type": "float"}, {"name": "q", "type": "int"}]}}}));
        let d2 = diff(&v, &evolved);
        assert_eq!(d2.changes.len(), 1, "{d2:?}");
        assert_eq!(d2.changes[0].describe(), "add classes.value.q: int");
        let again =
            apply_changes(&evolved, &d2.changes, evolved.highest_field_id()).expect("apply");
        assert!(again.field_by_name("classes.value.q").is_some());
    }

    #[test]
    fn promotions_are_changes_and_conflicts_name_path_and_types() {
        let table = bootstrap_schema(&ZTF).expect("bootstrap");
        let mut v = newest();
        set_type(&mut v, &["candidate"], "fid", json!("long"));
        set_type(
            &mut v,
            &["prv_candidates"],
            "magpsf",
            json!(["null", "double"]),
        );
        let d = diff(&v, &table);
        let described: Vec<String> = d.changes.iter().map(SchemaChange::describe).collect();
        assert_eq!(
            described,
            [
                "promote candidate.fid: int -> long",
                "promote prv_candidates.element.magpsf: float -> double"
            ]
        );
        assert!(d.changes.iter().all(SchemaChange::rewrites_types));
        let evolved = apply_changes(&table, &d.changes, table.highest_field_id()).expect("apply");
        assert!(diff(&v, &evolved).is_empty());
        // an older writer (int, float) still fits the promoted table
        let old = parse_writer_schema(SCHEMAS[0].1).expect("parses");
        assert!(diff_writer(&ZTF, &old, &evolved).is_empty());

        let mut bad = newest();
        set_type(&mut bad, &["candidate"], "magpsf", json!("string"));
        set_type(
            &mut bad,
            &[],
            "objectId",
            json!({"type": "record", "name": "o", "fields": [{"name": "id", "type": "string"}]}),
        );
        let d = diff(&bad, &table);
        let reason = d.conflict_reason().expect("conflict");
        assert!(reason.contains("candidate.magpsf: writer type string cannot be stored in the bronze column of type float"), "{reason}");
        assert!(reason.contains("objectId: writer type record"), "{reason}");
    }

    #[test]
    fn required_columns_become_optional_for_a_nullable_writer() {
        let base = bootstrap_schema(&ZTF).expect("bootstrap");
        // a table made elsewhere with a required nested column
        let mut fields: Vec<NestedFieldRef> = base.as_struct().fields().to_vec();
        let i = fields
            .iter()
            .position(|f| f.name == "objectId")
            .expect("objectId");
        let mut f = (*fields[i]).clone();
        f.required = true;
        fields[i] = f.into();
        let table = Schema::builder()
            .with_fields(fields)
            .build()
            .expect("schema");
        let v = newest();
        assert!(
            diff(&v, &table).is_empty(),
            "a non-null writer fits a required column"
        );
        let mut v = newest();
        set_type(&mut v, &[], "objectId", json!(["null", "string"]));
        let d = diff(&v, &table);
        assert_eq!(
            d.changes,
            [SchemaChange::MakeOptional {
                path: "objectId".into()
            }]
        );
        let evolved = apply_changes(&table, &d.changes, table.highest_field_id()).expect("apply");
        assert!(
            !evolved
                .field_by_name("objectId")
                .expect("objectId")
                .required
        );
    }

    #[test]
    fn stamps_key_and_filled_columns() {
        let table = bootstrap_schema(&ZTF).expect("bootstrap");
        // a nullable-ized stamp file name fits
        let mut v = newest();
        let cut = record(&mut v, &["cutoutScience"]);
        cut.iter_mut()
            .find(|f| f["name"] == "fileName")
            .expect("fileName")["type"] = json!(["null", "string"]);
        assert!(diff(&v, &table).is_empty());
        // a field named like a column ateda fills, a missing key
        let mut v = newest();
        record(&mut v, &[]).push(json!({"name": "night", "type": "string"}));
        record(&mut v, &[]).retain(|f| f["name"] != "candid");
        let reason = diff(&v, &table).conflict_reason().expect("conflicts");
        assert!(reason.contains("night: writer type string cannot be stored in the bronze column of type a column ateda fills itself"), "{reason}");
        assert!(reason.contains("candid: writer type absent"), "{reason}");
    }
}
