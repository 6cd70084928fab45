//! One lookup against a Confluent-compatible schema registry: `GET {url}/schemas/ids/{id}`,
//! repeated while it fails transiently, and what its answer means.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ateda_retry::{classify_chain, classify_status, retry, with_causes, RetryPolicy};
use reqwest::header::ACCEPT;
use url::Url;

use crate::{Options, RegistryError};

/// Largest answer read from the registry (a Rubin schema is about 100 KB).
pub(crate) const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The media types a Confluent registry answers with.
const ACCEPT_SCHEMA: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";

/// A Confluent-compatible schema registry.
#[derive(Debug)]
pub(crate) struct Registry {
    /// The base URL as given, without a trailing `/`.
    base: String,
    /// The base URL as messages show it: without user name and password.
    shown: String,
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// What the registry said about one schema id.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The writer schema (JSON text).
    Schema(Arc<[u8]>),
    /// The registry does not have the id (HTTP 404), with its explanation.
    NotFound(String),
    /// The registry answered, but nothing usable (another error status, an answer that
    /// is not a schema, a schema that is not JSON text or not Avro).
    Unusable(String),
    /// No answer: transient failures until the retry budget was spent.
    Unreachable(String),
}

/// A failed attempt.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// A transient HTTP status (429, 5xx).
    #[error("HTTP {code}{detail}")]
    Status {
        /// The status code.
        code: u16,
        /// `": "` and the start of the answer, or nothing.
        detail: String,
    },
    /// No complete answer (connect, send, timeout, body).
    #[error("{}", with_causes(.0))]
    Send(reqwest::Error),
}

impl Failure {
    fn transient(&self) -> bool {
        match self {
            Failure::Status { code, .. } => classify_status(*code).is_some(),
            Failure::Send(e) => classify_chain(e, |_| None).is_some(),
        }
    }
}

impl Registry {
    /// A client for the registry at `url` (`http` or `https`, optional path prefix,
    /// optional `user:password@` for basic authentication).
    pub(crate) fn new(url: &str, options: &Options) -> Result<Registry, RegistryError> {
        let bad = |reason: &str| RegistryError::Url {
            url: redacted_text(url),
            reason: reason.to_string(),
        };
        let parsed = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("a registry URL has no query or fragment"));
        }
        let base = parsed.as_str().trim_end_matches('/').to_string();
        let mut shown = parsed.clone();
        // cannot fail for an http(s) URL with a host
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let shown = shown.as_str().trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(options.connect_timeout))
            .user_agent(concat!("ateda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Client(with_causes(&e)))?;
        Ok(Registry {
            base,
            shown,
            client,
            policy: options.retry,
        })
    }

    /// The registry URL as messages show it (no credentials).
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Asks for the writer schema of `id`, repeating transient failures.
    pub(crate) async fn fetch(&self, id: u32) -> Answer {
        let url = format!("{}/schemas/ids/{id}", self.base);
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let what = format!("schema registry GET {}/schemas/ids/{id}", self.shown);
        let got = retry(&self.policy, &what, Failure::transient, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&url)
        })
        .await;
        match got {
            Ok((code, body)) => interpret(code, &body),
            Err(e) if e.transient() => {
                let n = attempts.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                let s = if n == 1 { "" } else { "s" };
                Answer::Unreachable(format!("{e} ({n} attempt{s} in {secs:.1} s)"))
            }
            Err(e) => Answer::Unusable(e.to_string()),
        }
    }

    /// One request: the status and the whole answer, or why there is none.
    async fn attempt(&self, url: &str) -> Result<(u16, Vec<u8>), Failure> {
        let mut resp = self
            .client
            .get(url)
            .header(ACCEPT, ACCEPT_SCHEMA)
            .send()
            .await
            .map_err(|e| Failure::Send(e.without_url()))?;
        let code = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Failure::Send(e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                // kept whole: `interpret` refuses it by size
                body.resize(MAX_ANSWER_BYTES + 1, 0);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        if classify_status(code).is_some() {
            return Err(Failure::Status {
                code,
                detail: detail(&body),
            });
        }
        Ok((code, body))
    }
}

/// What an answer of the registry means for the schema id asked.
pub(crate) fn interpret(code: u16, body: &[u8]) -> Answer {
    if body.len() > MAX_ANSWER_BYTES {
        return Answer::Unusable(format!(
            "HTTP {code} with an answer over {MAX_ANSWER_BYTES} bytes"
        ));
    }
    match code {
        200 => match schema_of(body) {
            Ok(text) => Answer::Schema(Arc::from(text.into_bytes())),
            Err(reason) => Answer::Unusable(reason),
        },
        404 => Answer::NotFound(format!("HTTP 404{}", detail(body))),
        _ => Answer::Unusable(format!("HTTP {code}{}", detail(body))),
    }
}

/// The schema text of a `GET /schemas/ids/{id}` answer: `{"schema": "<JSON text>"}`,
/// with `schemaType` absent or `AVRO`.
fn schema_of(body: &[u8]) -> Result<String, String> {
    let answer: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not JSON ({e}){}", detail(body)))?;
    if let Some(t) = answer.get("schemaType") {
        if t.as_str() != Some("AVRO") {
            return Err(format!("the schema is of type {t}, not AVRO"));
        }
    }
    let Some(text) = answer.get("schema").and_then(|s| s.as_str()) else {
        return Err(format!(
            "the answer has no \"schema\" string{}",
            detail(body)
        ));
    };
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
        format!(
            "the schema is not JSON text ({e}){}",
            detail(text.as_bytes())
        )
    })?;
    Ok(text.to_string())
}

/// `": "` and what an error answer says: Confluent's `error_code` and `message` when it
/// has them, else its first 200 characters; nothing for an empty answer.
fn detail(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let (Some(code), Some(msg)) = (v.get("error_code"), v.get("message")) {
            let msg = msg.as_str().map_or_else(|| msg.to_string(), str::to_string);
            return format!(", error_code {code}: {msg}");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let short: String = text.chars().take(200).collect();
    let more = if short.len() < text.len() { "..." } else { "" };
    format!(": {short:?}{more}")
}

/// A URL given by the user with any `user:password@` part removed (for messages about a
/// URL that did not parse).
fn redacted_text(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_text(a: Answer) -> String {
        match a {
            Answer::Schema(s) => String::from_utf8(s.to_vec()).unwrap_or_default(),
            other => panic!("not a schema: {other:?}"),
        }
    }

    fn unusable(a: Answer) -> String {
        match a {
            Answer::Unusable(s) => s,
            other => panic!("not unusable: {other:?}"),
        }
    }

    #[test]
    fn a_schema_answer_gives_its_text() {
        let body = br#"{"schema": "{\"type\":\"record\",\"name\":\"a\",\"fields\":[]}"}"#;
        assert_eq!(
            schema_text(interpret(200, body)),
            r#"{"type":"record","name":"a","fields":[]}"#
        );
        let typed = br#"{"schemaType": "AVRO", "schema": "\"long\""}"#;
        assert_eq!(schema_text(interpret(200, typed)), r#""long""#);
    }

    #[test]
    fn answers_that_are_not_an_avro_schema_are_refused_with_the_reason() {
        let r = unusable(interpret(200, br#"{"schema": "{not json"}"#));
        assert!(r.starts_with("the schema is not JSON text ("), "{r}");
        assert!(r.contains("{not json"), "{r}");
        let r = unusable(interpret(200, b"<html>hello</html>"));
        assert!(r.starts_with("the answer is not JSON ("), "{r}");
        assert!(r.contains("<html>hello</html>"), "{r}");
        let r = unusable(interpret(200, br#"{"schemas": "x"}"#));
        assert!(r.starts_with("the answer has no \"schema\" string"), "{r}");
        let r = unusable(interpret(
            200,
            br#"{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";"}"#,
        ));
        assert_eq!(r, "the schema is of type \"PROTOBUF\", not AVRO");
        let r = unusable(interpret(
            401,
            br#"{"error_code": 401, "message": "Unauthorized"}"#,
        ));
        assert_eq!(r, "HTTP 401, error_code 401: Unauthorized");
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert!(unusable(interpret(200, &big)).contains("over 16777216 bytes"));
    }

    #[test]
    fn not_found_keeps_the_registry_explanation() {
        match interpret(
            404,
            br#"{"error_code": 40403, "message": "Schema not found"}"#,
        ) {
            Answer::NotFound(d) => assert_eq!(d, "HTTP 404, error_code 40403: Schema not found"),
            other => panic!("{other:?}"),
        }
        match interpret(404, b"") {
            Answer::NotFound(d) => assert_eq!(d, "HTTP 404"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        let o = Options::default();
        let r = Registry::new("https://alice:s3cret@registry.example.org/sr/", &o)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.base, "https://alice:s3cret@registry.example.org/sr");
        assert_eq!(r.shown(), "https://registry.example.org/sr");
        for bad in [
            "registry.example.org:8081",
            "ftp://registry.example.org",
            "http://h:8081/?x=1",
            "http://",
        ] {
            let e = Registry::new(bad, &o).err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.contains("schema registry URL")),
                "{bad}: {e:?}"
            );
        }
        let e = Registry::new("ftp://bob:pw@host/x", &o)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!e.contains("pw"), "{e}");
    }
}
