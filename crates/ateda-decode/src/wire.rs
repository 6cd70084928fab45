//! Single-datum packets in the Confluent wire format, as Rubin ships alerts over Kafka:
//! byte `0x00`, a 4-byte big-endian schema id, then one Avro datum with no schema. The
//! writer schema is looked up by id ([`WriterSchemas`]): bundled, or from a
//! Confluent-compatible schema registry.

use std::sync::Arc;

/// First byte of a wire-format packet.
pub const MAGIC: u8 = 0;

/// Where the writer schemas of wire-format packets come from, by schema id.
pub trait WriterSchemas: Send + Sync {
    /// The writer schema (JSON text) registered under `id`, or why there is none (the
    /// reason goes into the quarantine record, so it names the id and where it looked).
    fn by_id(&self, id: u32) -> Result<Arc<[u8]>, String>;
}

/// No writer schemas at all: every wire-format packet is refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWriterSchemas;

impl WriterSchemas for NoWriterSchemas {
    fn by_id(&self, id: u32) -> Result<Arc<[u8]>, String> {
        Err(format!("no writer schema for schema id {id}"))
    }
}

/// A wire-format packet's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WirePacket<'a> {
    /// The schema id (Rubin: major * 100 + minor).
    pub id: u32,
    /// The Avro datum.
    pub datum: &'a [u8],
}

/// Splits a wire-format packet, or `None` when the bytes are not one (no `0x00` first,
/// or shorter than the 5-byte header).
pub fn parse_wire(bytes: &[u8]) -> Option<WirePacket<'_>> {
    match bytes {
        [MAGIC, a, b, c, d, datum @ ..] => Some(WirePacket {
            id: u32::from_be_bytes([*a, *b, *c, *d]),
            datum,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_datum() {
        let p = parse_wire(&[0, 0, 0, 3, 0x84, 9, 9]).expect("wire packet");
        assert_eq!(p.id, 900);
        assert_eq!(p.datum, &[9, 9]);
        assert_eq!(parse_wire(&[0, 0, 0, 3]), None);
        assert_eq!(parse_wire(b"Obj\x01...."), None);
        assert!(NoWriterSchemas.by_id(900).unwrap_err().contains("900"));
    }
}
