//! The packed layout's part of the sink: a batch's stamps appended to the survey's packs
//! and the rows' stamp columns pointed at them (pack URI, offset, length).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, LargeStringArray, RecordBatch, StringArray};
use arrow_schema::DataType;
use ateda_objects::Packs;
use ateda_schema::{columns, Survey};

use crate::counters::{add, Live};
use crate::worker::RowStamps;
use crate::IngestError;

/// Appends the stamps of `rows` (aligned with `batch`'s rows) to `packs` and returns the
/// batch with each kind's URI, offset and length columns set to where they were packed.
pub(crate) async fn pack_batch(
    packs: &mut Packs,
    survey: &Survey,
    batch: RecordBatch,
    rows: Vec<RowStamps>,
    live: &Live,
) -> Result<RecordBatch, IngestError> {
    if rows.len() != batch.num_rows() {
        return Err(IngestError::Internal(format!(
            "{} rows but stamps of {}",
            batch.num_rows(),
            rows.len()
        )));
    }
    let kinds = survey.stamps.len();
    let mut uris: Vec<Vec<Option<Arc<str>>>> = vec![Vec::with_capacity(rows.len()); kinds];
    let mut offsets: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(rows.len()); kinds];
    let mut lengths: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(rows.len()); kinds];
    let mut packed = 0;
    for row in rows {
        for k in 0..kinds {
            match row.stamps.get(k).cloned().flatten() {
                Some(data) => {
                    let at = packs.append(row.night, data).await?;
                    uris[k].push(Some(at.uri));
                    offsets[k].push(Some(at.offset as i64));
                    lengths[k].push(Some(at.length as i64));
                    packed += 1;
                }
                None => {
                    uris[k].push(None);
                    offsets[k].push(None);
                    lengths[k].push(None);
                }
            }
        }
    }
    add(&live.cutouts_written, packed);
    let schema = batch.schema();
    let index = |name: String| {
        schema.index_of(&name).map_err(|_| {
            IngestError::Layout(format!(
                "the packed layout needs column {name}, which the table lacks"
            ))
        })
    };
    let mut columns = batch.columns().to_vec();
    for (k, s) in survey.stamps.iter().enumerate() {
        let u = index(columns::cutout_uri(s.kind))?;
        columns[u] = match schema.field(u).data_type() {
            DataType::Utf8 => Arc::new(
                uris[k]
                    .iter()
                    .map(|o| o.as_deref())
                    .collect::<StringArray>(),
            ),
            DataType::LargeUtf8 => Arc::new(
                uris[k]
                    .iter()
                    .map(|o| o.as_deref())
                    .collect::<LargeStringArray>(),
            ) as ArrayRef,
            other => {
                return Err(IngestError::Layout(format!(
                    "column {} is {other}, not a string",
                    columns::cutout_uri(s.kind)
                )))
            }
        };
        let o = index(columns::cutout_offset(s.kind))?;
        columns[o] = Arc::new(Int64Array::from(std::mem::take(&mut offsets[k])));
        let l = index(columns::cutout_length(s.kind))?;
        columns[l] = Arc::new(Int64Array::from(std::mem::take(&mut lengths[k])));
    }
    RecordBatch::try_new(schema, columns)
        .map_err(|e| IngestError::Layout(format!("pointing rows at their packs: {e}")))
}
