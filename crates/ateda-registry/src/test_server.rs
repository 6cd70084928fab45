//! A loopback HTTP/1.1 server for the tests: answers each request as a closure says
//! (given the path and the request's number, from 0), counts requests per path.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How the server answers one request.
pub(crate) enum Reply {
    /// This status with this body (`application/json`).
    Json(u16, String),
    /// Close the connection without answering.
    Drop,
    /// Say nothing for this long, then close.
    Hang(Duration),
}

type Handler = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// A running server; stopped when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    auth: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts a server on 127.0.0.1 (a free port) answering with `handler`.
    pub(crate) fn start(handler: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("local_addr: {e}"),
        };
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let (h, a, s) = (Arc::clone(&hits), Arc::clone(&auth), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let seen = Seen {
                    hits: Arc::clone(&h),
                    auth: Arc::clone(&a),
                    count: Arc::clone(&count),
                };
                let handler = Arc::clone(&handler);
                std::thread::spawn(move || serve(stream, &*handler, &seen));
            }
        });
        Server {
            addr,
            hits,
            auth,
            stop,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests for `path` so far.
    pub(crate) fn hits(&self, path: &str) -> usize {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.get(path).copied().unwrap_or(0)
    }

    /// The `Authorization` headers received, in order.
    pub(crate) fn auth(&self) -> Vec<String> {
        self.auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests so far.
    pub(crate) fn total(&self) -> usize {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.values().sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop
        let _ = TcpStream::connect(self.addr);
    }
}

/// What the server records of the requests.
struct Seen {
    hits: Arc<Mutex<HashMap<String, usize>>>,
    auth: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

/// Reads one request head and answers it.
fn serve(mut stream: TcpStream, handler: &Handler, seen: &Seen) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                let mut auth = seen.auth.lock().unwrap_or_else(PoisonError::into_inner);
                auth.push(value.trim().to_string());
            }
        }
    }
    *seen
        .hits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(path.clone())
        .or_default() += 1;
    let n = seen.count.fetch_add(1, Ordering::SeqCst);
    match handler(&path, n) {
        Reply::Json(code, body) => {
            let answer = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
        Reply::Drop => {}
        Reply::Hang(d) => std::thread::sleep(d),
    }
}
