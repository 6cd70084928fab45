//! Writer schemas of wire-format packets by schema id ([`ateda_decode::WriterSchemas`]).
//!
//! Rubin ships alerts in the Confluent wire format: a schema id, then an Avro datum with
//! no schema. [`SchemaIds`] finds the writer schema of an id:
//!
//! - [`SchemaIds::bundled`]: the Rubin schemas bundled in the binary
//!   (`ateda_schema::lsst`, ids `major * 100 + minor`, 700 to 1100), nothing else;
//! - [`SchemaIds::with_registry`]: a Confluent-compatible schema registry first
//!   (`GET {url}/schemas/ids/{id}`, answer `{"schema": "<JSON text>"}`), the bundled
//!   schemas when the registry does not have the id (HTTP 404), gives no usable answer
//!   or stays unreachable.
//!
//! Each id is resolved once per run (the first lookup asks, concurrent lookups of the
//! same id wait for it, later ones read the cache): schemas under an id never change in
//! a Confluent registry. Transient failures (refused or reset connections, timeouts,
//! HTTP 429 and 5xx) are repeated with doubling waits within [`Options::retry`], each
//! request bounded by [`Options::request_timeout`]. When the registry stays unreachable
//! it is not asked again for [`Options::outage_pause`] (so a run of packets does not
//! wait out the retry budget once per id), a warning is logged once per outage, and the
//! bundled schema of the id is used. A lookup that finds no schema is an error naming
//! the id, where it looked and what it found; it is remembered for
//! [`Options::outage_pause`], then asked again. At most [`Options::max_ids`] distinct
//! ids are asked of the registry in one run (hostile input cannot make it a flood of
//! requests).
//!
//! [`ateda_decode::WriterSchemas::by_id`] is called from decode worker threads (plain
//! threads): a registry lookup runs its request on the [`tokio::runtime::Handle`] given
//! at construction (a multi-thread runtime: a current-thread runtime's handle cannot
//! drive the request), or on a helper thread when called inside a runtime.

#![deny(missing_docs)]

mod fetch;
#[cfg(test)]
mod test_server;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use ateda_decode::WriterSchemas;
pub use ateda_retry::RetryPolicy;
use ateda_schema::lsst;
use tokio::runtime::Handle;

use fetch::{Answer, Registry};

/// Why a [`SchemaIds`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL is not usable (shown without credentials).
    #[error("schema registry URL {url}: {reason}")]
    Url {
        /// The URL as given, without `user:password@`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("schema registry client: {0}")]
    Client(String),
}

/// How the registry is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest time one request may take, connecting and reading included (10 s).
    pub request_timeout: Duration,
    /// Longest time connecting may take (5 s; never longer than `request_timeout`).
    pub connect_timeout: Duration,
    /// How transient failures are repeated (0.2 s doubling up to 2 s, within 5 s).
    pub retry: RetryPolicy,
    /// After the registry stayed unreachable, how long it is not asked again and a
    /// lookup that found no schema is remembered (30 s).
    pub outage_pause: Duration,
    /// Most distinct schema ids asked of the registry in one run (1024).
    pub max_ids: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                first_wait: Duration::from_millis(200),
                max_wait: Duration::from_secs(2),
                budget: Duration::from_secs(5),
            },
            outage_pause: Duration::from_secs(30),
            max_ids: 1024,
        }
    }
}

/// Writer schemas by schema id: bundled, or from a schema registry with the bundled ones
/// as fallback (see the crate documentation).
pub struct SchemaIds {
    registry: Option<(Registry, Handle)>,
    options: Options,
    /// One slot per id looked up; a slot's lock is held while its id is resolved, so
    /// concurrent lookups of one id make one request.
    slots: Mutex<HashMap<u32, Arc<Mutex<Slot>>>>,
    /// Until when the registry is not asked, and why.
    outage: Mutex<Option<(Instant, String)>>,
    /// Whether the current outage was logged.
    warned: AtomicBool,
}

/// What is known of one schema id.
#[derive(Debug)]
enum Slot {
    /// Not resolved yet.
    Empty,
    /// The writer schema.
    Ready(Arc<[u8]>),
    /// No schema found; asked again after `until`.
    Failed { reason: String, until: Instant },
}

impl std::fmt::Debug for SchemaIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaIds")
            .field("source", &self.describe())
            .finish_non_exhaustive()
    }
}

impl SchemaIds {
    /// The bundled Rubin schemas only: an id outside them is refused.
    pub fn bundled() -> SchemaIds {
        SchemaIds {
            registry: None,
            options: Options::default(),
            slots: Mutex::new(HashMap::new()),
            outage: Mutex::new(None),
            warned: AtomicBool::new(false),
        }
    }

    /// The registry at `url` (`http(s)://host[:port][/prefix]`, optionally with
    /// `user:password@` for basic authentication), requests run on `handle`, default
    /// [`Options`]; the bundled schemas as fallback.
    pub fn with_registry(url: &str, handle: Handle) -> Result<SchemaIds, RegistryError> {
        SchemaIds::with_registry_options(url, handle, Options::default())
    }

    /// [`SchemaIds::with_registry`] with other [`Options`].
    pub fn with_registry_options(
        url: &str,
        handle: Handle,
        options: Options,
    ) -> Result<SchemaIds, RegistryError> {
        let registry = Registry::new(url, &options)?;
        Ok(SchemaIds {
            registry: Some((registry, handle)),
            options,
            ..SchemaIds::bundled()
        })
    }

    /// What the CLI's `--schema-registry` flag asks for: the registry at `url` if one
    /// is given (requests on `handle`), else the bundled schemas only.
    pub fn from_flag(url: Option<&str>, handle: Handle) -> Result<SchemaIds, RegistryError> {
        match url {
            Some(url) => SchemaIds::with_registry(url, handle),
            None => Ok(SchemaIds::bundled()),
        }
    }

    /// Where schemas come from, for logs: `bundled Rubin schemas 7.0-11.0` or
    /// `schema registry <url> (fallback: bundled Rubin schemas 7.0-11.0)`.
    pub fn describe(&self) -> String {
        let bundled = format!("bundled Rubin schemas {}", lsst::bundled_range());
        match &self.registry {
            Some((r, _)) => format!("schema registry {} (fallback: {bundled})", r.shown()),
            None => bundled,
        }
    }

    /// The registry URL without credentials, if there is a registry.
    pub fn registry_url(&self) -> Option<&str> {
        self.registry.as_ref().map(|(r, _)| r.shown())
    }

    /// The slot of `id`, or `None` when `max_ids` slots are taken by other ids.
    fn slot(&self, id: u32) -> Option<Arc<Mutex<Slot>>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get(&id) {
            return Some(Arc::clone(s));
        }
        if slots.len() >= self.options.max_ids {
            return None;
        }
        let s = Arc::new(Mutex::new(Slot::Empty));
        slots.insert(id, Arc::clone(&s));
        Some(s)
    }

    /// The current outage, if the registry is not to be asked now.
    fn outage(&self) -> Option<String> {
        let outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        match &*outage {
            Some((until, what)) if Instant::now() < *until => Some(what.clone()),
            _ => None,
        }
    }

    /// Looks `id` up where it may be: the registry's answer, else the bundled schema,
    /// else why there is none.
    fn resolve(&self, id: u32) -> Result<Arc<[u8]>, String> {
        let bundled = lsst::by_id(id).map(|s| Arc::<[u8]>::from(s.as_bytes()));
        let Some((registry, handle)) = &self.registry else {
            return bundled.ok_or_else(|| {
                format!(
                    "no writer schema for schema id {id}: not among the bundled Rubin \
                     schemas ({}) and no schema registry given (--schema-registry URL)",
                    lsst::bundled_range()
                )
            });
        };
        let url = registry.shown();
        let none_bundled = || {
            format!(
                "the bundled Rubin schemas ({}) do not have it",
                lsst::bundled_range()
            )
        };
        if let Some(what) = self.outage() {
            return bundled.ok_or_else(|| {
                format!(
                    "no writer schema for schema id {id}: the schema registry {url} is \
                     unreachable ({what}), and {}",
                    none_bundled()
                )
            });
        }
        match block_on(handle, registry.fetch(id)) {
            Answer::Schema(schema) => {
                self.warned.store(false, Ordering::Relaxed);
                tracing::debug!(id, registry = url, "writer schema from the schema registry");
                Ok(schema)
            }
            Answer::NotFound(detail) => match bundled {
                Some(schema) => {
                    tracing::info!(
                        id,
                        registry = url,
                        "schema id not in the schema registry ({detail}): using the bundled schema"
                    );
                    Ok(schema)
                }
                None => Err(format!(
                    "no writer schema for schema id {id}: the schema registry {url} does not \
                     have it ({detail}), and {}",
                    none_bundled()
                )),
            },
            Answer::Unusable(detail) => {
                tracing::warn!(
                    id,
                    registry = url,
                    bundled = bundled.is_some(),
                    "the schema registry gave no usable schema ({detail})"
                );
                bundled.ok_or_else(|| {
                    format!(
                        "no writer schema for schema id {id}: the schema registry {url} gave \
                         no usable schema ({detail}), and {}",
                        none_bundled()
                    )
                })
            }
            Answer::Unreachable(what) => {
                let pause = self.options.outage_pause;
                *self.outage.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now() + pause, what.clone()));
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        registry = url,
                        pause_secs = pause.as_secs_f64(),
                        "schema registry unreachable ({what}): using the bundled Rubin schemas \
                         ({}); the registry is asked again after the pause",
                        lsst::bundled_range()
                    );
                }
                bundled.ok_or_else(|| {
                    format!(
                        "no writer schema for schema id {id}: the schema registry {url} is \
                         unreachable ({what}), and {}",
                        none_bundled()
                    )
                })
            }
        }
    }
}

impl WriterSchemas for SchemaIds {
    fn by_id(&self, id: u32) -> Result<Arc<[u8]>, String> {
        let Some(slot) = self.slot(id) else {
            // too many distinct ids: no more registry requests, the bundled ones still go
            return lsst::by_id(id)
                .map(|s| Arc::<[u8]>::from(s.as_bytes()))
                .ok_or_else(|| {
                    format!(
                        "no writer schema for schema id {id}: not among the bundled Rubin \
                         schemas ({}), and not asked of {}: over {} distinct schema ids in \
                         this run",
                        lsst::bundled_range(),
                        self.registry_url().unwrap_or("any schema registry"),
                        self.options.max_ids
                    )
                });
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Slot::Ready(schema) => return Ok(Arc::clone(schema)),
            Slot::Failed { reason, until } if Instant::now() < *until => return Err(reason.clone()),
            _ => {}
        }
        let got = self.resolve(id);
        *slot = match &got {
            Ok(schema) => Slot::Ready(Arc::clone(schema)),
            Err(reason) => Slot::Failed {
                reason: reason.clone(),
                until: Instant::now() + self.options.outage_pause,
            },
        };
        got
    }
}

/// Runs `fut` to completion on `handle` from a plain thread; inside a runtime (where
/// `Handle::block_on` would panic) on a helper thread.
fn block_on<F>(handle: &Handle, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if Handle::try_current().is_err() {
        return handle.block_on(fut);
    }
    std::thread::scope(|s| match s.spawn(|| handle.block_on(fut)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::test_server::{Reply, Server};

    /// Quick repeats so failure tests take well under a second.
    fn quick() -> Options {
        Options {
            request_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(300),
            retry: RetryPolicy {
                first_wait: Duration::from_millis(10),
                max_wait: Duration::from_millis(40),
                budget: Duration::from_millis(150),
            },
            outage_pause: Duration::from_secs(30),
            max_ids: 1024,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        }
    }

    fn ids(server: &Server, rt: &tokio::runtime::Runtime, options: Options) -> SchemaIds {
        SchemaIds::with_registry_options(&server.url(), rt.handle().clone(), options)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A registry answer serving `schema` (JSON text).
    fn served(schema: &str) -> Reply {
        let body = serde_json::json!({ "schema": schema }).to_string();
        Reply::Json(200, body)
    }

    fn not_found() -> Reply {
        Reply::Json(
            404,
            r#"{"error_code": 40403, "message": "Schema not found"}"#.into(),
        )
    }

    /// 11.0 with one more optional field, as a registry would hold a newer schema.
    fn extra_schema() -> String {
        let mut v: serde_json::Value =
            serde_json::from_str(lsst::by_id(1100).unwrap_or_default()).unwrap_or_default();
        if let Some(fields) = v.get_mut("fields").and_then(|f| f.as_array_mut()) {
            fields.push(
                serde_json::json!({"name": "extra", "type": ["null", "long"], "default": null}),
            );
        }
        v.to_string()
    }

    fn text(r: Result<Arc<[u8]>, String>) -> String {
        match r {
            Ok(s) => String::from_utf8(s.to_vec()).unwrap_or_default(),
            Err(e) => panic!("no schema: {e}"),
        }
    }

    #[test]
    fn bundled_only_gives_every_bundled_id_and_refuses_others_naming_them() {
        let ids = SchemaIds::bundled();
        assert_eq!(lsst::SCHEMAS.len(), 9);
        for (version, schema) in lsst::SCHEMAS {
            let id = lsst::schema_id(version).unwrap_or_default();
            assert_eq!(text(ids.by_id(id)), *schema, "{version}");
            // the second lookup is the cached copy
            let (a, b) = (ids.by_id(id), ids.by_id(id));
            assert!(matches!((a, b), (Ok(a), Ok(b)) if Arc::ptr_eq(&a, &b)));
        }
        let e = ids.by_id(1234).err().unwrap_or_default();
        assert_eq!(
            e,
            "no writer schema for schema id 1234: not among the bundled Rubin schemas \
             (7.0-11.0) and no schema registry given (--schema-registry URL)"
        );
        assert_eq!(ids.describe(), "bundled Rubin schemas 7.0-11.0");
        assert!(SchemaIds::from_flag(None, runtime().handle().clone())
            .is_ok_and(|s| s.registry_url().is_none()));
    }

    #[test]
    fn the_registry_is_asked_once_per_id_even_by_concurrent_decoders() {
        let extra = extra_schema();
        let served_extra = extra.clone();
        let server = Server::start(move |path, _| match path {
            "/schemas/ids/1101" => served(&served_extra),
            "/schemas/ids/900" => served(lsst::by_id(900).unwrap_or_default()),
            _ => not_found(),
        });
        let rt = runtime();
        let ids = ids(&server, &rt, quick());
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        assert_eq!(text(ids.by_id(1101)), extra);
                        assert_eq!(text(ids.by_id(900)), lsst::by_id(900).unwrap_or_default());
                    }
                });
            }
        });
        assert_eq!(server.hits("/schemas/ids/1101"), 1);
        assert_eq!(server.hits("/schemas/ids/900"), 1);
        assert_eq!(server.total(), 2);
        assert_eq!(
            ids.describe(),
            format!(
                "schema registry {} (fallback: bundled Rubin schemas 7.0-11.0)",
                server.url()
            )
        );
    }

    #[test]
    fn not_found_falls_back_to_the_bundled_schema_or_names_id_range_and_registry() {
        let server = Server::start(|_, _| not_found());
        let rt = runtime();
        let ids = ids(&server, &rt, quick());
        assert_eq!(text(ids.by_id(900)), lsst::by_id(900).unwrap_or_default());
        let e = ids.by_id(1234).err().unwrap_or_default();
        assert_eq!(
            e,
            format!(
                "no writer schema for schema id 1234: the schema registry {} does not have it \
                 (HTTP 404, error_code 40403: Schema not found), and the bundled Rubin \
                 schemas (7.0-11.0) do not have it",
                server.url()
            )
        );
        // both remembered: no new request
        assert!(ids.by_id(900).is_ok());
        assert_eq!(ids.by_id(1234).err().unwrap_or_default(), e);
        assert_eq!(server.total(), 2);
    }

    #[test]
    fn transient_failures_are_repeated_until_the_answer() {
        // 503, a dropped connection, 429, then the schema
        let server = Server::start(|_, n| match n {
            0 => Reply::Json(503, "busy".into()),
            1 => Reply::Drop,
            2 => Reply::Json(429, r#"{"error_code": 429, "message": "slow down"}"#.into()),
            _ => served(r#"{"type": "record", "name": "x", "fields": []}"#),
        });
        let rt = runtime();
        let options = Options {
            retry: RetryPolicy {
                budget: Duration::from_secs(2),
                ..quick().retry
            },
            ..quick()
        };
        let ids = ids(&server, &rt, options);
        assert_eq!(
            text(ids.by_id(1234)),
            r#"{"type": "record", "name": "x", "fields": []}"#
        );
        assert_eq!(server.hits("/schemas/ids/1234"), 4);
    }

    #[test]
    fn a_refused_connection_means_bundled_schemas_and_a_pause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let url = format!("http://127.0.0.1:{port}");
        let rt = runtime();
        let ids = SchemaIds::with_registry_options(&url, rt.handle().clone(), quick())
            .unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        assert_eq!(text(ids.by_id(900)), lsst::by_id(900).unwrap_or_default());
        let e = ids.by_id(1234).err().unwrap_or_default();
        assert!(
            e.starts_with(&format!(
                "no writer schema for schema id 1234: the schema registry {url} is unreachable ("
            )),
            "{e}"
        );
        assert!(e.contains("attempts in"), "{e}");
        assert!(
            e.ends_with("and the bundled Rubin schemas (7.0-11.0) do not have it"),
            "{e}"
        );
        // the first lookup waited out the retry budget, the second one did not ask
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(text(ids.by_id(1000)), lsst::by_id(1000).unwrap_or_default());
    }

    #[test]
    fn a_registry_that_never_answers_times_out_and_is_paused() {
        let server = Server::start(|_, _| Reply::Hang(Duration::from_secs(3)));
        let rt = runtime();
        let pause = Duration::from_secs(1);
        let ids = ids(
            &server,
            &rt,
            Options {
                outage_pause: pause,
                ..quick()
            },
        );
        let started = Instant::now();
        assert_eq!(text(ids.by_id(800)), lsst::by_id(800).unwrap_or_default());
        let waited = started.elapsed();
        // a few 300 ms attempts within the 150 ms budget of waits
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        let asked = server.total();
        assert!(asked >= 2, "timeouts are repeated: {asked}");
        let e = ids.by_id(4321).err().unwrap_or_default();
        assert!(e.contains("is unreachable (") && e.contains("4321"), "{e}");
        assert!(e.contains("timed out") || e.contains("timeout"), "{e}");
        assert_eq!(server.total(), asked, "not asked during the pause");
        // after the pause the registry is asked again
        std::thread::sleep(pause);
        assert!(ids.by_id(4321).is_err());
        assert!(server.total() > asked);
    }

    #[test]
    fn an_answer_that_is_not_a_json_schema_is_refused_with_the_reason() {
        let server = Server::start(|_, _| served("this is not JSON"));
        let rt = runtime();
        let ids = ids(&server, &rt, quick());
        let e = ids.by_id(1234).err().unwrap_or_default();
        assert!(
            e.starts_with(&format!(
                "no writer schema for schema id 1234: the schema registry {} gave no usable \
                 schema (the schema is not JSON text (",
                server.url()
            )),
            "{e}"
        );
        assert!(e.contains("this is not JSON"), "{e}");
        // a bundled id still goes, from the bundled schema; nothing was repeated
        assert_eq!(text(ids.by_id(900)), lsst::by_id(900).unwrap_or_default());
        assert_eq!(server.total(), 2);
    }

    #[test]
    fn credentials_in_the_url_are_sent_and_never_shown() {
        let server = Server::start(|_, _| not_found());
        let rt = runtime();
        let url = server.url().replace("http://", "http://alice:s3cret@");
        let ids = SchemaIds::with_registry_options(&url, rt.handle().clone(), quick())
            .unwrap_or_else(|e| panic!("{e}"));
        let e = ids.by_id(1234).err().unwrap_or_default();
        // "alice:s3cret" in base64
        assert_eq!(server.auth(), ["Basic YWxpY2U6czNjcmV0"]);
        assert!(e.contains(&server.url()) && !e.contains("s3cret"), "{e}");
        assert_eq!(ids.registry_url(), Some(server.url().as_str()));
        assert!(!ids.describe().contains("alice") && !format!("{ids:?}").contains("s3cret"));
    }

    #[test]
    fn lookups_inside_a_runtime_do_not_panic() {
        let server = Server::start(|_, _| served(r#""long""#));
        let rt = runtime();
        let ids = Arc::new(ids(&server, &rt, quick()));
        let inner = Arc::clone(&ids);
        let got = rt.block_on(async move { inner.by_id(5) });
        assert_eq!(text(got), r#""long""#);
    }

    #[test]
    fn distinct_ids_beyond_the_cap_are_not_asked() {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let server = Server::start(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            not_found()
        });
        let rt = runtime();
        let ids = ids(
            &server,
            &rt,
            Options {
                max_ids: 2,
                ..quick()
            },
        );
        assert!(ids.by_id(1).is_err() && ids.by_id(2).is_err());
        let e = ids.by_id(3).err().unwrap_or_default();
        assert!(e.contains("over 2 distinct schema ids in this run"), "{e}");
        assert!(e.contains(&server.url()), "{e}");
        assert!(ids.by_id(900).is_ok(), "bundled ids still go");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
