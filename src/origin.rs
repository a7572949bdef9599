//! The service's origin (`scheme://host[:port]`) as a client reached it, for every absolute
//! URL the service writes: the management API's `/metadata/endpoints`, OpenID documents and
//! token issuer, `Location`, `Azure-AsyncOperation` and `nextLink`, and the blob endpoint's
//! `ServiceEndpoint`. A client that came in over HTTPS, directly or through a proxy that
//! says so, never gets an `http://` URL back.

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts, HeaderMap};

use crate::server::{ListenerScheme, Scheme};

/// A configured base URL (`--public-url`) that overrides what requests say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// `http(s)://host[:port]`, optionally with a path prefix; a trailing `/` is dropped.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let url = url.trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                anyhow::anyhow!("the public URL {url:?} must start with https:// or http://")
            })?;
        let host = rest.split('/').next().unwrap_or_default();
        if !is_authority(host) {
            anyhow::bail!("the public URL {url:?} has no valid host");
        }
        Ok(PublicUrl(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Extractor: the service's origin for the client of this request.
#[derive(Debug, Clone)]
pub struct RequestOrigin(pub String);

impl<S> FromRequestParts<S> for RequestOrigin
where
    Option<PublicUrl>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let public_url = Option::<PublicUrl>::from_ref(state);
        Ok(RequestOrigin(request_origin(parts, public_url.as_ref())))
    }
}

/// The origin of the service for the client of the request with these parts.
pub fn request_origin(parts: &Parts, public_url: Option<&PublicUrl>) -> String {
    if let Some(url) = public_url {
        return url.as_str().to_owned();
    }
    let listener = parts
        .extensions
        .get::<ListenerScheme>()
        .map_or(Scheme::Http, |ListenerScheme(scheme)| *scheme);
    origin_from_headers(&parts.headers, listener)
}

/// What a proxy in front said (RFC 7239 `Forwarded`, else the `X-Forwarded-*` pair), then
/// the listener's own scheme and the `Host` header. Only the first (client-side) hop of a
/// list counts; a value that is not a plain scheme or authority is ignored, so no header
/// can smuggle characters into a URL.
fn origin_from_headers(headers: &HeaderMap, listener: Scheme) -> String {
    let forwarded = first_value(headers, "forwarded").map(parse_forwarded_element);
    let (forwarded_proto, forwarded_host) = forwarded.unwrap_or_default();
    let proto = forwarded_proto
        .or_else(|| first_value(headers, "x-forwarded-proto").map(str::to_owned))
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| p == "https" || p == "http")
        .unwrap_or_else(|| listener.as_str().to_owned());
    let host = forwarded_host
        .or_else(|| first_value(headers, "x-forwarded-host").map(str::to_owned))
        .filter(|h| is_authority(h))
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| is_authority(h))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{proto}://{host}")
}

/// The first comma-separated value of a header (the hop nearest the client).
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// `proto` and `host` of one `Forwarded` element (`for=…;proto=https;host="h:1"`).
fn parse_forwarded_element(element: &str) -> (Option<String>, Option<String>) {
    let mut proto = None;
    let mut host = None;
    for pair in element.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "proto" => proto = Some(value),
            "host" => host = Some(value),
            _ => {}
        }
    }
    (proto, host)
}

/// `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 address, optional port.
fn is_authority(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Request};

    use super::*;

    fn parts(listener: Scheme, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder().uri("/subscriptions");
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_str(value).unwrap());
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts.extensions.insert(ListenerScheme(listener));
        parts
    }

    #[test]
    fn the_listener_and_host_header_give_the_origin() {
        let https = parts(Scheme::Https, &[("host", "127.0.0.1:8443")]);
        assert_eq!(request_origin(&https, None), "https://127.0.0.1:8443");
        let http = parts(Scheme::Http, &[("host", "localhost:8080")]);
        assert_eq!(request_origin(&http, None), "http://localhost:8080");
    }

    #[test]
    fn a_proxy_saying_https_wins_over_a_plain_listener() {
        let xf = parts(
            Scheme::Http,
            &[
                ("host", "10.0.0.5:8080"),
                ("x-forwarded-proto", "https, http"),
                ("x-forwarded-host", "vaultsim.example:443"),
            ],
        );
        assert_eq!(request_origin(&xf, None), "https://vaultsim.example:443");
        let forwarded = parts(
            Scheme::Http,
            &[
                ("host", "10.0.0.5:8080"),
                (
                    "forwarded",
                    r#"for=192.0.2.60;proto=HTTPS;host="front:8443", for=10.1.1.1"#,
                ),
                ("x-forwarded-proto", "http"),
            ],
        );
        assert_eq!(request_origin(&forwarded, None), "https://front:8443");
        let proto_only = parts(
            Scheme::Http,
            &[("host", "h:1"), ("x-forwarded-proto", "https")],
        );
        assert_eq!(request_origin(&proto_only, None), "https://h:1");
    }

    #[test]
    fn forged_values_cannot_inject_into_urls() {
        let bad = parts(
            Scheme::Https,
            &[
                ("host", "h:1"),
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-host", "evil/path?x=1"),
            ],
        );
        assert_eq!(request_origin(&bad, None), "https://h:1");
        let no_host = parts(Scheme::Https, &[]);
        assert_eq!(request_origin(&no_host, None), "https://localhost");
    }

    #[test]
    fn a_configured_public_url_overrides_the_request() {
        let url = PublicUrl::parse("https://vaultsim.example/").unwrap();
        let request = parts(Scheme::Http, &[("host", "127.0.0.1:8080")]);
        assert_eq!(
            request_origin(&request, Some(&url)),
            "https://vaultsim.example"
        );
        assert!(PublicUrl::parse("vaultsim:8443").is_err());
        assert!(PublicUrl::parse("https://").is_err());
        assert!(PublicUrl::parse("https://a b/").is_err());
    }
}
