//! Avro binary encoding primitives (zig-zag varints, lengths, IEEE floats).

use crate::DecodeError;

/// Reads a zig-zag varint `long`.
#[inline]
pub fn read_long(buf: &mut &[u8]) -> Result<i64, DecodeError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    let mut i = 0usize;
    loop {
        let Some(&byte) = buf.get(i) else {
            return Err(DecodeError::Truncated);
        };
        i += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(DecodeError::Invalid("varint longer than 10 bytes".into()));
        }
    }
    *buf = &buf[i..];
    Ok((value >> 1) as i64 ^ -((value & 1) as i64))
}

/// Reads an `int` (a varint that must fit 32 bits).
#[inline]
pub fn read_int(buf: &mut &[u8]) -> Result<i32, DecodeError> {
    let v = read_long(buf)?;
    i32::try_from(v).map_err(|_| DecodeError::Invalid(format!("int out of range: {v}")))
}

/// Reads a length-prefixed byte string, borrowing from the input.
#[inline]
pub fn read_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = read_long(buf)?;
    if len < 0 {
        return Err(DecodeError::Invalid(format!("negative length {len}")));
    }
    let len = len as usize;
    if buf.len() < len {
        return Err(DecodeError::Truncated);
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

/// Reads `N` raw bytes.
#[inline]
pub fn read_fixed<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    if buf.len() < N {
        return Err(DecodeError::Truncated);
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    *buf = &buf[N..];
    Ok(out)
}

/// Encodes a long as Avro does (zig-zag varint): test inputs for the decoders.
#[cfg(test)]
pub(crate) fn encode_long(v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag() {
        let mut b: &[u8] = &[0x00, 0x01, 0x02, 0x7f, 0x80, 0x01];
        assert_eq!(read_long(&mut b).ok(), Some(0));
        assert_eq!(read_long(&mut b).ok(), Some(-1));
        assert_eq!(read_long(&mut b).ok(), Some(1));
        assert_eq!(read_long(&mut b).ok(), Some(-64));
        assert_eq!(read_long(&mut b).ok(), Some(64));
        assert!(b.is_empty());
        let mut t: &[u8] = &[0x80];
        assert!(matches!(read_long(&mut t), Err(DecodeError::Truncated)));
        let mut huge: &[u8] = &[0xff; 11];
        assert!(read_long(&mut huge).is_err());
        for v in [0, -1, 1, 63, -64, 64, i64::MAX, i64::MIN] {
            let e = encode_long(v);
            assert_eq!(read_long(&mut e.as_slice()).ok(), Some(v));
        }
    }
}
