//! A small HTTP/1.1 file server on 127.0.0.1 for the download tests: GET and HEAD,
//! `Range: bytes=N-` with `If-Range`, ETag and Last-Modified, and switches to ignore
//! ranges, cut the next body short or answer 503; every request is logged with the body
//! bytes sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One served request.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub body_sent: usize,
}

/// What the server serves and how.
#[derive(Default)]
pub struct Served {
    /// File name -> (content, ETag).
    pub files: HashMap<String, (Vec<u8>, String)>,
    pub ignore_range: bool,
    /// Close the connection after this many body bytes of the next GET.
    pub cut_next_after: Option<usize>,
    /// Answer 503 to every request.
    pub unavailable: bool,
    pub log: Vec<Logged>,
}

/// A running server; stops with the test's runtime.
pub struct Server {
    pub base: String,
    served: Arc<Mutex<Served>>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(Served::default()));
        let s = served.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(handle(conn, s.clone()));
            }
        });
        Server { base, served }
    }

    pub fn state(&self) -> MutexGuard<'_, Served> {
        self.served.lock().unwrap()
    }

    /// Serves `name` with `content` and ETag `etag`.
    pub fn put(&self, name: &str, content: &[u8], etag: &str) {
        self.state()
            .files
            .insert(name.into(), (content.to_vec(), format!("\"{etag}\"")));
    }

    /// The GETs of `name` so far.
    pub fn gets(&self, name: &str) -> Vec<Logged> {
        let path = format!("/{name}");
        self.state()
            .log
            .iter()
            .filter(|l| l.method == "GET" && l.path == path)
            .cloned()
            .collect()
    }
}

async fn handle(mut conn: tokio::net::TcpStream, served: Arc<Mutex<Served>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    let (head, body, cut) = {
        let mut s = served.lock().unwrap();
        let file = s.files.get(path.trim_start_matches('/')).cloned();
        let (status, mut head, body) = if s.unavailable {
            (503, String::new(), Vec::new())
        } else {
            match file {
                None => (404, String::new(), Vec::new()),
                Some((content, etag)) => {
                    let validators =
                        format!("ETag: {etag}\r\nLast-Modified: Wed, 01 Nov 2023 00:00:00 GMT\r\n");
                    let from = range
                        .as_deref()
                        .filter(|_| !s.ignore_range)
                        .filter(|_| headers.get("if-range").is_none_or(|t| *t == etag))
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|r| r.parse::<usize>().ok());
                    match from {
                        Some(f) if f >= content.len() => (
                            416,
                            format!("Content-Range: bytes */{}\r\n", content.len()),
                            Vec::new(),
                        ),
                        Some(f) => (
                            206,
                            format!(
                                "{validators}Content-Range: bytes {f}-{}/{}\r\n",
                                content.len() - 1,
                                content.len()
                            ),
                            content[f..].to_vec(),
                        ),
                        None => (200, validators, content),
                    }
                }
            }
        };
        head = format!(
            "HTTP/1.1 {status} X\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let body = if method == "HEAD" { Vec::new() } else { body };
        let cut = if method == "GET" && status < 300 {
            s.cut_next_after.take()
        } else {
            None
        };
        let body_sent = cut.unwrap_or(body.len()).min(body.len());
        s.log.push(Logged {
            method,
            path,
            range,
            status,
            body_sent,
        });
        (head, body, cut)
    };
    let _ = conn.write_all(head.as_bytes()).await;
    let end = cut.unwrap_or(body.len()).min(body.len());
    let _ = conn.write_all(&body[..end]).await;
    let _ = conn.flush().await;
    let _ = conn.shutdown().await;
}
