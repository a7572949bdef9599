//! The page blob a local disk is mirrored to, addressed with Shared Key: the few Blob REST
//! calls the mirror needs (properties, page ranges, Put Page update and clear).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretSlice};
use vaultsim_protocol::blob_xml::{self, PageList, PageListRange};
use vaultsim_protocol::shared_key::{self, SignedRequest};

use super::LocalDiskError;

/// The storage service version sent in `x-ms-version`.
const API_VERSION: &str = "2025-11-05";

/// A page blob and the account credentials that may write it.
#[derive(Debug, Clone)]
pub struct PageBlobTarget {
    blob_url: Url,
    account_name: String,
    account_key: SecretSlice<u8>,
    http: reqwest::Client,
}

/// What Get Blob Properties says about the blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobProperties {
    pub etag: String,
    pub size_bytes: u64,
}

impl PageBlobTarget {
    /// `blob_url` is the blob's URL without a query (path-style:
    /// `http://127.0.0.1:10000/devstoreaccount1/disks/vm1.vhd`).
    pub fn new(
        blob_url: &str,
        account_name: &str,
        account_key_base64: &str,
    ) -> Result<Self, LocalDiskError> {
        let parsed = Url::parse(blob_url).map_err(|error| LocalDiskError::InvalidBlobUrl {
            url: blob_url.to_owned(),
            reason: error.to_string(),
        })?;
        if parsed.query().is_some() || parsed.path_segments().is_none_or(|s| s.count() < 2) {
            return Err(LocalDiskError::InvalidBlobUrl {
                url: blob_url.to_owned(),
                reason: "expected a container and blob path and no query".into(),
            });
        }
        let account_key = BASE64
            .decode(account_key_base64)
            .map_err(|_| LocalDiskError::InvalidAccountKey)?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(super::MAX_REQUESTS_IN_FLIGHT)
            .build()
            .map_err(|source| LocalDiskError::HttpClient { source })?;
        Ok(Self {
            blob_url: parsed,
            account_name: account_name.to_owned(),
            account_key: account_key.into(),
            http,
        })
    }

    /// The blob's URL, without a query.
    pub fn blob_url(&self) -> &str {
        self.blob_url.as_str()
    }

    /// Get Blob Properties: the ETag that changes with every write, and the size.
    pub(crate) async fn properties(&self) -> Result<BlobProperties, LocalDiskError> {
        let response = self
            .send(Method::HEAD, "", &[], Bytes::new(), "Get Blob Properties")
            .await?;
        let etag = header(&response, "etag")?.to_owned();
        let size_bytes = header(&response, "content-length")?
            .parse()
            .map_err(|_| self.malformed("Get Blob Properties", "Content-Length"))?;
        Ok(BlobProperties { etag, size_bytes })
    }

    /// Get Page Ranges over `[0, window_end)`: the byte ranges `[start, end)` that hold
    /// written pages (anything else reads as zeros), following `NextMarker`.
    pub(crate) async fn written_ranges(
        &self,
        window_end: u64,
    ) -> Result<Vec<(u64, u64)>, LocalDiskError> {
        let mut ranges = Vec::new();
        let mut marker = String::new();
        let window = format!("bytes=0-{}", window_end - 1);
        loop {
            let query = if marker.is_empty() {
                "comp=pagelist".to_owned()
            } else {
                format!("comp=pagelist&marker={marker}")
            };
            let response = self
                .send(
                    Method::GET,
                    &query,
                    &[("x-ms-range", &window)],
                    Bytes::new(),
                    "Get Page Ranges",
                )
                .await?;
            let body = response
                .text()
                .await
                .map_err(|source| self.transport("Get Page Ranges", source))?;
            let page = parse_page_list(&body)
                .ok_or_else(|| self.malformed("Get Page Ranges", "PageList"))?;
            ranges.extend(page.ranges);
            match page.next_marker {
                Some(next) if !next.is_empty() => marker = next,
                _ => return Ok(ranges),
            }
        }
    }

    /// Put Page update: `data` at `offset` (both 512-aligned, at most 4 MiB).
    pub(crate) async fn write_pages(&self, offset: u64, data: Bytes) -> Result<(), LocalDiskError> {
        let range = format!("bytes={}-{}", offset, offset + data.len() as u64 - 1);
        self.send(
            Method::PUT,
            "comp=page",
            &[("x-ms-page-write", "update"), ("x-ms-range", &range)],
            data,
            "Put Page",
        )
        .await
        .map(drop)
    }

    /// Put Page clear: `[offset, offset + length)` reads as zeros afterwards.
    pub(crate) async fn clear_pages(&self, offset: u64, length: u64) -> Result<(), LocalDiskError> {
        let range = format!("bytes={}-{}", offset, offset + length - 1);
        self.send(
            Method::PUT,
            "comp=page",
            &[("x-ms-page-write", "clear"), ("x-ms-range", &range)],
            Bytes::new(),
            "Put Page clear",
        )
        .await
        .map(drop)
    }

    /// Sends one Shared Key request; a status other than 2xx is an error.
    async fn send(
        &self,
        method: Method,
        query: &str,
        extra_headers: &[(&str, &str)],
        body: Bytes,
        operation: &'static str,
    ) -> Result<reqwest::Response, LocalDiskError> {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let length = body.len().to_string();
        let mut headers: Vec<(&str, &str)> =
            vec![("x-ms-date", &date), ("x-ms-version", API_VERSION)];
        if method == Method::PUT {
            headers.push(("content-length", &length));
        }
        headers.extend_from_slice(extra_headers);
        let authorization = shared_key::authorization_header(
            &self.account_name,
            self.account_key.expose_secret(),
            &SignedRequest {
                method: method.as_str(),
                headers: &headers,
                path: self.blob_url.path(),
                query,
            },
        );
        let mut url = self.blob_url.clone();
        url.set_query((!query.is_empty()).then_some(query));
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", authorization);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|source| self.transport(operation, source))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let error_code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Err(LocalDiskError::BlobRequestRefused {
            operation,
            blob_url: self.blob_url.to_string(),
            status: status.as_u16(),
            error_code,
        })
    }

    fn transport(&self, operation: &'static str, source: reqwest::Error) -> LocalDiskError {
        LocalDiskError::BlobUnreachable {
            operation,
            blob_url: self.blob_url.to_string(),
            source,
        }
    }

    fn malformed(&self, operation: &'static str, what: &'static str) -> LocalDiskError {
        LocalDiskError::MalformedBlobResponse {
            operation,
            blob_url: self.blob_url.to_string(),
            what,
        }
    }
}

fn header<'a>(
    response: &'a reqwest::Response,
    name: &'static str,
) -> Result<&'a str, LocalDiskError> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(LocalDiskError::MalformedBlobResponse {
            operation: "Get Blob Properties",
            blob_url: response.url().to_string(),
            what: name,
        })
}

/// One page of a `<PageList>` document.
#[derive(Debug, PartialEq, Eq)]
struct PageListPage {
    /// `[start, end)` of every `<PageRange>` (the document's `End` is inclusive).
    ranges: Vec<(u64, u64)>,
    next_marker: Option<String>,
}

/// Reads the `PageRange` elements and `NextMarker` of a Get Page Ranges body (`None` when
/// it is not a PageList document or a range ends before it starts).
fn parse_page_list(body: &str) -> Option<PageListPage> {
    let list: PageList = blob_xml::from_xml(body).ok()?;
    let mut ranges = Vec::new();
    for range in list.ranges {
        // Without `prevsnapshot` the service lists written ranges only; a `ClearRange`
        // would say nothing about what to copy.
        if let PageListRange::PageRange(span) = range {
            if span.end < span.start {
                return None;
            }
            ranges.push((span.start, span.end + 1));
        }
    }
    Some(PageListPage {
        ranges,
        next_marker: list.next_marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_list_ranges_are_half_open_and_markers_are_followed() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
            <PageRange><Start>0</Start><End>511</End></PageRange>\
            <PageRange><Start>65536</Start><End>131071</End></PageRange>\
            <NextMarker>128</NextMarker></PageList>";
        assert_eq!(
            parse_page_list(body),
            Some(PageListPage {
                ranges: vec![(0, 512), (65536, 131072)],
                next_marker: Some("128".into()),
            })
        );
    }

    #[test]
    fn an_empty_page_list_has_no_ranges_and_no_marker() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList></PageList>";
        assert_eq!(
            parse_page_list(body),
            Some(PageListPage {
                ranges: vec![],
                next_marker: None,
            })
        );
    }

    #[test]
    fn a_range_without_an_end_is_malformed() {
        let body = "<PageList><PageRange><Start>0</Start></PageRange></PageList>";
        assert_eq!(parse_page_list(body), None);
    }
}
