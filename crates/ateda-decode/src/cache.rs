//! Writer schemas resolved onto table schemas, cached per (raw writer schema, table
//! schema id): the costly parse and diff happen once per distinct pair, not per packet.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use ateda_schema::avro::Names;
use ateda_schema::{diff_writer, parse_writer_schema, SchemaChange, Survey, WriterSchema};

use crate::layout::Layout;
use crate::resolve::{absent, compile, Op};
use crate::stamps::{compile_stamp, StampOp};
use crate::table::TableSchema;
use crate::DecodeError;

/// One top-level step of a resolved writer schema.
#[derive(Debug)]
pub enum TopOp {
    /// A packet field into the column at this index.
    Column(usize, Op),
    /// A stamp field (index in the survey's stamps).
    Stamp(usize, StampOp),
}

/// A writer schema resolved onto one table schema.
#[derive(Debug)]
pub struct Resolved {
    /// The writer schema's version.
    pub version: String,
    /// Steps in writer field order.
    pub top: Vec<TopOp>,
    /// Top-level table columns the writer lacks (null in its rows).
    pub absent_top: Vec<usize>,
}

/// What a writer schema needs before its packets can be decoded into a table schema.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Ready to decode.
    Ready(Arc<Resolved>),
    /// The table must change first (columns to add, promotions) for this writer schema.
    Changes(Arc<WriterSchema>, Arc<Vec<SchemaChange>>),
    /// Packets of this writer schema cannot be stored: the reason.
    Rejected(String),
}

struct Entry {
    parsed: Result<Arc<WriterSchema>, String>,
    by_table: HashMap<i32, Resolution>,
}

/// Resolutions keyed by the raw writer-schema bytes and the table schema id. Bounded:
/// when it holds [`crate::Limits::max_cached_schemas`] writer schemas and meets another,
/// it is cleared (a night's packets share a handful of schemas; hostile input with a
/// new schema per packet only costs re-resolving, never unbounded memory).
#[derive(Default)]
pub struct SchemaCache {
    entries: HashMap<Vec<u8>, Entry>,
    /// The last (raw schema, table id) used: a night's packets mostly share one, and a
    /// byte comparison is cheaper than hashing 25 KB of schema text.
    last: Option<(Vec<u8>, i32, Arc<Resolved>)>,
}

impl SchemaCache {
    /// Number of distinct writer schemas held (at most the cap).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no writer schema has been seen.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The resolution of a raw writer schema onto `table`.
    pub fn resolve(
        &mut self,
        raw: &[u8],
        survey: &Survey,
        table: &TableSchema,
        layout: &Layout,
    ) -> Resolution {
        if let Some((text, id, resolved)) = &self.last {
            if *id == table.id && text.as_slice() == raw {
                return Resolution::Ready(resolved.clone());
            }
        }
        // Look up by slice first: copying the 25 KB key is only for a schema seen anew.
        if !self.entries.contains_key(raw) {
            if self.entries.len() >= crate::limits::current().max_cached_schemas.max(1) {
                self.entries.clear();
            }
            let parsed = std::str::from_utf8(raw)
                .map_err(|e| format!("schema is not UTF-8: {e}"))
                .and_then(|text| parse_writer_schema(text).map_err(|e| e.to_string()))
                .map(Arc::new);
            self.entries.insert(
                raw.to_vec(),
                Entry {
                    parsed,
                    by_table: HashMap::new(),
                },
            );
        }
        let Some(entry) = self.entries.get_mut(raw) else {
            return Resolution::Rejected("writer schema cache lost an entry".into());
        };
        let writer = match &entry.parsed {
            Ok(w) => w.clone(),
            Err(e) => return Resolution::Rejected(e.clone()),
        };
        let resolution = entry
            .by_table
            .entry(table.id)
            .or_insert_with(|| {
                if let Some(reason) = other_survey(&writer, survey) {
                    return Resolution::Rejected(reason);
                }
                let diff = diff_writer(survey, &writer, &table.iceberg);
                if let Some(reason) = diff.conflict_reason() {
                    return Resolution::Rejected(reason);
                }
                if !diff.changes.is_empty() {
                    return Resolution::Changes(writer.clone(), Arc::new(diff.changes));
                }
                match resolve(&writer, survey, table, layout) {
                    Ok(r) => Resolution::Ready(Arc::new(r)),
                    Err(e) => Resolution::Rejected(match e {
                        DecodeError::Schema(s) => s,
                        other => other.to_string(),
                    }),
                }
            })
            .clone();
        if let Resolution::Ready(r) = &resolution {
            self.last = Some((raw.to_vec(), table.id, r.clone()));
        }
        resolution
    }
}

/// Why a writer schema is not for `survey`: its record name names another survey
/// (`ztf.alert` met by the Rubin decoder). A name that names no survey is left to the
/// diff.
fn other_survey(writer: &WriterSchema, survey: &Survey) -> Option<String> {
    let Schema::Record(record) = &writer.avro else {
        return None;
    };
    let name = record.name.fullname(None);
    let other = Survey::of_record_name(&name).filter(|s| s.name != survey.name)?;
    Some(format!(
        "writer schema {name} is a {} alert schema, not {}",
        other.name, survey.name
    ))
}

/// Compiles the decoding of a writer schema onto a table schema the diff found fitting.
fn resolve(
    writer: &WriterSchema,
    survey: &Survey,
    table: &TableSchema,
    layout: &Layout,
) -> Result<Resolved, DecodeError> {
    let Schema::Record(record) = &writer.avro else {
        return Err(DecodeError::Schema(
            "top-level writer schema is not a record".into(),
        ));
    };
    let filled = layout.filled();
    let arrow = &table.arrow;
    let mut names = Names::default();
    names.register(&writer.avro);
    let mut top = Vec::with_capacity(record.fields.len());
    for f in &record.fields {
        if let Some(kind) = survey.stamp_index(&f.name) {
            let op = compile_stamp(&f.schema, survey.stamp_layout, &mut names, &f.name)?;
            top.push(TopOp::Stamp(kind, op));
            continue;
        }
        let idx = arrow
            .index_of(&f.name)
            .ok()
            .filter(|i| !filled.contains(i))
            .ok_or_else(|| {
                DecodeError::Schema(format!(
                    "{}: field is not in the bronze table schema",
                    f.name
                ))
            })?;
        let op = compile(
            &f.schema,
            Some(arrow.field(idx).data_type()),
            &mut names,
            &f.name,
        )?;
        top.push(TopOp::Column(idx, op));
    }
    let has_key = top
        .iter()
        .any(|t| matches!(t, TopOp::Column(i, _) if *i == layout.key));
    let has_fallback = survey
        .key_fallback
        .and_then(|p| p.first())
        .is_some_and(|first| record.fields.iter().any(|f| f.name == *first));
    if !has_key && !has_fallback {
        return Err(DecodeError::Schema(format!(
            "writer schema has no {}",
            survey.key
        )));
    }
    let absent_top = absent(
        arrow.fields(),
        record.fields.iter().map(|f| f.name.as_str()),
    )
    .into_iter()
    .filter(|i| !filled.contains(i))
    .collect();
    Ok(Resolved {
        version: writer.version.clone(),
        top,
        absent_top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{with_limits, Limits};
    use ateda_schema::ztf::ZTF;

    #[test]
    fn cache_holds_at_most_the_cap() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf/v4");
        let packet = std::fs::read_dir(&dir)
            .expect("test data")
            .map(|e| e.expect("entry").path())
            .min()
            .expect("a packet");
        let bytes = std::fs::read(packet).expect("read");
        let container = crate::ocf::parse_container(&bytes).expect("container");
        let table = TableSchema::new(Arc::new(
            ateda_schema::bootstrap_schema(&ZTF).expect("schema"),
        ))
        .expect("table");
        let layout = Layout::new(&ZTF, &table.arrow).expect("layout");
        let caps = Limits {
            max_cached_schemas: 8,
            ..Limits::DEFAULT
        };
        with_limits(caps, || {
            let mut cache = SchemaCache::default();
            for i in 0..40 {
                // distinct raw texts of one schema (trailing blanks): each a new entry
                let mut raw = container.schema.to_vec();
                raw.extend(std::iter::repeat_n(b' ', i));
                let r = cache.resolve(&raw, &ZTF, &table, &layout);
                assert!(matches!(r, Resolution::Ready(_)), "{r:?}");
                assert!(cache.len() <= 8, "{} schemas held", cache.len());
            }
            assert!(!cache.is_empty());
        });
    }
}
