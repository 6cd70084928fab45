//! Growable Arrow column buffers that can be rolled back to a row count.
//!
//! Decoding appends straight into these buffers; when a packet turns out to
//! be corrupt half-way, every column is truncated back to where the packet
//! started, so a bad packet never leaves partial rows behind.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeBinaryArray, ListArray, MapArray, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, TimeUnit};

/// A column under construction, shaped like an Arrow `DataType`.
#[derive(Debug)]
pub enum Col {
    /// Boolean values.
    Bool(BooleanBufferBuilder, Validity),
    /// 32-bit integers (Int32, Date32).
    I32(Vec<i32>, Validity),
    /// 64-bit integers (Int64, Timestamp).
    I64(Vec<i64>, Validity),
    /// 32-bit floats, stored bit for bit.
    F32(Vec<f32>, Validity),
    /// 64-bit floats, stored bit for bit.
    F64(Vec<f64>, Validity),
    /// UTF-8 strings or binary: offsets and data.
    Bytes(Vec<i64>, Vec<u8>, Validity),
    /// A struct of child columns.
    Struct(Vec<Col>, Validity),
    /// A list: offsets into a child column.
    List(Vec<i32>, Box<Col>, Validity),
}

/// Validity bitmap plus length.
#[derive(Debug)]
pub struct Validity(BooleanBufferBuilder);

impl Validity {
    fn new() -> Self {
        Validity(BooleanBufferBuilder::new(1024))
    }
    /// Marks the next row valid.
    #[inline]
    pub fn push_valid(&mut self) {
        self.0.append(true);
    }
    #[inline]
    fn push(&mut self, valid: bool) {
        self.0.append(valid);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
    fn finish(&mut self) -> Option<NullBuffer> {
        let nulls = NullBuffer::new(self.0.finish());
        (nulls.null_count() > 0).then_some(nulls)
    }
}

/// Error raised when a column cannot be built for a data type.
pub fn unsupported(dt: &DataType) -> ArrowError {
    ArrowError::SchemaError(format!(
        "bronze column type {dt} is not supported by the decoder"
    ))
}

impl Col {
    /// Creates an empty column for an Arrow data type.
    pub fn for_type(dt: &DataType) -> Result<Col, ArrowError> {
        Ok(match dt {
            DataType::Boolean => Col::Bool(BooleanBufferBuilder::new(1024), Validity::new()),
            DataType::Int32 | DataType::Date32 => Col::I32(Vec::new(), Validity::new()),
            DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Col::I64(Vec::new(), Validity::new())
            }
            DataType::Float32 => Col::F32(Vec::new(), Validity::new()),
            DataType::Float64 => Col::F64(Vec::new(), Validity::new()),
            DataType::Utf8 | DataType::LargeBinary => {
                Col::Bytes(vec![0], Vec::new(), Validity::new())
            }
            DataType::Struct(fields) => Col::Struct(
                fields
                    .iter()
                    .map(|f| Col::for_type(f.data_type()))
                    .collect::<Result<_, _>>()?,
                Validity::new(),
            ),
            // A map has a list's layout: offsets into a struct of (key, value) entries.
            DataType::List(item) | DataType::Map(item, _) => Col::List(
                vec![0],
                Box::new(Col::for_type(item.data_type())?),
                Validity::new(),
            ),
            other => return Err(unsupported(other)),
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Col::Bool(_, v)
            | Col::I32(_, v)
            | Col::I64(_, v)
            | Col::F32(_, v)
            | Col::F64(_, v)
            | Col::Bytes(_, _, v)
            | Col::Struct(_, v)
            | Col::List(_, _, v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a null row.
    pub fn push_null(&mut self) {
        match self {
            Col::Bool(b, v) => {
                b.append(false);
                v.push(false);
            }
            Col::I32(x, v) => {
                x.push(0);
                v.push(false);
            }
            Col::I64(x, v) => {
                x.push(0);
                v.push(false);
            }
            Col::F32(x, v) => {
                x.push(0.0);
                v.push(false);
            }
            Col::F64(x, v) => {
                x.push(0.0);
                v.push(false);
            }
            Col::Bytes(o, d, v) => {
                o.push(d.len() as i64);
                v.push(false);
            }
            Col::Struct(children, v) => {
                for c in children {
                    c.push_null();
                }
                v.push(false);
            }
            Col::List(o, _, v) => {
                let last = o.last().copied().unwrap_or(0);
                o.push(last);
                v.push(false);
            }
        }
    }

    /// Appends a valid i32.
    pub fn push_i32(&mut self, value: i32) -> bool {
        match self {
            Col::I32(x, v) => {
                x.push(value);
                v.push(true);
                true
            }
            _ => false,
        }
    }

    /// Appends a valid i64.
    pub fn push_i64(&mut self, value: i64) -> bool {
        match self {
            Col::I64(x, v) => {
                x.push(value);
                v.push(true);
                true
            }
            _ => false,
        }
    }

    /// Appends valid bytes (a string or binary value).
    pub fn push_bytes(&mut self, value: &[u8]) -> bool {
        match self {
            Col::Bytes(o, d, v) => {
                d.extend_from_slice(value);
                o.push(d.len() as i64);
                v.push(true);
                true
            }
            _ => false,
        }
    }

    /// Rolls the column back to `len` rows.
    pub fn truncate(&mut self, len: usize) {
        match self {
            Col::Bool(b, v) => {
                b.truncate(len);
                v.truncate(len);
            }
            Col::I32(x, v) => {
                x.truncate(len);
                v.truncate(len);
            }
            Col::I64(x, v) => {
                x.truncate(len);
                v.truncate(len);
            }
            Col::F32(x, v) => {
                x.truncate(len);
                v.truncate(len);
            }
            Col::F64(x, v) => {
                x.truncate(len);
                v.truncate(len);
            }
            Col::Bytes(o, d, v) => {
                o.truncate(len + 1);
                if let Some(&end) = o.last() {
                    d.truncate(end as usize);
                }
                v.truncate(len);
            }
            Col::Struct(children, v) => {
                for c in children {
                    c.truncate(len);
                }
                v.truncate(len);
            }
            Col::List(o, child, v) => {
                o.truncate(len + 1);
                if let Some(&end) = o.last() {
                    child.truncate(end as usize);
                }
                v.truncate(len);
            }
        }
    }

    /// Last value of an f64 column, if valid.
    pub fn last_f64(&self) -> Option<f64> {
        match self {
            Col::F64(x, v) if v.len() > 0 && v.0.get_bit(v.len() - 1) => x.last().copied(),
            _ => None,
        }
    }

    /// Last value of an i64 column, if valid.
    pub fn last_i64(&self) -> Option<i64> {
        match self {
            Col::I64(x, v) if v.len() > 0 && v.0.get_bit(v.len() - 1) => x.last().copied(),
            _ => None,
        }
    }

    /// Builds the Arrow array and resets the column to empty.
    pub fn finish(&mut self, dt: &DataType) -> Result<ArrayRef, ArrowError> {
        Ok(match (self, dt) {
            (Col::Bool(b, v), DataType::Boolean) => {
                Arc::new(BooleanArray::new(b.finish(), v.finish()))
            }
            (Col::I32(x, v), DataType::Int32) => Arc::new(Int32Array::new(
                ScalarBuffer::from(std::mem::take(x)),
                v.finish(),
            )),
            (Col::I32(x, v), DataType::Date32) => Arc::new(Date32Array::new(
                ScalarBuffer::from(std::mem::take(x)),
                v.finish(),
            )),
            (Col::I64(x, v), DataType::Int64) => Arc::new(Int64Array::new(
                ScalarBuffer::from(std::mem::take(x)),
                v.finish(),
            )),
            (Col::I64(x, v), DataType::Timestamp(TimeUnit::Microsecond, tz)) => Arc::new(
                TimestampMicrosecondArray::new(ScalarBuffer::from(std::mem::take(x)), v.finish())
                    .with_timezone_opt(tz.clone()),
            ),
            (Col::F32(x, v), DataType::Float32) => Arc::new(Float32Array::new(
                ScalarBuffer::from(std::mem::take(x)),
                v.finish(),
            )),
            (Col::F64(x, v), DataType::Float64) => Arc::new(Float64Array::new(
                ScalarBuffer::from(std::mem::take(x)),
                v.finish(),
            )),
            (Col::Bytes(o, d, v), DataType::Utf8) => {
                let offsets: Vec<i32> = o
                    .iter()
                    .map(|&x| i32::try_from(x))
                    .collect::<Result<_, _>>()
                    .map_err(|_| ArrowError::ComputeError("string column over 2 GiB".into()))?;
                *o = vec![0];
                let data = std::mem::take(d);
                // Every value was checked as UTF-8 when it was decoded.
                Arc::new(StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    data.into(),
                    v.finish(),
                )?)
            }
            (Col::Bytes(o, d, v), DataType::LargeBinary) => {
                let offsets = std::mem::replace(o, vec![0]);
                Arc::new(LargeBinaryArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    std::mem::take(d).into(),
                    v.finish(),
                )?)
            }
            (Col::Struct(children, v), DataType::Struct(fields)) => {
                let arrays = children
                    .iter_mut()
                    .zip(fields.iter())
                    .map(|(c, f)| c.finish(f.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, v.finish())?)
            }
            (Col::List(o, child, v), DataType::List(item)) => {
                let offsets = std::mem::replace(o, vec![0]);
                let values = child.finish(item.data_type())?;
                Arc::new(ListArray::try_new(
                    item.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    v.finish(),
                )?)
            }
            (Col::List(o, child, v), DataType::Map(entries, sorted)) => {
                let offsets = std::mem::replace(o, vec![0]);
                let values = child.finish(entries.data_type())?;
                let values = values
                    .as_any()
                    .downcast_ref::<StructArray>()
                    .ok_or_else(|| unsupported(dt))?
                    .clone();
                Arc::new(MapArray::try_new(
                    entries.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    v.finish(),
                    *sorted,
                )?)
            }
            (_, dt) => return Err(unsupported(dt)),
        })
    }
}
