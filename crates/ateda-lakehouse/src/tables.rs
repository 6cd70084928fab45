//! The three bronze tables, their schemas and row types.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::SchemaRef;
use iceberg::spec::{
    NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Transform, Type,
    UnboundPartitionSpec,
};
use iceberg::transaction::AddColumn;
use iceberg::TableIdent;

use crate::{ident, LakehouseError};

/// The bronze tables written by `ateda ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BronzeTable {
    /// `bronze.alerts`: one row per alert packet.
    Alerts,
    /// `bronze.ingest_ledger`: one row per ingested source member.
    Ledger,
    /// `bronze.quarantine`: one row per rejected member.
    Quarantine,
}

fn field(id: i32, name: &str, ty: PrimitiveType, doc: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(ty))
        .with_doc(doc)
        .into()
}

impl BronzeTable {
    /// Every bronze table.
    pub const ALL: [BronzeTable; 3] = [
        BronzeTable::Alerts,
        BronzeTable::Ledger,
        BronzeTable::Quarantine,
    ];

    /// Table name within the `bronze` namespace.
    pub fn name(self) -> &'static str {
        match self {
            BronzeTable::Alerts => "alerts",
            BronzeTable::Ledger => "ingest_ledger",
            BronzeTable::Quarantine => "quarantine",
        }
    }

    /// Table identifier.
    pub fn ident(self) -> TableIdent {
        ident(self.name())
    }

    /// Target schema of the table.
    pub fn schema(self) -> Result<Schema, LakehouseError> {
        let bad = |e: String| LakehouseError::Schema {
            table: self.name().to_string(),
            reason: e,
        };
        let fields = match self {
            BronzeTable::Alerts => {
                return ateda_ztf_schema::bronze_alerts_schema().map_err(|e| bad(e.to_string()))
            }
            BronzeTable::Ledger => vec![
                field(1, "run_id", PrimitiveType::String, "ingest run id"),
                field(
                    2,
                    "source",
                    PrimitiveType::String,
                    "file path, or tarball path!member",
                ),
                field(
                    3,
                    "alerts",
                    PrimitiveType::Long,
                    "alerts decoded from the member",
                ),
                field(
                    4,
                    "ingested",
                    PrimitiveType::Long,
                    "alerts added to bronze.alerts by this run",
                ),
                field(
                    5,
                    "already_present",
                    PrimitiveType::Long,
                    "alerts skipped because their candid was already stored",
                ),
                field(
                    6,
                    "snapshot_id",
                    PrimitiveType::Long,
                    "bronze.alerts snapshot that added the rows (null if none were added)",
                ),
                field(
                    7,
                    "recorded_at",
                    PrimitiveType::Timestamptz,
                    "when the ledger row was written",
                ),
            ],
            BronzeTable::Quarantine => vec![
                field(1, "run_id", PrimitiveType::String, "ingest run id"),
                field(
                    2,
                    "source",
                    PrimitiveType::String,
                    "file path, or tarball path!member",
                ),
                field(
                    3,
                    "reason",
                    PrimitiveType::String,
                    "why the member was rejected",
                ),
                field(
                    4,
                    "size_bytes",
                    PrimitiveType::Long,
                    "bytes kept for the member",
                ),
                field(
                    5,
                    "sha256",
                    PrimitiveType::String,
                    "sha256 of the kept bytes",
                ),
                field(
                    6,
                    "quarantine_uri",
                    PrimitiveType::String,
                    "URI of the kept bytes",
                ),
                field(
                    7,
                    "recorded_at",
                    PrimitiveType::Timestamptz,
                    "when the member was quarantined",
                ),
            ],
        };
        Schema::builder()
            .with_fields(fields)
            .build()
            .map_err(|e| bad(e.to_string()))
    }

    /// Partition spec: `bronze.alerts` by identity(night); the others unpartitioned.
    pub fn partition_spec(
        self,
        schema: &Schema,
    ) -> Result<Option<UnboundPartitionSpec>, LakehouseError> {
        if self != BronzeTable::Alerts {
            return Ok(None);
        }
        let night = schema
            .field_by_name(ateda_ztf_schema::NIGHT_COLUMN)
            .ok_or_else(|| LakehouseError::Config("alerts schema has no night column".into()))?;
        let spec = UnboundPartitionSpec::builder()
            .add_partition_field(
                night.id,
                ateda_ztf_schema::NIGHT_COLUMN,
                Transform::Identity,
            )
            .map_err(|cause| LakehouseError::Iceberg {
                what: "partition spec".into(),
                cause: Box::new(cause),
            })?
            .build();
        Ok(Some(spec))
    }
}

/// Columns of `wanted` that `current` lacks, as schema-evolution additions
/// (nested fields included). A type change is an error: bronze never
/// rewrites history.
pub fn missing_columns(wanted: &Schema, current: &Schema) -> Result<Vec<AddColumn>, String> {
    let mut out = Vec::new();
    diff_struct(wanted.as_struct(), current.as_struct(), None, &mut out)?;
    Ok(out)
}

fn diff_struct(
    wanted: &StructType,
    current: &StructType,
    parent: Option<&str>,
    out: &mut Vec<AddColumn>,
) -> Result<(), String> {
    for w in wanted.fields() {
        let path = match parent {
            Some(p) => format!("{p}.{}", w.name),
            None => w.name.clone(),
        };
        match current.field_by_name(&w.name) {
            None => {
                let add = match (parent, &w.doc) {
                    (Some(p), Some(doc)) => AddColumn::builder()
                        .parent(p)
                        .name(w.name.clone())
                        .field_type((*w.field_type).clone())
                        .doc(doc.clone())
                        .build(),
                    (Some(p), None) => AddColumn::builder()
                        .parent(p)
                        .name(w.name.clone())
                        .field_type((*w.field_type).clone())
                        .build(),
                    (None, Some(doc)) => AddColumn::builder()
                        .name(w.name.clone())
                        .field_type((*w.field_type).clone())
                        .doc(doc.clone())
                        .build(),
                    (None, None) => AddColumn::optional(w.name.clone(), (*w.field_type).clone()),
                };
                out.push(add);
            }
            Some(c) => match (&*w.field_type, &*c.field_type) {
                (Type::Struct(ws), Type::Struct(cs)) => diff_struct(ws, cs, Some(&path), out)?,
                (Type::List(wl), Type::List(cl)) => {
                    match (&*wl.element_field.field_type, &*cl.element_field.field_type) {
                        (Type::Struct(ws), Type::Struct(cs)) => {
                            diff_struct(ws, cs, Some(&format!("{path}.element")), out)?
                        }
                        (a, b) if a == b => {}
                        (a, b) => {
                            return Err(format!("{path}: list element type {b} cannot become {a}"))
                        }
                    }
                }
                (Type::Primitive(a), Type::Primitive(b)) if a == b => {}
                (a, b) => {
                    return Err(format!(
                        "{path}: existing type {b} differs from expected {a}"
                    ))
                }
            },
        }
    }
    Ok(())
}

/// One `bronze.ingest_ledger` row.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    /// Run id.
    pub run_id: String,
    /// Source member.
    pub source: String,
    /// Alerts decoded.
    pub alerts: i64,
    /// Alerts added.
    pub ingested: i64,
    /// Alerts already stored.
    pub already_present: i64,
    /// Snapshot that added them.
    pub snapshot_id: Option<i64>,
    /// Microseconds since epoch.
    pub recorded_at_us: i64,
}

/// One `bronze.quarantine` row.
#[derive(Debug, Clone)]
pub struct QuarantineRow {
    /// Run id.
    pub run_id: String,
    /// Source member.
    pub source: String,
    /// Why it was rejected.
    pub reason: String,
    /// Bytes kept.
    pub size_bytes: i64,
    /// sha256 hex of the bytes.
    pub sha256: String,
    /// Where the bytes are.
    pub quarantine_uri: String,
    /// Microseconds since epoch.
    pub recorded_at_us: i64,
}

fn strings<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn timestamps(v: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(v).with_timezone("+00:00"))
}

/// Arrow batch of ledger rows in the table's Arrow schema.
pub fn ledger_batch(
    schema: SchemaRef,
    rows: &[LedgerRow],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.run_id.as_str())),
        strings(rows.iter().map(|r| r.source.as_str())),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.alerts))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.ingested),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.already_present),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.snapshot_id))),
        timestamps(rows.iter().map(|r| r.recorded_at_us)),
    ];
    RecordBatch::try_new(schema, cols)
}

/// Arrow batch of quarantine rows in the table's Arrow schema.
pub fn quarantine_batch(
    schema: SchemaRef,
    rows: &[QuarantineRow],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.run_id.as_str())),
        strings(rows.iter().map(|r| r.source.as_str())),
        strings(rows.iter().map(|r| r.reason.as_str())),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.size_bytes),
        )),
        strings(rows.iter().map(|r| r.sha256.as_str())),
        strings(rows.iter().map(|r| r.quarantine_uri.as_str())),
        timestamps(rows.iter().map(|r| r.recorded_at_us)),
    ];
    RecordBatch::try_new(schema, cols)
}
