//! Decoding ops: a writer schema resolved once onto a table schema.
//!
//! The ops walk the Avro binary encoding of one datum and append each value straight
//! into the matching bronze column, resolving the writer's schema onto the table's by
//! field name (Avro schema resolution): unions in any branch order, fields the writer
//! lacks become null, `int`->`long` and `float`->`double` promotions. A writer field the
//! table does not have is an error, never a silent drop (the schema diff adds such
//! columns to the table before any packet is resolved onto it).

use apache_avro::Schema;
use arrow_schema::{DataType, Fields, TimeUnit};
use ateda_schema::avro::Names;

use crate::columns::Col;
use crate::limits;
use crate::primitives::{read_bytes, read_fixed, read_int, read_long};
use crate::DecodeError;

/// One decoding step.
#[derive(Debug, Clone)]
pub enum Op {
    /// The `null` type: nothing encoded.
    Null,
    /// boolean
    Bool,
    /// int into an int column
    Int,
    /// int promoted into a long column
    IntToLong,
    /// long
    Long,
    /// float (bit for bit)
    Float,
    /// float promoted into a double column
    FloatToDouble,
    /// double (bit for bit)
    Double,
    /// UTF-8 string (validated)
    Str,
    /// raw bytes
    Bytes,
    /// A record: each writer field with the index of its target child, and
    /// the target children the writer lacks (filled with null).
    Record(Vec<(Op, Option<usize>)>, Vec<usize>),
    /// An array of items.
    Array(Box<Op>),
    /// A union: one op per branch, all writing into the same column.
    Union(Vec<Op>),
    /// An enum, stored by symbol.
    Enum(Vec<String>),
    /// A map with string keys; the op decodes one value.
    Map(Box<Op>),
}

fn mismatch(path: &str, writer: &Schema, target: &DataType) -> DecodeError {
    let w = match writer {
        Schema::Record(_) => "record".to_string(),
        Schema::Array(_) => "array".to_string(),
        Schema::Union(_) => "union".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    DecodeError::Schema(format!(
        "{path}: writer type {w} cannot be stored in bronze column type {target}"
    ))
}

/// Compiles the decoding of `writer` into a column of type `target`
/// (`None`: the value is read and discarded).
pub fn compile(
    writer: &Schema,
    target: Option<&DataType>,
    names: &mut Names,
    path: &str,
) -> Result<Op, DecodeError> {
    names.register(writer);
    let writer = names
        .resolve(writer, path)
        .map_err(DecodeError::Schema)?
        .clone();
    let Some(target) = target else {
        return compile_skip(&writer, names, path);
    };
    Ok(match (&writer, target) {
        (Schema::Null, _) => Op::Null,
        (Schema::Boolean, DataType::Boolean) => Op::Bool,
        (Schema::Int, DataType::Int32) => Op::Int,
        (Schema::Int, DataType::Int64) => Op::IntToLong,
        (Schema::Long, DataType::Int64) => Op::Long,
        (Schema::Float, DataType::Float32) => Op::Float,
        (Schema::Float, DataType::Float64) => Op::FloatToDouble,
        (Schema::Double, DataType::Float64) => Op::Double,
        (Schema::String | Schema::Uuid, DataType::Utf8) => Op::Str,
        (Schema::Enum(e), DataType::Utf8) => Op::Enum(e.symbols.clone()),
        (Schema::Bytes, DataType::LargeBinary) => Op::Bytes,
        (Schema::Date, DataType::Date32) => Op::Int,
        (Schema::TimestampMicros, DataType::Timestamp(TimeUnit::Microsecond, _)) => Op::Long,
        (Schema::Map(m), DataType::Map(entries, _)) => {
            let value = match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => kv[1].data_type().clone(),
                other => return Err(mismatch(path, &writer, other)),
            };
            Op::Map(Box::new(compile(
                &m.types,
                Some(&value),
                names,
                &format!("{path}{{}}"),
            )?))
        }
        (Schema::Union(u), _) => Op::Union(
            u.variants()
                .iter()
                .map(|b| compile(b, Some(target), names, path))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Array(a), DataType::List(item)) => Op::Array(Box::new(compile(
            &a.items,
            Some(item.data_type()),
            names,
            &format!("{path}[]"),
        )?)),
        (Schema::Record(r), DataType::Struct(fields)) => {
            let fields_ops = r
                .fields
                .iter()
                .map(|f| {
                    let child_path = format!("{path}.{}", f.name);
                    let (idx, child) = fields.find(&f.name).ok_or_else(|| {
                        DecodeError::Schema(format!(
                            "{child_path}: field is not in the bronze table schema"
                        ))
                    })?;
                    Ok((
                        compile(&f.schema, Some(child.data_type()), names, &child_path)?,
                        Some(idx),
                    ))
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            Op::Record(
                fields_ops,
                absent(fields, r.fields.iter().map(|f| f.name.as_str())),
            )
        }
        (w, t) => return Err(mismatch(path, w, t)),
    })
}

/// Target children that no writer field fills.
pub fn absent<'a>(fields: &Fields, present: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let present: Vec<&str> = present.collect();
    fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !present.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect()
}

fn compile_skip(writer: &Schema, names: &mut Names, path: &str) -> Result<Op, DecodeError> {
    Ok(match writer {
        Schema::Null => Op::Null,
        Schema::Boolean => Op::Bool,
        Schema::Int | Schema::Date | Schema::TimeMillis => Op::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Op::Long,
        Schema::Float => Op::Float,
        Schema::Double => Op::Double,
        Schema::String | Schema::Uuid => Op::Bytes,
        Schema::Bytes => Op::Bytes,
        Schema::Enum(_) => Op::Int,
        Schema::Map(m) => Op::Map(Box::new(compile(&m.types, None, names, path)?)),
        Schema::Union(u) => Op::Union(
            u.variants()
                .iter()
                .map(|b| compile(b, None, names, path))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Array(a) => Op::Array(Box::new(compile(&a.items, None, names, path)?)),
        Schema::Record(r) => Op::Record(
            r.fields
                .iter()
                .map(|f| {
                    Ok((
                        compile(&f.schema, None, names, &format!("{path}.{}", f.name))?,
                        None,
                    ))
                })
                .collect::<Result<_, DecodeError>>()?,
            Vec::new(),
        ),
        other => {
            return Err(DecodeError::Schema(format!(
                "{path}: unsupported Avro type {other:?}"
            )))
        }
    })
}

/// Decodes one value with `op`, appending to `col` (or discarding it when
/// `col` is `None`).
pub fn decode(op: &Op, buf: &mut &[u8], col: Option<&mut Col>) -> Result<(), DecodeError> {
    match op {
        Op::Null => {
            limits::spend_zero_width(1)?;
            if let Some(c) = col {
                c.push_null();
            }
        }
        Op::Bool => {
            let [b] = read_fixed::<1>(buf)?;
            if b > 1 {
                return Err(DecodeError::Invalid(format!("boolean byte {b}")));
            }
            if let Some(Col::Bool(x, v)) = col {
                x.append(b == 1);
                push_valid(v);
            }
        }
        Op::Int => {
            let x = read_int(buf)?;
            if let Some(c) = col {
                fits(c.push_i32(x))?;
            }
        }
        Op::IntToLong => {
            let x = read_int(buf)?;
            if let Some(c) = col {
                fits(c.push_i64(i64::from(x)))?;
            }
        }
        Op::Long => {
            let x = read_long(buf)?;
            if let Some(c) = col {
                fits(c.push_i64(x))?;
            }
        }
        Op::Float => {
            let x = f32::from_le_bytes(read_fixed::<4>(buf)?);
            if let Some(Col::F32(xs, v)) = col {
                xs.push(x);
                push_valid(v);
            }
        }
        Op::FloatToDouble => {
            let x = f32::from_le_bytes(read_fixed::<4>(buf)?);
            if let Some(Col::F64(xs, v)) = col {
                xs.push(f64::from(x));
                push_valid(v);
            }
        }
        Op::Double => {
            let x = f64::from_le_bytes(read_fixed::<8>(buf)?);
            if let Some(Col::F64(xs, v)) = col {
                xs.push(x);
                push_valid(v);
            }
        }
        Op::Str => {
            let s = read_bytes(buf)?;
            if let Some(c) = col {
                std::str::from_utf8(s)
                    .map_err(|e| DecodeError::Invalid(format!("string is not UTF-8: {e}")))?;
                fits(c.push_bytes(s))?;
            }
        }
        Op::Bytes => {
            let s = read_bytes(buf)?;
            if let Some(c) = col {
                fits(c.push_bytes(s))?;
            }
        }
        Op::Enum(symbols) => {
            let idx = read_int(buf)?;
            let symbol = usize::try_from(idx)
                .ok()
                .and_then(|i| symbols.get(i))
                .ok_or_else(|| DecodeError::Invalid(format!("enum index {idx} out of range")))?;
            if let Some(c) = col {
                fits(c.push_bytes(symbol.as_bytes()))?;
            }
        }
        Op::Map(value) => match col {
            Some(Col::List(offsets, entries, v)) => {
                let Col::Struct(kv, entry_valid) = &mut **entries else {
                    return Err(DecodeError::Invalid("map into a non-map column".into()));
                };
                let [key_col, value_col] = kv.as_mut_slice() else {
                    return Err(DecodeError::Invalid("map into a non-map column".into()));
                };
                decode_blocks(buf, |b| {
                    let k = read_bytes(b)?;
                    std::str::from_utf8(k)
                        .map_err(|e| DecodeError::Invalid(format!("map key is not UTF-8: {e}")))?;
                    fits(key_col.push_bytes(k))?;
                    decode(value, b, Some(value_col))?;
                    entry_valid.push_valid();
                    Ok(())
                })?;
                offsets.push(
                    i32::try_from(value_col.len())
                        .map_err(|_| DecodeError::Invalid("map too long".into()))?,
                );
                push_valid(v);
            }
            Some(_) => return Err(DecodeError::Invalid("map into a non-map column".into())),
            None => decode_blocks(buf, |b| {
                read_bytes(b)?;
                decode(value, b, None)
            })?,
        },
        Op::Union(branches) => {
            let idx = read_long(buf)?;
            let branch = usize::try_from(idx)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| DecodeError::Invalid(format!("union branch {idx} out of range")))?;
            match branch {
                // A null chosen by its branch index took an input byte: not zero-width.
                Op::Null => {
                    if let Some(c) = col {
                        c.push_null();
                    }
                }
                other => decode(other, buf, col)?,
            }
        }
        Op::Array(item) => match col {
            Some(Col::List(offsets, child, v)) => {
                decode_blocks(buf, |b| decode(item, b, Some(child)))?;
                offsets.push(
                    i32::try_from(child.len())
                        .map_err(|_| DecodeError::Invalid("list too long".into()))?,
                );
                push_valid(v);
            }
            Some(_) => return Err(DecodeError::Invalid("array into a non-list column".into())),
            None => decode_blocks(buf, |b| decode(item, b, None))?,
        },
        Op::Record(fields, missing) => match col {
            Some(Col::Struct(children, v)) => {
                // The record itself and the fields the writer lacks take no input bytes.
                limits::spend_zero_width(1 + missing.len() as u64)?;
                for (op, idx) in fields {
                    let target = match idx {
                        Some(i) => children.get_mut(*i),
                        None => None,
                    };
                    decode(op, buf, target)?;
                }
                for &i in missing {
                    if let Some(c) = children.get_mut(i) {
                        c.push_null();
                    }
                }
                push_valid(v);
            }
            Some(_) => {
                return Err(DecodeError::Invalid(
                    "record into a non-struct column".into(),
                ))
            }
            None => {
                for (op, _) in fields {
                    decode(op, buf, None)?;
                }
            }
        },
    }
    Ok(())
}

#[inline]
fn push_valid(v: &mut crate::columns::Validity) {
    v.push_valid();
}

#[inline]
fn fits(ok: bool) -> Result<(), DecodeError> {
    if ok {
        Ok(())
    } else {
        Err(DecodeError::Invalid("value does not fit its column".into()))
    }
}

/// Reads Avro array/map blocks, calling `item` once per element. One array (or map)
/// holds at most the member's item cap ([`crate::Limits::max_array_items`]); a count over
/// it is rejected before any item is decoded.
pub fn decode_blocks(
    buf: &mut &[u8],
    mut item: impl FnMut(&mut &[u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let cap = limits::array_items_cap();
    let mut total = 0u64;
    loop {
        let count = read_long(buf)?;
        if count == 0 {
            return Ok(());
        }
        let count = if count < 0 {
            let _bytes = read_long(buf)?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        total = total.saturating_add(count);
        if total > cap {
            return Err(DecodeError::Limit(format!(
                "an array or map of more than {cap} items (--max-array-items)"
            )));
        }
        // Each element takes at least one byte unless it is null/empty record:
        // bound the loop by the remaining input to reject absurd counts fast.
        if count > (buf.len() as u64).saturating_mul(8) + 1024 {
            return Err(DecodeError::Invalid(format!(
                "array block count {count} exceeds input"
            )));
        }
        for _ in 0..count {
            item(buf)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{begin_member, with_limits, Limits};
    use arrow_schema::Field;
    use std::sync::Arc;

    use crate::primitives::encode_long as long;

    fn run(op: &Op, target: &DataType, input: &[u8], limits: Limits) -> Result<(), DecodeError> {
        with_limits(limits, || {
            begin_member(&limits);
            let mut col = Col::for_type(target)?;
            let mut buf = input;
            decode(op, &mut buf, Some(&mut col))
        })
    }

    fn nulls_list() -> (Op, DataType) {
        let target = DataType::List(Arc::new(Field::new("element", DataType::Float64, true)));
        (Op::Array(Box::new(Op::Null)), target)
    }

    #[test]
    fn array_of_millions_of_nulls_is_rejected_at_once() {
        let (op, target) = nulls_list();
        // one 5-byte block announcing 2^31 items that take no bytes
        let mut input = long(1 << 31);
        input.extend(long(0));
        let started = std::time::Instant::now();
        let err = run(&op, &target, &input, Limits::DEFAULT).expect_err("capped");
        assert!(matches!(err, DecodeError::Limit(_)), "{err}");
        assert!(err.to_string().contains("--max-array-items"), "{err}");
        assert!(started.elapsed().as_secs() < 1);
        // the cap counts items over all blocks of one array
        let mut blocks = Vec::new();
        for _ in 0..3 {
            blocks.extend(long(40));
        }
        blocks.extend(long(0));
        let small = Limits {
            max_array_items: 100,
            ..Limits::DEFAULT
        };
        assert!(run(&op, &target, &blocks, small).is_err());
        let mut two = long(40);
        two.extend(long(40));
        two.extend(long(0));
        assert!(run(&op, &target, &two, small).is_ok());
    }

    #[test]
    fn zero_width_values_are_budgeted_per_member() {
        let (op, target) = nulls_list();
        let mut input = long(1000);
        input.extend(long(0));
        let tight = Limits {
            max_zero_width_values: 999,
            ..Limits::DEFAULT
        };
        let err = run(&op, &target, &input, tight).expect_err("capped");
        assert!(err.to_string().contains("--max-zero-width-values"), "{err}");
        let enough = Limits {
            max_zero_width_values: 1000,
            ..Limits::DEFAULT
        };
        assert!(run(&op, &target, &input, enough).is_ok());
        // nulls chosen by a union branch take a byte each: bounded by the input, not budgeted
        let nullable = Op::Array(Box::new(Op::Union(vec![Op::Null, Op::Double])));
        let mut branches = long(1000);
        branches.extend(vec![0u8; 1000]);
        branches.extend(long(0));
        assert!(run(&nullable, &target, &branches, tight).is_ok());
    }
}
