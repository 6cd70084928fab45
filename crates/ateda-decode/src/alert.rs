//! The bronze row builder: one row per alert datum.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use ateda_ztf_schema::{night_from_jd, CUTOUTS, NIGHT_COLUMN};

use crate::columns::Col;
use crate::ocf::parse_container;
use crate::primitives::{read_bytes, read_long};
use crate::program::{absent, compile, decode, Names, Op};
use crate::DecodeError;

/// One cutout stamp as carried by the packet.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// `fileName` of the cutout record.
    pub file_name: String,
    /// `stampData`: the exact gzipped FITS bytes (shares the packet's buffer).
    pub data: bytes::Bytes,
}

/// The stamps of one bronze row (science, template, difference).
#[derive(Debug, Clone)]
pub struct AlertStamps {
    /// Alert candid.
    pub candid: i64,
    /// Observation night (days since 1970-01-01).
    pub night: i32,
    /// Stamps in [`CUTOUTS`] order; `None` where the packet had none.
    pub stamps: [Option<Stamp>; 3],
}

/// Builds the URI of a stamp object from (night, candid, kind).
pub type StampUri = Arc<dyn Fn(i32, i64, &str) -> String + Send + Sync>;

/// Values shared by every row of a run.
#[derive(Clone)]
pub struct RowContext {
    /// Id of the ingest run.
    pub run_id: String,
    /// Ingestion time, microseconds since the Unix epoch (UTC).
    pub ingested_at_us: i64,
    /// Where each stamp object lives.
    pub stamp_uri: StampUri,
}

/// A finished batch of bronze rows with their stamps (row-aligned).
#[derive(Debug)]
pub struct AlertBatch {
    /// The rows, in the bronze table's Arrow schema.
    pub batch: RecordBatch,
    /// Stamps per row.
    pub stamps: Vec<AlertStamps>,
    /// Source members in this batch with their number of rows, in row order.
    pub members: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
enum CutoutOp {
    Null,
    Record(Vec<CutoutField>),
    Union(Vec<CutoutOp>),
}

#[derive(Debug, Clone)]
enum CutoutField {
    FileName,
    StampData,
}

#[derive(Debug)]
enum TopOp {
    Column(usize, Op),
    Cutout(usize, CutoutOp),
}

/// A compiled writer schema.
#[derive(Debug)]
pub struct Program {
    version: String,
    top: Vec<TopOp>,
    absent_top: Vec<usize>,
}

/// Compiled programs keyed by the raw writer-schema bytes, so the costly
/// schema parse happens once per distinct schema, not once per packet.
#[derive(Default)]
pub struct SchemaCache {
    programs: HashMap<Vec<u8>, Result<Arc<Program>, String>>,
    /// The last schema used: a night's packets mostly share one, and a byte
    /// comparison is cheaper than hashing 25 KB of schema text.
    last: Option<(Vec<u8>, Arc<Program>)>,
}

impl SchemaCache {
    /// Number of distinct writer schemas seen.
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    /// True when no schema has been seen.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    fn get(
        &mut self,
        raw: &[u8],
        layout: &Layout,
        table: &SchemaRef,
    ) -> Result<Arc<Program>, DecodeError> {
        if let Some((text, program)) = &self.last {
            if text.as_slice() == raw {
                return Ok(program.clone());
            }
        }
        if let Some(p) = self.programs.get(raw) {
            if let Ok(program) = p {
                self.last = Some((raw.to_vec(), program.clone()));
            }
            return p.clone().map_err(DecodeError::Schema);
        }
        let compiled = compile_program(raw, layout, table)
            .map(Arc::new)
            .map_err(|e| match e {
                DecodeError::Schema(s) => s,
                other => other.to_string(),
            });
        self.programs.insert(raw.to_vec(), compiled.clone());
        compiled.map_err(DecodeError::Schema)
    }
}

/// Positions of the columns the builder fills itself.
#[derive(Debug)]
struct Layout {
    candid: usize,
    candidate: usize,
    jd: usize,
    uri: [usize; 3],
    file_name: [usize; 3],
    night: usize,
    source: usize,
    version: usize,
    run_id: usize,
    ingested_at: usize,
}

fn index(schema: &SchemaRef, name: &str) -> Result<usize, DecodeError> {
    schema
        .index_of(name)
        .map_err(|_| DecodeError::Schema(format!("bronze table has no column {name}")))
}

impl Layout {
    fn new(schema: &SchemaRef) -> Result<Layout, DecodeError> {
        let candidate = index(schema, "candidate")?;
        let jd = match schema.field(candidate).data_type() {
            DataType::Struct(f) => f
                .find("jd")
                .map(|(i, _)| i)
                .ok_or_else(|| DecodeError::Schema("bronze candidate has no jd".into()))?,
            _ => {
                return Err(DecodeError::Schema(
                    "bronze candidate is not a struct".into(),
                ))
            }
        };
        let mut uri = [0; 3];
        let mut file_name = [0; 3];
        for (i, (_, kind)) in CUTOUTS.iter().enumerate() {
            uri[i] = index(schema, &format!("cutout_{kind}_uri"))?;
            file_name[i] = index(schema, &format!("cutout_{kind}_file_name"))?;
        }
        Ok(Layout {
            candid: index(schema, "candid")?,
            candidate,
            jd,
            uri,
            file_name,
            night: index(schema, NIGHT_COLUMN)?,
            source: index(schema, "ingest_source")?,
            version: index(schema, "ingest_schema_version")?,
            run_id: index(schema, "ingest_run_id")?,
            ingested_at: index(schema, "ingested_at")?,
        })
    }

    fn builder_filled(&self) -> Vec<usize> {
        let mut v = vec![
            self.night,
            self.source,
            self.version,
            self.run_id,
            self.ingested_at,
        ];
        v.extend(self.uri);
        v.extend(self.file_name);
        v
    }
}

fn compile_cutout(writer: &Schema, names: &mut Names, path: &str) -> Result<CutoutOp, DecodeError> {
    names.register(writer);
    let writer = names.resolve(writer, path)?.clone();
    Ok(match &writer {
        Schema::Null => CutoutOp::Null,
        Schema::Union(u) => CutoutOp::Union(
            u.variants()
                .iter()
                .map(|b| compile_cutout(b, names, path))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Record(r) => {
            let mut fields = Vec::new();
            for f in &r.fields {
                fields.push(match (f.name.as_str(), &f.schema) {
                    ("fileName", Schema::String) => CutoutField::FileName,
                    ("stampData", Schema::Bytes) => CutoutField::StampData,
                    (other, schema) => {
                        return Err(DecodeError::Schema(format!(
                            "{path}.{other}: cutout field {schema:?} has no bronze column"
                        )))
                    }
                });
            }
            CutoutOp::Record(fields)
        }
        other => {
            return Err(DecodeError::Schema(format!(
                "{path}: cutout of type {other:?}"
            )))
        }
    })
}

/// Parses a container's writer schema. apache-avro 0.21 panics (an `unwrap`) on an
/// invalid type name, so names are checked first; the parse itself also runs under
/// `catch_unwind`, so no damaged header can take the ingest down.
fn parse_writer_schema(text: &str) -> Result<Schema, DecodeError> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| DecodeError::Schema(format!("schema is not JSON: {e}")))?;
    check_names(&json)?;
    match std::panic::catch_unwind(|| Schema::parse_str(text)) {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(e)) => Err(DecodeError::Schema(format!("schema does not parse: {e}"))),
        Err(_) => Err(DecodeError::Schema(
            "schema does not parse (the Avro schema parser gave up on it)".into(),
        )),
    }
}

/// Every `name` of a schema node (a JSON object with a `type`) must be an Avro name:
/// dot-separated parts of `[A-Za-z_][A-Za-z0-9_]*`.
fn check_names(v: &serde_json::Value) -> Result<(), DecodeError> {
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
                        return Err(DecodeError::Schema(format!(
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

fn compile_program(raw: &[u8], layout: &Layout, table: &SchemaRef) -> Result<Program, DecodeError> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| DecodeError::Schema(format!("schema is not UTF-8: {e}")))?;
    let schema = parse_writer_schema(text)?;
    let Schema::Record(record) = &schema else {
        return Err(DecodeError::Schema(
            "top-level writer schema is not a record".into(),
        ));
    };
    let version = record
        .attributes
        .get("version")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    let filled = layout.builder_filled();
    let mut names = Names::default();
    let mut top = Vec::with_capacity(record.fields.len());
    for f in &record.fields {
        if let Some(kind) = CUTOUTS.iter().position(|(name, _)| *name == f.name) {
            top.push(TopOp::Cutout(
                kind,
                compile_cutout(&f.schema, &mut names, &f.name)?,
            ));
            continue;
        }
        let idx = table
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
            Some(table.field(idx).data_type()),
            &mut names,
            &f.name,
        )?;
        top.push(TopOp::Column(idx, op));
    }
    if !top
        .iter()
        .any(|t| matches!(t, TopOp::Column(i, _) if *i == layout.candid))
    {
        return Err(DecodeError::Schema("writer schema has no candid".into()));
    }
    let absent_top = absent(
        table.fields(),
        record.fields.iter().map(|f| f.name.as_str()),
    )
    .into_iter()
    .filter(|i| !filled.contains(i))
    .collect();
    Ok(Program {
        version,
        top,
        absent_top,
    })
}

/// Turns a slice of the input into shared bytes without copying when it can.
type Share<'a> = &'a dyn Fn(&[u8]) -> bytes::Bytes;

fn decode_cutout(
    op: &CutoutOp,
    buf: &mut &[u8],
    share: Share<'_>,
) -> Result<Option<Stamp>, DecodeError> {
    match op {
        CutoutOp::Null => Ok(None),
        CutoutOp::Union(branches) => {
            let idx = read_long(buf)?;
            let branch = usize::try_from(idx)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| {
                    DecodeError::Invalid(format!("cutout union branch {idx} out of range"))
                })?;
            decode_cutout(branch, buf, share)
        }
        CutoutOp::Record(fields) => {
            let mut stamp = Stamp {
                file_name: String::new(),
                data: bytes::Bytes::new(),
            };
            for f in fields {
                match f {
                    CutoutField::FileName => {
                        let s = read_bytes(buf)?;
                        stamp.file_name = std::str::from_utf8(s)
                            .map_err(|e| {
                                DecodeError::Invalid(format!("cutout fileName is not UTF-8: {e}"))
                            })?
                            .to_string();
                    }
                    CutoutField::StampData => stamp.data = share(read_bytes(buf)?),
                }
            }
            Ok(Some(stamp))
        }
    }
}

/// Accumulates decoded alerts as bronze columns.
pub struct AlertBatchBuilder {
    schema: SchemaRef,
    layout: Layout,
    cols: Vec<Col>,
    stamps: Vec<AlertStamps>,
    members: Vec<(String, usize)>,
    ctx: RowContext,
    cache: SchemaCache,
}

impl AlertBatchBuilder {
    /// Creates a builder for the bronze table's Arrow schema.
    pub fn new(schema: SchemaRef, ctx: RowContext) -> Result<Self, DecodeError> {
        let layout = Layout::new(&schema)?;
        let cols = schema
            .fields()
            .iter()
            .map(|f| Col::for_type(f.data_type()))
            .collect::<Result<_, _>>()?;
        Ok(AlertBatchBuilder {
            schema,
            layout,
            cols,
            stamps: Vec::new(),
            members: Vec::new(),
            ctx,
            cache: SchemaCache::default(),
        })
    }

    /// Rows accumulated so far.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// Decodes every alert of one container (`bytes`) read from `source`.
    /// All or nothing: on error, no row of this member is kept.
    pub fn add_member(&mut self, source: &str, bytes: &bytes::Bytes) -> Result<usize, DecodeError> {
        let start = self.len();
        match self.add_member_inner(source, bytes) {
            Ok(n) => {
                self.members.push((source.to_string(), n));
                Ok(n)
            }
            Err(e) => {
                for c in &mut self.cols {
                    c.truncate(start);
                }
                self.stamps.truncate(start);
                Err(e)
            }
        }
    }

    fn add_member_inner(
        &mut self,
        source: &str,
        bytes: &bytes::Bytes,
    ) -> Result<usize, DecodeError> {
        let container = parse_container(bytes)?;
        let program = self
            .cache
            .get(container.schema, &self.layout, &self.schema)?;
        let mut n = 0;
        for block in &container.blocks {
            let mut buf: &[u8] = &block.data;
            let borrowed = matches!(block.data, std::borrow::Cow::Borrowed(_));
            let share = |s: &[u8]| {
                if borrowed {
                    bytes.slice_ref(s)
                } else {
                    bytes::Bytes::copy_from_slice(s)
                }
            };
            for i in 0..block.count {
                self.decode_alert(&program, &mut buf, source, &share)
                    .map_err(|e| with_record(e, n + i + 1))?;
            }
            if !buf.is_empty() {
                return Err(DecodeError::Invalid(format!(
                    "{} unread bytes after the block's {} records",
                    buf.len(),
                    block.count
                )));
            }
            n += block.count;
        }
        if n == 0 {
            return Err(DecodeError::Invalid("container holds no alert".into()));
        }
        Ok(n)
    }

    fn decode_alert(
        &mut self,
        program: &Program,
        buf: &mut &[u8],
        source: &str,
        share: Share<'_>,
    ) -> Result<(), DecodeError> {
        let mut stamps: [Option<Stamp>; 3] = [None, None, None];
        for op in &program.top {
            match op {
                TopOp::Column(idx, op) => decode(op, buf, self.cols.get_mut(*idx))?,
                TopOp::Cutout(kind, op) => stamps[*kind] = decode_cutout(op, buf, share)?,
            }
        }
        for &i in &program.absent_top {
            self.cols[i].push_null();
        }
        let l = &self.layout;
        let candid = self.cols[l.candid]
            .last_i64()
            .ok_or_else(|| DecodeError::Invalid("candid is missing".into()))?;
        let jd = match &self.cols[l.candidate] {
            Col::Struct(children, _) => children.get(l.jd).and_then(Col::last_f64),
            _ => None,
        };
        let night = jd.and_then(night_from_jd).ok_or_else(|| {
            DecodeError::Invalid(format!("candidate.jd is missing or not finite ({jd:?})"))
        })?;
        for (i, (_, kind)) in CUTOUTS.iter().enumerate() {
            match &stamps[i] {
                Some(s) => {
                    let uri = (self.ctx.stamp_uri)(night, candid, kind);
                    self.cols[l.uri[i]].push_bytes(uri.as_bytes());
                    self.cols[l.file_name[i]].push_bytes(s.file_name.as_bytes());
                }
                None => {
                    self.cols[l.uri[i]].push_null();
                    self.cols[l.file_name[i]].push_null();
                }
            }
        }
        self.cols[l.night].push_i32(night);
        self.cols[l.source].push_bytes(source.as_bytes());
        self.cols[l.version].push_bytes(program.version.as_bytes());
        self.cols[l.run_id].push_bytes(self.ctx.run_id.as_bytes());
        self.cols[l.ingested_at].push_i64(self.ctx.ingested_at_us);
        self.stamps.push(AlertStamps {
            candid,
            night,
            stamps,
        });
        Ok(())
    }

    /// Builds the Arrow batch of the buffered rows and starts a new one.
    pub fn finish(&mut self) -> Result<AlertBatch, DecodeError> {
        let arrays = self
            .cols
            .iter_mut()
            .zip(self.schema.fields().iter())
            .map(|(c, f)| c.finish(f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        Ok(AlertBatch {
            batch,
            stamps: std::mem::take(&mut self.stamps),
            members: std::mem::take(&mut self.members),
        })
    }

    /// Number of distinct writer schemas compiled so far.
    pub fn schemas_seen(&self) -> usize {
        self.cache.len()
    }
}

fn with_record(e: DecodeError, record: usize) -> DecodeError {
    match e {
        DecodeError::Truncated => DecodeError::Invalid(format!(
            "record {record}: input ends inside a value (truncated)"
        )),
        DecodeError::Invalid(s) => DecodeError::Invalid(format!("record {record}: {s}")),
        other => other,
    }
}
