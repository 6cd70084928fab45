//! Avro Object Container File framing: header, metadata, blocks.
//!
//! Only the framing is parsed here (a few bytes); datum decoding is done by
//! [`crate::resolve`] with ops resolved once per writer schema and table schema.

use std::borrow::Cow;
use std::io::Read;

use crate::primitives::{read_bytes, read_long};
use crate::DecodeError;

const MAGIC: &[u8; 4] = b"Obj\x01";

/// A parsed container: writer schema text, codec, and its data blocks.
#[derive(Debug)]
pub struct Container<'a> {
    /// The `avro.schema` metadata value (JSON text of the writer schema).
    pub schema: &'a [u8],
    /// Blocks of encoded datums, decompressed when the codec asks for it.
    pub blocks: Vec<Block<'a>>,
}

/// One data block of a container.
#[derive(Debug)]
pub struct Block<'a> {
    /// Number of datums in the block.
    pub count: usize,
    /// Encoded datums.
    pub data: Cow<'a, [u8]>,
}

/// Parses a complete Object Container File held in memory.
pub fn parse_container(bytes: &[u8]) -> Result<Container<'_>, DecodeError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(DecodeError::NotAvro);
    }
    let mut buf = &bytes[4..];
    let mut schema = None;
    let mut codec: &[u8] = b"null";
    loop {
        let count = read_long(&mut buf)?;
        if count == 0 {
            break;
        }
        let count = if count < 0 {
            let _size = read_long(&mut buf)?;
            count.unsigned_abs()
        } else {
            count as u64
        };
        for _ in 0..count {
            let key = read_bytes(&mut buf)?;
            let value = read_bytes(&mut buf)?;
            match key {
                b"avro.schema" => schema = Some(value),
                b"avro.codec" => codec = value,
                _ => {}
            }
        }
    }
    let schema = schema.ok_or(DecodeError::Header("no avro.schema in header".into()))?;
    if buf.len() < 16 {
        return Err(DecodeError::Truncated);
    }
    let (sync, rest) = buf.split_at(16);
    buf = rest;
    let mut blocks = Vec::new();
    while !buf.is_empty() {
        let count = read_long(&mut buf)?;
        let size = read_long(&mut buf)?;
        if count < 0 || size < 0 {
            return Err(DecodeError::Header(format!(
                "negative block count {count} or size {size}"
            )));
        }
        let size = size as usize;
        if buf.len() < size + 16 {
            return Err(DecodeError::Truncated);
        }
        let (data, rest) = buf.split_at(size);
        let (block_sync, rest) = rest.split_at(16);
        if block_sync != sync {
            return Err(DecodeError::Header(
                "block sync marker does not match header".into(),
            ));
        }
        buf = rest;
        let data = match codec {
            b"null" => Cow::Borrowed(data),
            b"deflate" => {
                let mut out = Vec::with_capacity(size * 4);
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(|e| DecodeError::Header(format!("deflate block: {e}")))?;
                Cow::Owned(out)
            }
            other => {
                return Err(DecodeError::Header(format!(
                    "unsupported codec {}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        blocks.push(Block {
            count: count as usize,
            data,
        });
    }
    Ok(Container { schema, blocks })
}
