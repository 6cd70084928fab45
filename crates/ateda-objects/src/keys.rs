//! Key layout: where a stamp and quarantined bytes live under their root.

use ateda_schema::Survey;
use sha2::{Digest, Sha256};

use crate::Bucket;

/// Hex digits of the alert's sha256 in a stamp key (128 bits).
const CONTENT_HEX: usize = 32;

/// Key of a stamp object:
/// `<survey>/night=<YYYY-MM-DD>/<alert key>/<kind>-<content><suffix>`, e.g.
/// `ztf/night=2023-10-18/2475433850015015001/science-9f86d081884c7d659a2feaa0c55ad015.fits.gz`.
///
/// `<content>` is the first 128 bits of the alert datum's sha256: two packets with the
/// same key and different content never share a stamp object, so an object, once written,
/// is only ever referenced by rows of the one packet it came from.
pub fn stamp_key(survey: &Survey, night: i32, key: i64, kind: &str, alert_sha256: &[u8]) -> String {
    let content: String = alert_sha256
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(CONTENT_HEX)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect();
    format!(
        "{}/night={}/{key}/{kind}-{content}{}",
        survey.name,
        ateda_schema::format_day(night),
        survey.stamp_suffix
    )
}

/// Where one stamp lives: its key under the cutouts root (for writing) and its full URI
/// (what the bronze row points at). Built once by [`Bucket::stamp`], so the two never
/// disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampRef {
    /// Key relative to the bucket's root ([`stamp_key`]).
    pub key: String,
    /// Full URI: the bucket's root URI, `/`, the key.
    pub uri: String,
}

impl Bucket {
    /// The key and URI of a stamp of a survey (`kind`: e.g. `science`) of the alert with
    /// this key observed on `night` (days since 1970-01-01), whose datum hashes to
    /// `alert_sha256`.
    pub fn stamp(
        &self,
        survey: &Survey,
        night: i32,
        key: i64,
        kind: &str,
        alert_sha256: &[u8],
    ) -> StampRef {
        let key = stamp_key(survey, night, key, kind, alert_sha256);
        StampRef {
            uri: self.uri(&key),
            key,
        }
    }
}

impl From<StampRef> for (String, String) {
    /// `(key, uri)`, the form of a decoder's stamp location.
    fn from(s: StampRef) -> Self {
        (s.key, s.uri)
    }
}

/// Key of quarantined bytes and their hex sha256: `(<sha256>.bin, <sha256>)`, so the
/// same bad bytes are kept once.
pub fn quarantine_key(bytes: &[u8]) -> (String, String) {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (format!("{hex}.bin"), hex)
}

#[cfg(test)]
mod tests {
    use ateda_schema::ztf::ZTF;

    use super::*;

    #[test]
    fn stamp_key_and_uri_come_together() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().display().to_string()).expect("open");
        let sha = [0xab_u8; 32];
        let s = b.stamp(&ZTF, 19648, 42, "difference", &sha);
        assert_eq!(
            s.key,
            "ztf/night=2023-10-18/42/difference-abababababababababababababababab.fits.gz"
        );
        assert_eq!(s.key, stamp_key(&ZTF, 19648, 42, "difference", &sha));
        // another content under the same key is another object
        assert_ne!(s.key, stamp_key(&ZTF, 19648, 42, "difference", &[0x01; 32]));
        assert_eq!(s.uri, format!("{}/{}", b.base_uri(), s.key));
        assert!(s.uri.starts_with("file:///"), "{}", s.uri);
        let (key, uri): (String, String) = s.clone().into();
        assert_eq!((key, uri), (s.key, s.uri));
    }

    #[test]
    fn s3_stamp_uri_keeps_the_prefix() {
        let b = Bucket::open("s3://cutouts/ztf-prod/").expect("open");
        let s = b.stamp(&ZTF, 19648, 7, "science", &[0x0f; 32]);
        assert_eq!(
            s.uri,
            "s3://cutouts/ztf-prod/ztf/night=2023-10-18/7/science-0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f.fits.gz"
        );
    }

    #[test]
    fn quarantine_key_is_the_digest() {
        let (key, hex) = quarantine_key(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(key, format!("{hex}.bin"));
    }
}
