//! Avro Object Container File framing: header, metadata, blocks.
//!
//! Only the framing is parsed here (a few bytes); datum decoding is done by
//! [`crate::resolve`] with ops resolved once per writer schema and table schema.

use std::borrow::Cow;
use std::io::Read;

use crate::limits::{self, Limits};
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

/// A container header's metadata: writer schema text, codec, and the bytes after the
/// metadata (sync marker, then blocks).
type Header<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Reads a container header's metadata.
fn header(bytes: &[u8]) -> Result<Header<'_>, DecodeError> {
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
    Ok((schema, codec, buf))
}

/// The writer schema text of a container, reading only its header (routing a member to
/// its survey costs a few bytes, not a decode).
pub fn header_schema(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    header(bytes).map(|(schema, _, _)| schema)
}

/// Parses a complete Object Container File held in memory, under the caps in force
/// ([`limits::current`]); starts the member's budget of decoded values.
pub fn parse_container(bytes: &[u8]) -> Result<Container<'_>, DecodeError> {
    let caps = limits::current();
    limits::begin_member(&caps);
    parse_container_with(bytes, &caps)
}

/// Parses a container under explicit caps: at most `max_blocks` blocks, and at most
/// `max_inflated_bytes` for all its deflate blocks inflated together (a deflate bomb is
/// stopped at the cap, never inflated whole).
pub fn parse_container_with<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Container<'a>, DecodeError> {
    let (schema, codec, mut buf) = header(bytes)?;
    if buf.len() < 16 {
        return Err(DecodeError::Truncated);
    }
    let (sync, rest) = buf.split_at(16);
    buf = rest;
    let mut blocks = Vec::new();
    let mut inflated_left = limits.max_inflated_bytes;
    while !buf.is_empty() {
        if blocks.len() as u64 >= limits.max_blocks {
            return Err(DecodeError::Limit(format!(
                "more than {} blocks in one container (--max-blocks)",
                limits.max_blocks
            )));
        }
        let count = read_long(&mut buf)?;
        let size = read_long(&mut buf)?;
        if count < 0 || size < 0 {
            return Err(DecodeError::Header(format!(
                "negative block count {count} or size {size}"
            )));
        }
        let size = usize::try_from(size).map_err(|_| DecodeError::Truncated)?;
        if buf.len() < size.saturating_add(16) {
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
                let out = inflate(data, inflated_left, limits.max_inflated_bytes)?;
                inflated_left -= out.len() as u64;
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

/// Inflates one deflate block, failing as soon as it would exceed `left` bytes (of the
/// container's `cap`): the output never grows past the cap.
fn inflate(data: &[u8], left: u64, cap: u64) -> Result<Vec<u8>, DecodeError> {
    // Real blocks inflate little (stamps are gzipped already): start small, grow as needed.
    let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(left as usize));
    flate2::read::DeflateDecoder::new(data)
        .take(left.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Header(format!("deflate block: {e}")))?;
    if out.len() as u64 > left {
        return Err(DecodeError::Limit(format!(
            "deflate blocks inflate to more than {cap} bytes (--max-inflated-bytes)"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::primitives::encode_long as long;

    fn bytes(b: &[u8]) -> Vec<u8> {
        let mut out = long(b.len() as i64);
        out.extend_from_slice(b);
        out
    }

    /// A container of `blocks` (count, raw data), compressed with `codec`.
    fn container(codec: &str, blocks: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(long(2));
        out.extend(bytes(b"avro.schema"));
        out.extend(bytes(br#""null""#));
        out.extend(bytes(b"avro.codec"));
        out.extend(bytes(codec.as_bytes()));
        out.extend(long(0));
        let sync = [7u8; 16];
        out.extend(sync);
        for (count, data) in blocks {
            let data = if codec == "deflate" {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(data).expect("deflate");
                e.finish().expect("deflate")
            } else {
                data.clone()
            };
            out.extend(long(*count));
            out.extend(bytes(&data));
            out.extend(sync);
        }
        out
    }

    #[test]
    fn deflate_bomb_stops_at_the_cap() {
        // 64 MiB of zeros deflate to ~64 KB: a bomb under a 1 MiB cap.
        let bomb = container("deflate", &[(1, vec![0u8; 64 << 20])]);
        assert!(bomb.len() < 200_000, "{}", bomb.len());
        let limits = Limits {
            max_inflated_bytes: 1 << 20,
            ..Limits::DEFAULT
        };
        let err = parse_container_with(&bomb, &limits).expect_err("capped");
        assert!(matches!(err, DecodeError::Limit(_)), "{err}");
        assert!(err.to_string().contains("--max-inflated-bytes"), "{err}");
        // the cap is on the container: two blocks of 600 KiB exceed 1 MiB together
        let two = container(
            "deflate",
            &[(1, vec![1u8; 600 << 10]), (1, vec![2u8; 600 << 10])],
        );
        assert!(parse_container_with(&two, &limits).is_err());
        let one = container("deflate", &[(1, vec![1u8; 600 << 10])]);
        let c = parse_container_with(&one, &limits).expect("under the cap");
        assert_eq!(c.blocks[0].data.len(), 600 << 10);
    }

    #[test]
    fn block_count_is_capped() {
        let many = container("null", &vec![(0, Vec::new()); 50]);
        let limits = Limits {
            max_blocks: 10,
            ..Limits::DEFAULT
        };
        let err = parse_container_with(&many, &limits).expect_err("capped");
        assert!(err.to_string().contains("--max-blocks"), "{err}");
        assert_eq!(
            parse_container_with(&many, &Limits::DEFAULT)
                .expect("fine")
                .blocks
                .len(),
            50
        );
    }

    #[test]
    fn absurd_block_size_is_truncation_not_overflow() {
        let mut c = container("null", &[]);
        c.extend(long(1));
        c.extend(long(i64::MAX));
        assert!(matches!(parse_container(&c), Err(DecodeError::Truncated)));
    }
}
