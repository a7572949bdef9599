//! The ids ARM puts on every response, so that a user can quote one and the operator find
//! the request's log line: `x-ms-request-id` (new per request), `x-ms-correlation-request-id`
//! (the client's `x-ms-correlation-request-id`, else its `x-ms-client-request-id`, else the
//! request id) and `x-ms-routing-request-id` (`<REGION>:<yyyyMMddTHHmmssZ>:<request id>`).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use uuid::Uuid;

/// What stands for the ARM front end's region in `x-ms-routing-request-id`.
const ROUTING_REGION: &str = "VAULTSIM";
/// A client's id longer than this is not echoed (ARM's ids are GUIDs).
const MAX_CLIENT_ID_LEN: usize = 128;

/// A request's ids, in its extensions for the request log.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: String,
    pub correlation_id: String,
}

impl RequestIds {
    fn for_request(headers: &HeaderMap) -> Self {
        let request_id = Uuid::new_v4().to_string();
        let client = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_ID_LEN)
                .map(str::to_owned)
        };
        let correlation_id = client("x-ms-correlation-request-id")
            .or_else(|| client("x-ms-client-request-id"))
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            correlation_id,
        }
    }
}

/// Middleware: gives the request its ids and puts them on the response.
pub async fn stamp(mut request: Request, next: Next) -> Response {
    let ids = RequestIds::for_request(request.headers());
    request.extensions_mut().insert(ids.clone());
    let mut response = next.run(request).await;
    let routing = format!(
        "{ROUTING_REGION}:{}:{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        ids.request_id
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ms-request-id", ids.request_id),
        ("x-ms-correlation-request-id", ids.correlation_id),
        ("x-ms-routing-request-id", routing),
    ] {
        // Every value is a GUID, a timestamp or a client's header that parsed as text.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_correlation_id_is_the_clients_if_it_gave_one() {
        let ids = RequestIds::for_request(&headers(&[
            ("x-ms-client-request-id", "client-1"),
            ("x-ms-correlation-request-id", "corr-1"),
        ]));
        assert_eq!(ids.correlation_id, "corr-1");
        let ids = RequestIds::for_request(&headers(&[("x-ms-client-request-id", "client-1")]));
        assert_eq!(ids.correlation_id, "client-1");
        let ids = RequestIds::for_request(&HeaderMap::new());
        assert_eq!(ids.correlation_id, ids.request_id);
        let long = "x".repeat(MAX_CLIENT_ID_LEN + 1);
        let ids = RequestIds::for_request(&headers(&[("x-ms-client-request-id", &long)]));
        assert_eq!(ids.correlation_id, ids.request_id);
        assert_ne!(
            RequestIds::for_request(&HeaderMap::new()).request_id,
            ids.request_id
        );
    }
}
