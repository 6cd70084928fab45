//! The archive: its base URL, the HTTP client and its `MD5SUMS`.

use std::time::Duration;

use ateda_retry::{retry, RetryPolicy};
use url::Url;

use crate::{FetchError, Md5Sums};

/// An archive of nightly tarballs with an `MD5SUMS` beside them, read over HTTP(S).
#[derive(Debug, Clone)]
pub struct Archive {
    base: Url,
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl Archive {
    /// The archive at `base` (a trailing `/` is added if missing), its transient
    /// failures retried under `policy` (which also bounds how long one download may go
    /// without progress before it is given up).
    pub fn new(base: &str, policy: RetryPolicy) -> Result<Self, FetchError> {
        let with_slash = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        let base = Url::parse(&with_slash).map_err(|source| FetchError::BadUrl {
            url: base.to_string(),
            source,
        })?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("ateda/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Archive {
            base,
            client,
            policy,
        })
    }

    /// The archive's base URL (ending in `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The retry policy of transient failures.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The URL of a file of the archive.
    pub fn url_of(&self, name: &str) -> Result<Url, FetchError> {
        self.base.join(name).map_err(|source| FetchError::BadUrl {
            url: format!("{}{name}", self.base),
            source,
        })
    }

    /// Reads and parses the archive's `MD5SUMS`, retrying transient failures.
    pub async fn md5sums(&self) -> Result<Md5Sums, FetchError> {
        let url = self.url_of("MD5SUMS")?;
        let text = retry(
            &self.policy,
            "reading MD5SUMS",
            |e: &FetchError| e.is_transient(),
            || async {
                let request_error = |source| FetchError::Request {
                    url: url.to_string(),
                    source,
                };
                let resp = self
                    .client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(request_error)?;
                let status = resp.status().as_u16();
                if !resp.status().is_success() {
                    return Err(FetchError::Http {
                        url: url.to_string(),
                        status,
                    });
                }
                resp.text().await.map_err(request_error)
            },
        )
        .await?;
        Ok(Md5Sums::parse(&text))
    }

    /// The HTTP status of a `HEAD` of one of the archive's files (retried while
    /// transient).
    pub(crate) async fn head_status(&self, name: &str) -> Result<u16, FetchError> {
        let url = self.url_of(name)?;
        retry(
            &self.policy,
            "probing the archive",
            |e: &FetchError| e.is_transient(),
            || async {
                let resp = self
                    .client
                    .head(url.clone())
                    .send()
                    .await
                    .map_err(|source| FetchError::Request {
                        url: url.to_string(),
                        source,
                    })?;
                let status = resp.status().as_u16();
                match ateda_retry::classify_status(status) {
                    Some(_) => Err(FetchError::Http {
                        url: url.to_string(),
                        status,
                    }),
                    None => Ok(status),
                }
            },
        )
        .await
    }
}
