//! Parquet data files for a table, partitioned by the table's spec.

use std::sync::Arc;

use arrow_array::RecordBatch;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, Schema};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{ice, LakehouseError};

/// Starts writing data files for `table` with rows in `schema` (the table's current
/// schema, or an older one of its schemas: files written with an older schema are read
/// through the current one by field id, as after any schema evolution).
pub(crate) async fn data_writer(
    table: &Table,
    schema: Arc<Schema>,
    file_prefix: &str,
) -> Result<DataWriter, LakehouseError> {
    let meta = table.metadata();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| LakehouseError::Config(e.to_string()))?,
        ))
        .set_max_row_group_row_count(Some(16_384))
        .build();
    let location = DefaultLocationGenerator::new(meta).map_err(ice("location generator"))?;
    let names =
        DefaultFileNameGenerator::new(file_prefix.to_string(), None, DataFileFormat::Parquet);
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema.clone()),
        512 * 1024 * 1024,
        table.file_io().clone(),
        location,
        names,
    );
    let spec = meta.default_partition_spec().clone();
    let builder = DataFileWriterBuilder::new(rolling);
    let inner = if spec.is_unpartitioned() {
        Inner::Plain(Box::new(
            builder.build(None).await.map_err(ice("data file writer"))?,
        ))
    } else {
        let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)
            .map_err(ice("partition splitter"))?;
        Inner::Partitioned(Box::new((FanoutWriter::new(builder), splitter)))
    };
    Ok(DataWriter { inner, rows: 0 })
}

/// Writes record batches into Parquet data files of one table.
pub struct DataWriter {
    inner: Inner,
    rows: usize,
}

type FileBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

enum Inner {
    Partitioned(Box<(FanoutWriter<FileBuilder>, RecordBatchPartitionSplitter)>),
    Plain(Box<<FileBuilder as IcebergWriterBuilder>::R>),
}

impl DataWriter {
    /// Writes a batch (split by partition).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), LakehouseError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match &mut self.inner {
            Inner::Partitioned(p) => {
                let (fanout, splitter) = &mut **p;
                for (key, part) in splitter
                    .split(batch)
                    .map_err(ice("splitting by partition"))?
                {
                    fanout
                        .write(key, part)
                        .await
                        .map_err(ice("writing parquet"))?;
                }
            }
            Inner::Plain(w) => w
                .write(batch.clone())
                .await
                .map_err(ice("writing parquet"))?,
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Finishes the files and returns them for a commit.
    pub async fn close(self) -> Result<Vec<DataFile>, LakehouseError> {
        match self.inner {
            Inner::Partitioned(p) => p.0.close().await,
            Inner::Plain(mut w) => w.close().await,
        }
        .map_err(ice("closing parquet files"))
    }
}
