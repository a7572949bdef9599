//! Logging: structured `tracing` output to stderr, with secrets kept out.

use std::io::IsTerminal;

use axum::http::Uri;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `<time> <LEVEL> <target>: <message> key=value …`, one event a line.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields beside them, for log shippers.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides `default_level`. Colours only on a
/// terminal (and never with `NO_COLOR` set), so that a log file or a pipe gets plain lines
/// that grep finds.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colours_wanted()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn colours_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Query parameters whose values are secrets: SAS signatures, and values that would let a
/// reader rebuild a token.
const SECRET_PARAMS: &[&str] = &["sig"];

/// The request path and query with secret values replaced, for logs.
pub fn redacted_uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=REDACTED")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), redacted.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sas_signatures_are_redacted_and_the_rest_kept() {
        let uri: Uri = "/acct/c/b?sv=2026-10-06&sig=abc%2Bdef%3D&SIG=x&comp=page"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/acct/c/b?sv=2026-10-06&sig=REDACTED&SIG=REDACTED&comp=page"
        );
    }
}
