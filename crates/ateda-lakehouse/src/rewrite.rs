//! Rewriting a run's own uncommitted data files without some keys: the rare path of
//! exactly-once, when a concurrent writer committed some of the same keys first.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, Int64Array, RecordBatch};
use iceberg::spec::{DataFile, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use crate::error::{ice, LakehouseError};
use crate::{BronzeTable, Lakehouse};

/// Rows taken out of a run's files by [`Lakehouse::rewrite_without`].
pub struct Rewritten {
    /// The files to commit instead.
    pub files: Vec<DataFile>,
    /// The rows taken out, in the files' Arrow schema.
    pub dropped: Vec<RecordBatch>,
}

impl Lakehouse {
    /// Rewrites uncommitted data files of the alerts table (written with `schema`)
    /// without the rows whose key `drop` selects, deletes the old files and returns the
    /// new ones with the rows taken out. Reads each file whole: meant for the rare
    /// concurrent-overlap path, not for bulk work.
    pub async fn rewrite_without(
        &self,
        schema: Arc<Schema>,
        files: Vec<DataFile>,
        file_prefix: &str,
        drop: impl Fn(i64) -> bool,
    ) -> Result<Rewritten, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let io = table.file_io().clone();
        let mut writer = crate::writer::data_writer(&table, schema, file_prefix).await?;
        let mut dropped = Vec::new();
        let key = self.survey.key;
        let bad = |path: &str, e: &dyn std::fmt::Display| LakehouseError::Schema {
            table: self.name(BronzeTable::Alerts).to_string(),
            reason: format!("rewriting {path}: {e}"),
        };
        for f in &files {
            let path = f.file_path();
            let bytes = io
                .new_input(path)
                .map_err(ice(format!("opening {path}")))?
                .read()
                .await
                .map_err(ice(format!("reading {path}")))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| bad(path, &e))?;
            for batch in reader {
                let batch = batch.map_err(|e| bad(path, &e))?;
                let keys = batch
                    .column_by_name(key)
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                    .ok_or_else(|| bad(path, &format!("no {key} column")))?;
                let gone: Vec<bool> = (0..keys.len())
                    .map(|i| keys.is_valid(i) && drop(keys.value(i)))
                    .collect();
                let keep = BooleanArray::from(gone.iter().map(|g| !g).collect::<Vec<_>>());
                let out = BooleanArray::from(gone);
                let kept = arrow_select::filter::filter_record_batch(&batch, &keep)
                    .map_err(|e| bad(path, &e))?;
                let gone = arrow_select::filter::filter_record_batch(&batch, &out)
                    .map_err(|e| bad(path, &e))?;
                writer.write(&kept).await?;
                if gone.num_rows() > 0 {
                    dropped.push(gone);
                }
            }
        }
        let new_files = writer.close().await?;
        for f in &files {
            io.delete(f.file_path())
                .await
                .map_err(ice(format!("deleting {}", f.file_path())))?;
        }
        Ok(Rewritten {
            files: new_files,
            dropped,
        })
    }
}

/// Rows as one Parquet file in memory (to keep them in quarantine).
pub fn parquet_bytes(batches: &[RecordBatch]) -> Result<Vec<u8>, LakehouseError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let err = |e: parquet::errors::ParquetError| LakehouseError::Config(e.to_string());
    let mut w = ArrowWriter::try_new(Vec::new(), first.schema(), None).map_err(err)?;
    for b in batches {
        w.write(b).map_err(err)?;
    }
    w.into_inner().map_err(err)
}
