//! Logs of the long-running commands: to stderr, with `default` as the filter unless
//! `RUST_LOG` is set, colours only on a terminal.

use std::io::IsTerminal;

/// Installs the log subscriber.
pub(crate) fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
