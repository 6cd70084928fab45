//! Names of the bronze columns that `ateda` fills itself (every other column is a packet
//! field under its own name). One home: the decoder, the lakehouse and the tests read
//! them from here.

/// Partition column: the observation night (a date).
pub const NIGHT: &str = "night";
/// Where the packet was read: file path, or `tarball!member`.
pub const INGEST_SOURCE: &str = "ingest_source";
/// Version of the packet's own writer schema.
pub const INGEST_SCHEMA_VERSION: &str = "ingest_schema_version";
/// Id of the ingest run that added the row.
pub const INGEST_RUN_ID: &str = "ingest_run_id";
/// When the row was ingested (UTC).
pub const INGESTED_AT: &str = "ingested_at";
/// sha256 (hex) of the alert's Avro datum as its writer schema encodes it: what "the
/// same content" means for a key met twice.
pub const INGEST_ALERT_SHA256: &str = "ingest_alert_sha256";

/// Name of the column holding the URI of a stamp object of this kind.
pub fn cutout_uri(kind: &str) -> String {
    format!("cutout_{kind}_uri")
}

/// Name of the column holding a stamp's byte offset within the object at its URI (the
/// packed layout; null where the whole object is the stamp).
pub fn cutout_offset(kind: &str) -> String {
    format!("cutout_{kind}_offset")
}

/// Name of the column holding a stamp's length in bytes within the object at its URI
/// (the packed layout; null where the whole object is the stamp).
pub fn cutout_length(kind: &str) -> String {
    format!("cutout_{kind}_length")
}

/// Name of the column holding the file name a packet carried for this stamp kind.
pub fn cutout_file_name(kind: &str) -> String {
    format!("cutout_{kind}_file_name")
}
