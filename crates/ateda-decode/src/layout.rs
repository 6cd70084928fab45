//! Positions of the columns the row builder fills itself, for one survey and table schema.

use arrow_schema::{DataType, SchemaRef};
use ateda_schema::{columns, StampLayout, Survey};

use crate::DecodeError;

/// Column positions of one table schema.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The key column (top level).
    pub key: usize,
    /// Indices from the top level down to the time the night is derived from.
    pub night_source: Vec<usize>,
    /// Indices from the top level down to the field the key is read from when a writer
    /// schema has no top-level key ([`Survey::key_fallback`]).
    pub key_fallback: Option<Vec<usize>>,
    /// Stamp URI columns, in survey stamp order.
    pub uri: Vec<usize>,
    /// Stamp byte-range columns (offset, length), in survey stamp order: null for every
    /// row the builder makes (the packed layout's sink fills them); `None` on a table
    /// made before they existed.
    pub range: Option<Vec<(usize, usize)>>,
    /// Stamp file-name columns, where the survey's layout has them.
    pub file_name: Option<Vec<usize>>,
    /// The night column.
    pub night: usize,
    /// `ingest_source`.
    pub source: usize,
    /// `ingest_schema_version`.
    pub version: usize,
    /// `ingest_run_id`.
    pub run_id: usize,
    /// `ingested_at`.
    pub ingested_at: usize,
    /// `ingest_alert_sha256`.
    pub sha256: usize,
}

fn index(schema: &SchemaRef, name: &str) -> Result<usize, DecodeError> {
    schema
        .index_of(name)
        .map_err(|_| DecodeError::Schema(format!("bronze table has no column {name}")))
}

/// Indices from the top level down to a nested field of the expected leaf type.
fn path_indices(
    schema: &SchemaRef,
    path: &[&str],
    leaf: &DataType,
) -> Result<Vec<usize>, DecodeError> {
    let mut indices = Vec::with_capacity(path.len());
    let mut fields = schema.fields().clone();
    for (depth, name) in path.iter().enumerate() {
        let (i, f) = fields.find(name).ok_or_else(|| {
            DecodeError::Schema(format!(
                "bronze table has no column {}",
                path[..=depth].join(".")
            ))
        })?;
        indices.push(i);
        match f.data_type() {
            DataType::Struct(children) if depth + 1 < path.len() => fields = children.clone(),
            dt if depth + 1 == path.len() && dt == leaf => {}
            other => {
                return Err(DecodeError::Schema(format!(
                    "bronze column {} is {other}, not {leaf}",
                    path[..=depth].join(".")
                )))
            }
        }
    }
    Ok(indices)
}

impl Layout {
    /// Finds the columns of `survey` in `schema`.
    pub fn new(survey: &Survey, schema: &SchemaRef) -> Result<Layout, DecodeError> {
        let night_source = path_indices(schema, survey.night.path(), &DataType::Float64)?;
        let key_fallback = survey
            .key_fallback
            .map(|p| path_indices(schema, p, &DataType::Int64))
            .transpose()?;
        let uri = survey
            .stamps
            .iter()
            .map(|s| index(schema, &columns::cutout_uri(s.kind)))
            .collect::<Result<_, _>>()?;
        let range = survey
            .stamps
            .iter()
            .map(|s| {
                let offset = schema.index_of(&columns::cutout_offset(s.kind)).ok()?;
                let length = schema.index_of(&columns::cutout_length(s.kind)).ok()?;
                Some((offset, length))
            })
            .collect::<Option<Vec<_>>>();
        let file_name = match survey.stamp_layout {
            StampLayout::Record { .. } => Some(
                survey
                    .stamps
                    .iter()
                    .map(|s| index(schema, &columns::cutout_file_name(s.kind)))
                    .collect::<Result<_, _>>()?,
            ),
            StampLayout::Bytes => None,
        };
        Ok(Layout {
            key: index(schema, survey.key)?,
            night_source,
            key_fallback,
            uri,
            range,
            file_name,
            night: index(schema, columns::NIGHT)?,
            source: index(schema, columns::INGEST_SOURCE)?,
            version: index(schema, columns::INGEST_SCHEMA_VERSION)?,
            run_id: index(schema, columns::INGEST_RUN_ID)?,
            ingested_at: index(schema, columns::INGESTED_AT)?,
            sha256: index(schema, columns::INGEST_ALERT_SHA256)?,
        })
    }

    /// Every column the builder fills itself.
    pub fn filled(&self) -> Vec<usize> {
        let mut v = vec![
            self.night,
            self.source,
            self.version,
            self.run_id,
            self.ingested_at,
            self.sha256,
        ];
        v.extend(&self.uri);
        if let Some(r) = &self.range {
            v.extend(r.iter().flat_map(|&(o, l)| [o, l]));
        }
        if let Some(f) = &self.file_name {
            v.extend(f);
        }
        v
    }
}
