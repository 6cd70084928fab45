//! Stamp fields: compiled per writer schema, decoded into zero-copy slices of the packet.

use apache_avro::Schema;
use ateda_schema::avro::Names;
use ateda_schema::StampLayout;

use crate::primitives::{read_bytes, read_long};
use crate::DecodeError;

/// One cutout stamp as carried by the packet.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The stamp's file name, where the survey's layout carries one (ZTF `fileName`).
    pub file_name: Option<String>,
    /// The exact stamp bytes (shares the packet's buffer).
    pub data: bytes::Bytes,
    /// Object key of the stamp (computed once, with the URI stored in the row).
    pub key: String,
}

/// How one stamp field of a writer schema is decoded.
#[derive(Debug, Clone)]
pub enum StampOp {
    /// No stamp.
    Null,
    /// A union: one op per branch.
    Union(Vec<StampOp>),
    /// A record of (part, how its value is read) in writer order.
    Record(Vec<(Part, Leaf)>),
    /// The stamp bytes themselves.
    Bytes,
}

/// A field of a stamp record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The file name.
    FileName,
    /// The stamp bytes.
    Data,
}

/// A string or bytes value, possibly in a union with null.
#[derive(Debug, Clone)]
pub enum Leaf {
    /// null
    Null,
    /// string or bytes
    Value,
    /// A union: one leaf per branch.
    Union(Vec<Leaf>),
}

fn leaf(schema: &Schema, path: &str) -> Result<Leaf, DecodeError> {
    Ok(match schema {
        Schema::Null => Leaf::Null,
        Schema::String | Schema::Bytes => Leaf::Value,
        Schema::Union(u) => Leaf::Union(
            u.variants()
                .iter()
                .map(|b| leaf(b, path))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(DecodeError::Schema(format!(
                "{path}: stamp part of type {other:?}"
            )))
        }
    })
}

/// Compiles the decoding of one stamp field for a survey's stamp layout.
pub fn compile_stamp(
    writer: &Schema,
    layout: StampLayout,
    names: &mut Names,
    path: &str,
) -> Result<StampOp, DecodeError> {
    names.register(writer);
    let writer = names
        .resolve(writer, path)
        .map_err(DecodeError::Schema)?
        .clone();
    Ok(match (&writer, layout) {
        (Schema::Null, _) => StampOp::Null,
        (Schema::Union(u), _) => StampOp::Union(
            u.variants()
                .iter()
                .map(|b| compile_stamp(b, layout, names, path))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Bytes, StampLayout::Bytes) => StampOp::Bytes,
        (Schema::Record(r), StampLayout::Record { file_name, data }) => {
            let mut parts = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let part = if f.name == file_name {
                    Part::FileName
                } else if f.name == data {
                    Part::Data
                } else {
                    return Err(DecodeError::Schema(format!(
                        "{path}.{}: stamp field has no bronze column",
                        f.name
                    )));
                };
                parts.push((part, leaf(&f.schema, &format!("{path}.{}", f.name))?));
            }
            StampOp::Record(parts)
        }
        (other, _) => {
            return Err(DecodeError::Schema(format!(
                "{path}: stamp of type {other:?}"
            )))
        }
    })
}

fn read_leaf<'a>(op: &Leaf, buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>, DecodeError> {
    match op {
        Leaf::Null => Ok(None),
        Leaf::Value => Ok(Some(read_bytes(buf)?)),
        Leaf::Union(branches) => {
            let idx = read_long(buf)?;
            let branch = usize::try_from(idx)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| DecodeError::Invalid(format!("union branch {idx} out of range")))?;
            read_leaf(branch, buf)
        }
    }
}

/// The stamp's file name and bytes, as slices of the input.
pub type StampSlices<'a> = Option<(Option<&'a [u8]>, &'a [u8])>;

/// Decodes one stamp field.
pub fn decode_stamp<'a>(op: &StampOp, buf: &mut &'a [u8]) -> Result<StampSlices<'a>, DecodeError> {
    match op {
        StampOp::Null => Ok(None),
        StampOp::Bytes => Ok(Some((None, read_bytes(buf)?))),
        StampOp::Union(branches) => {
            let idx = read_long(buf)?;
            let branch = usize::try_from(idx)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| {
                    DecodeError::Invalid(format!("stamp union branch {idx} out of range"))
                })?;
            decode_stamp(branch, buf)
        }
        StampOp::Record(parts) => {
            let (mut name, mut data) = (None, None);
            for (part, op) in parts {
                let v = read_leaf(op, buf)?;
                match part {
                    Part::FileName => name = v,
                    Part::Data => data = v,
                }
            }
            if let Some(n) = name {
                std::str::from_utf8(n).map_err(|e| {
                    DecodeError::Invalid(format!("stamp file name is not UTF-8: {e}"))
                })?;
            }
            // A stamp record without bytes holds no stamp.
            Ok(data.map(|d| (name, d)))
        }
    }
}
