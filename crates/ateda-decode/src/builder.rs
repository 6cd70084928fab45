//! The bronze row builder: one row per alert datum, built straight into Arrow columns.

use std::sync::Arc;

use arrow_array::RecordBatch;
use ateda_schema::{format_day, NightBounds, SchemaChange, Survey, WriterSchema};
use sha2::{Digest, Sha256};

use crate::cache::{Resolution, Resolved, SchemaCache, TopOp};
use crate::columns::Col;
use crate::layout::Layout;
use crate::ocf::parse_container;
use crate::resolve::decode;
use crate::stamps::{decode_stamp, Stamp};
use crate::table::TableSchema;
use crate::wire::{parse_wire, WriterSchemas};
use crate::DecodeError;

/// The stamps of one bronze row.
#[derive(Debug, Clone)]
pub struct AlertStamps {
    /// The alert's key (ZTF `candid`).
    pub key: i64,
    /// Observation night (days since 1970-01-01).
    pub night: i32,
    /// sha256 of the alert's Avro datum bytes (what "the same content" means).
    pub sha256: [u8; 32],
    /// Stamps in the survey's stamp order; `None` where the packet had none.
    pub stamps: Vec<Option<Stamp>>,
}

/// Where a stamp object goes: its key and full URI, from (night, alert key, stamp kind,
/// alert datum sha256). One function computes both, so the row's URI and the written
/// object always agree.
pub type StampLocation = Arc<dyn Fn(i32, i64, &str, &[u8; 32]) -> (String, String) + Send + Sync>;

/// Values shared by every row of a run.
#[derive(Clone)]
pub struct RowContext {
    /// Id of the ingest run.
    pub run_id: String,
    /// Ingestion time, microseconds since the Unix epoch (UTC).
    pub ingested_at_us: i64,
    /// Where each stamp object lives.
    pub stamp_location: StampLocation,
    /// The nights accepted: an alert dated outside is rejected (its member quarantined).
    pub nights: NightBounds,
    /// Writer schemas of wire-format packets, by schema id.
    pub writer_schemas: Arc<dyn WriterSchemas>,
}

/// A finished batch of bronze rows with their stamps (row-aligned).
#[derive(Debug)]
pub struct AlertBatch {
    /// The table schema the rows were built for.
    pub table: Arc<TableSchema>,
    /// The rows, in that schema's Arrow form.
    pub batch: RecordBatch,
    /// Stamps per row.
    pub stamps: Vec<AlertStamps>,
    /// Source members in this batch with their number of rows, in row order.
    pub members: Vec<(String, usize)>,
}

/// What adding a member did.
#[derive(Debug, Clone)]
pub enum Added {
    /// Its rows were added (how many).
    Rows(usize),
    /// Nothing was added: the table schema must change first. Apply the changes, then
    /// [`AlertBatchBuilder::set_table`] (after finishing the buffered rows) and add the
    /// member again.
    NeedsChanges {
        /// The writer schema.
        writer: Arc<WriterSchema>,
        /// What the table lacks.
        changes: Arc<Vec<SchemaChange>>,
    },
}

/// Accumulates decoded alerts as bronze columns.
pub struct AlertBatchBuilder {
    survey: Survey,
    table: Arc<TableSchema>,
    layout: Layout,
    cols: Vec<Col>,
    stamps: Vec<AlertStamps>,
    members: Vec<(String, usize)>,
    ctx: RowContext,
    cache: SchemaCache,
}

fn columns_for(table: &TableSchema) -> Result<Vec<Col>, DecodeError> {
    Ok(table
        .arrow
        .fields()
        .iter()
        .map(|f| Col::for_type(f.data_type()))
        .collect::<Result<_, _>>()?)
}

impl AlertBatchBuilder {
    /// Creates a builder for a survey's table schema.
    pub fn new(
        survey: Survey,
        table: Arc<TableSchema>,
        ctx: RowContext,
    ) -> Result<Self, DecodeError> {
        let layout = Layout::new(&survey, &table.arrow)?;
        let cols = columns_for(&table)?;
        Ok(AlertBatchBuilder {
            survey,
            table,
            layout,
            cols,
            stamps: Vec::new(),
            members: Vec::new(),
            ctx,
            cache: SchemaCache::default(),
        })
    }

    /// The table schema rows are built for.
    pub fn table(&self) -> &Arc<TableSchema> {
        &self.table
    }

    /// Builds further rows for another table schema. Only between batches: the buffered
    /// rows must have been finished.
    pub fn set_table(&mut self, table: Arc<TableSchema>) -> Result<(), DecodeError> {
        if !self.is_empty() {
            return Err(DecodeError::Schema(
                "table schema changed with rows still buffered".into(),
            ));
        }
        self.layout = Layout::new(&self.survey, &table.arrow)?;
        self.cols = columns_for(&table)?;
        self.table = table;
        Ok(())
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
    pub fn add_member(&mut self, source: &str, bytes: &bytes::Bytes) -> Result<Added, DecodeError> {
        let start = self.len();
        match self.add_member_inner(source, bytes) {
            Ok(Added::Rows(n)) => {
                self.members.push((source.to_string(), n));
                Ok(Added::Rows(n))
            }
            Ok(other) => Ok(other),
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
    ) -> Result<Added, DecodeError> {
        if let Some(wire) = parse_wire(bytes) {
            return self.add_wire(source, bytes, wire.id, wire.datum);
        }
        let container = parse_container(bytes)?;
        let resolved = match self.resolve(container.schema)? {
            Ok(r) => r,
            Err(needs) => return Ok(needs),
        };
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
                self.decode_alert(&resolved, &mut buf, source, &share)
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
        Ok(Added::Rows(n))
    }

    /// One datum in the Confluent wire format, its writer schema looked up by id.
    fn add_wire(
        &mut self,
        source: &str,
        bytes: &bytes::Bytes,
        id: u32,
        datum: &[u8],
    ) -> Result<Added, DecodeError> {
        crate::limits::begin_member(&crate::limits::current());
        let raw = self
            .ctx
            .writer_schemas
            .by_id(id)
            .map_err(DecodeError::Schema)?;
        let resolved = match self.resolve(&raw)? {
            Ok(r) => r,
            Err(needs) => return Ok(needs),
        };
        let mut buf = datum;
        self.decode_alert(&resolved, &mut buf, source, &|s| bytes.slice_ref(s))
            .map_err(|e| match e {
                DecodeError::Truncated => DecodeError::Invalid(format!(
                    "wire-format packet (schema id {id}): input ends inside a value (truncated)"
                )),
                other => other,
            })?;
        if !buf.is_empty() {
            return Err(DecodeError::Invalid(format!(
                "{} unread bytes after the wire-format datum (schema id {id})",
                buf.len()
            )));
        }
        Ok(Added::Rows(1))
    }

    /// The writer schema resolved onto the table, or what must happen first.
    fn resolve(&mut self, raw: &[u8]) -> Result<Result<Arc<Resolved>, Added>, DecodeError> {
        match self
            .cache
            .resolve(raw, &self.survey, &self.table, &self.layout)
        {
            Resolution::Ready(r) => Ok(Ok(r)),
            Resolution::Changes(writer, changes) => {
                Ok(Err(Added::NeedsChanges { writer, changes }))
            }
            Resolution::Rejected(reason) => Err(DecodeError::Schema(reason)),
        }
    }

    fn decode_alert(
        &mut self,
        resolved: &Resolved,
        buf: &mut &[u8],
        source: &str,
        share: &dyn Fn(&[u8]) -> bytes::Bytes,
    ) -> Result<(), DecodeError> {
        let mut slices = vec![None; self.survey.stamps.len()];
        let datum_start: &[u8] = buf;
        for op in &resolved.top {
            match op {
                TopOp::Column(idx, op) => decode(op, buf, self.cols.get_mut(*idx))?,
                TopOp::Stamp(kind, op) => {
                    if let Some(slot) = slices.get_mut(*kind) {
                        *slot = decode_stamp(op, buf)?;
                    }
                }
            }
        }
        for &i in &resolved.absent_top {
            self.cols[i].push_null();
        }
        let datum = &datum_start[..datum_start.len() - buf.len()];
        let sha256: [u8; 32] = Sha256::digest(datum).into();
        let l = &self.layout;
        if let (None, Some(path)) = (self.cols[l.key].last_i64(), &l.key_fallback) {
            // A writer schema without the top-level key (Rubin 7.x): fill it from the
            // field that holds the same id.
            if let Some(k) = nested(&self.cols, path).and_then(Col::last_i64) {
                let len = self.cols[l.key].len();
                self.cols[l.key].truncate(len.saturating_sub(1));
                self.cols[l.key].push_i64(k);
            }
        }
        let key = self.cols[l.key]
            .last_i64()
            .ok_or_else(|| DecodeError::Invalid(format!("{} is missing", self.survey.key)))?;
        if key <= 0 {
            return Err(DecodeError::Value(format!(
                "{} {key} is not a positive alert key",
                self.survey.key
            )));
        }
        let time = nested(&self.cols, &l.night_source).and_then(Col::last_f64);
        let path = || self.survey.night.path().join(".");
        let night = time
            .and_then(|t| self.survey.night.night(t))
            .ok_or_else(|| {
                DecodeError::Invalid(format!(
                    "{} is missing or not a usable time ({time:?})",
                    path()
                ))
            })?;
        let bounds = self.ctx.nights;
        if !bounds.contains(night) {
            return Err(DecodeError::Value(format!(
                "{} {} gives night {} outside the accepted nights {}..{} \
                 (ingest --first-night/--last-night)",
                path(),
                time.unwrap_or(f64::NAN),
                format_day(night),
                format_day(bounds.first),
                format_day(bounds.last)
            )));
        }
        let mut stamps = Vec::with_capacity(slices.len());
        for (i, slice) in slices.into_iter().enumerate() {
            match slice {
                Some((name, data)) => {
                    let (object_key, uri) =
                        (self.ctx.stamp_location)(night, key, self.survey.stamps[i].kind, &sha256);
                    self.cols[l.uri[i]].push_bytes(uri.as_bytes());
                    if let Some(cols) = &l.file_name {
                        match name {
                            Some(n) => self.cols[cols[i]].push_bytes(n),
                            None => {
                                self.cols[cols[i]].push_null();
                                true
                            }
                        };
                    }
                    stamps.push(Some(Stamp {
                        file_name: name.map(|n| String::from_utf8_lossy(n).into_owned()),
                        data: share(data),
                        key: object_key,
                    }));
                }
                None => {
                    self.cols[l.uri[i]].push_null();
                    if let Some(cols) = &l.file_name {
                        self.cols[cols[i]].push_null();
                    }
                    stamps.push(None);
                }
            }
        }
        if let Some(range) = &l.range {
            for &(offset, length) in range {
                self.cols[offset].push_null();
                self.cols[length].push_null();
            }
        }
        self.cols[l.night].push_i32(night);
        self.cols[l.source].push_bytes(source.as_bytes());
        self.cols[l.version].push_bytes(resolved.version.as_bytes());
        self.cols[l.run_id].push_bytes(self.ctx.run_id.as_bytes());
        self.cols[l.ingested_at].push_i64(self.ctx.ingested_at_us);
        self.cols[l.sha256].push_bytes(hex(&sha256).as_bytes());
        self.stamps.push(AlertStamps {
            key,
            night,
            sha256,
            stamps,
        });
        Ok(())
    }

    /// Builds the Arrow batch of the buffered rows and starts a new one.
    pub fn finish(&mut self) -> Result<AlertBatch, DecodeError> {
        let arrays = self
            .cols
            .iter_mut()
            .zip(self.table.arrow.fields().iter())
            .map(|(c, f)| c.finish(f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(self.table.arrow.clone(), arrays)?;
        Ok(AlertBatch {
            table: self.table.clone(),
            batch,
            stamps: std::mem::take(&mut self.stamps),
            members: std::mem::take(&mut self.members),
        })
    }

    /// Number of distinct writer schemas met so far.
    pub fn schemas_seen(&self) -> usize {
        self.cache.len()
    }
}

/// A (nested) column by its indices from the top level down.
fn nested<'a>(cols: &'a [Col], path: &[usize]) -> Option<&'a Col> {
    let (&first, rest) = path.split_first()?;
    let mut col = cols.get(first)?;
    for &i in rest {
        match col {
            Col::Struct(children, _) => col = children.get(i)?,
            _ => return None,
        }
    }
    Some(col)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn with_record(e: DecodeError, record: usize) -> DecodeError {
    match e {
        DecodeError::Truncated => DecodeError::Invalid(format!(
            "record {record}: input ends inside a value (truncated)"
        )),
        DecodeError::Invalid(s) => DecodeError::Invalid(format!("record {record}: {s}")),
        DecodeError::Value(s) => DecodeError::Value(format!("record {record}: {s}")),
        other => other,
    }
}
