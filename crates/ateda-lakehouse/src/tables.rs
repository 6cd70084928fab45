//! The three bronze tables, their schemas and row types.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::SchemaRef;
use ateda_schema::Survey;
use iceberg::spec::{
    NestedField, NestedFieldRef, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
};

use crate::LakehouseError;

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

    /// Table name within the `bronze` namespace (the alerts table is named by its survey).
    pub fn name(self, survey: &Survey) -> &'static str {
        match self {
            BronzeTable::Alerts => survey.table,
            BronzeTable::Ledger => "ingest_ledger",
            BronzeTable::Quarantine => "quarantine",
        }
    }

    /// The schema a new table starts with.
    pub fn bootstrap_schema(self, survey: &Survey) -> Result<Schema, LakehouseError> {
        let bad = |e: String| LakehouseError::Schema {
            table: self.name(survey).to_string(),
            reason: e,
        };
        let fields = match self {
            BronzeTable::Alerts => {
                return ateda_schema::bootstrap_schema(survey).map_err(|e| bad(e.to_string()))
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
            .field_by_name(ateda_schema::columns::NIGHT)
            .ok_or_else(|| LakehouseError::Config("alerts schema has no night column".into()))?;
        let spec = UnboundPartitionSpec::builder()
            .add_partition_field(night.id, ateda_schema::columns::NIGHT, Transform::Identity)
            .map_err(|cause| LakehouseError::Iceberg {
                what: "partition spec".into(),
                cause: Box::new(cause),
            })?
            .build();
        Ok(Some(spec))
    }
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
