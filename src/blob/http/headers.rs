//! Reading request headers into engine types, and writing blob properties as headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::blob::engine::{
    BlobBody, BlobVersion, Conditions, ContentProperties, Metadata, SequenceConditions, Timestamp,
};

use super::error::BlobApiError;
use super::header_case::{RequestMetadataNames, ResponseMetadataNames};

pub fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, BlobApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| BlobApiError::invalid_header(name, "", "The value is not ASCII text."))
        })
        .transpose()
}

pub fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, BlobApiError> {
    text(headers, name)?
        .map(|v| {
            v.trim().parse().map_err(|_| {
                BlobApiError::invalid_header(name, v, "A non-negative integer is expected.")
            })
        })
        .transpose()
}

/// A requested range: `bytes=S-E` or `bytes=S-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpec {
    pub start: u64,
    pub end: Option<u64>,
}

/// `x-ms-range` wins over `Range`, as in Azure.
pub fn range(headers: &HeaderMap) -> Result<Option<RangeSpec>, BlobApiError> {
    for name in ["x-ms-range", "range"] {
        if let Some(value) = text(headers, name)? {
            return parse_range(value).map(Some).ok_or_else(|| {
                BlobApiError::invalid_header(name, value, "Expected bytes=start-end.")
            });
        }
    }
    Ok(None)
}

fn parse_range(value: &str) -> Option<RangeSpec> {
    let (start, end) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse::<u64>().ok().filter(|&e| e >= start)?),
    };
    Some(RangeSpec { start, end })
}

fn http_date(headers: &HeaderMap, name: &str) -> Result<Option<Timestamp>, BlobApiError> {
    text(headers, name)?
        .map(|v| {
            DateTime::parse_from_rfc2822(v)
                .map(|d| Timestamp::from_datetime(d.with_timezone(&Utc)))
                .map_err(|_| BlobApiError::invalid_header(name, v, "An RFC 1123 date is expected."))
        })
        .transpose()
}

pub fn conditions(headers: &HeaderMap) -> Result<Conditions, BlobApiError> {
    Ok(Conditions {
        if_match: text(headers, "if-match")?.map(str::to_owned),
        if_none_match: text(headers, "if-none-match")?.map(str::to_owned),
        if_modified_since: http_date(headers, "if-modified-since")?,
        if_unmodified_since: http_date(headers, "if-unmodified-since")?,
    })
}

pub fn sequence_conditions(headers: &HeaderMap) -> Result<SequenceConditions, BlobApiError> {
    Ok(SequenceConditions {
        le: number(headers, "x-ms-if-sequence-number-le")?,
        lt: number(headers, "x-ms-if-sequence-number-lt")?,
        eq: number(headers, "x-ms-if-sequence-number-eq")?,
    })
}

/// `x-ms-meta-*` headers, names spelled as the client sent them (`names`). Names must be
/// C# identifiers, as in Azure.
pub fn metadata(
    headers: &HeaderMap,
    names: &RequestMetadataNames,
) -> Result<Metadata, BlobApiError> {
    let mut metadata = Metadata::new();
    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix("x-ms-meta-") else {
            continue;
        };
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let value = value.to_str().ok().filter(|_| valid).ok_or_else(|| {
            BlobApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidMetadata",
                "The metadata specified is invalid. It has characters that are not permitted.",
            )
        })?;
        metadata.push((names.original(key).to_owned(), value.trim().to_owned()));
    }
    Ok(metadata)
}

/// The content headers a create or Set Blob Properties stores (`x-ms-blob-content-*`).
pub fn content_properties(headers: &HeaderMap) -> Result<ContentProperties, BlobApiError> {
    let owned = |name| Ok::<_, BlobApiError>(text(headers, name)?.map(str::to_owned));
    Ok(ContentProperties {
        content_type: owned("x-ms-blob-content-type")?,
        content_encoding: owned("x-ms-blob-content-encoding")?,
        content_language: owned("x-ms-blob-content-language")?,
        content_disposition: owned("x-ms-blob-content-disposition")?,
        cache_control: owned("x-ms-blob-cache-control")?,
        content_md5: md5_header(headers, "x-ms-blob-content-md5")?,
    })
}

/// A base64 MD5 header, checked to be 16 bytes.
pub fn md5_header(headers: &HeaderMap, name: &str) -> Result<Option<Vec<u8>>, BlobApiError> {
    text(headers, name)?
        .map(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
                .filter(|d| d.len() == 16)
                .ok_or_else(|| {
                    BlobApiError::invalid_header(name, v, "A base64 MD5 digest is expected.")
                })
        })
        .transpose()
}

pub fn put(headers: &mut HeaderMap, name: &'static str, value: impl AsRef<str>) {
    if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// `x-ms-meta-*` response headers; their names go out spelled as stored.
pub fn write_metadata(response: &mut Response, metadata: &Metadata) {
    let headers = response.headers_mut();
    for (key, value) in metadata {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(format!("x-ms-meta-{key}").as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    response.extensions_mut().insert(ResponseMetadataNames(
        metadata.iter().map(|(key, _)| key.clone()).collect(),
    ));
}

/// Headers every write acknowledges with.
pub fn write_ack(headers: &mut HeaderMap, etag: impl std::fmt::Display, modified: Timestamp) {
    put(headers, "etag", etag.to_string());
    put(headers, "last-modified", modified.to_http_date());
    put(headers, "x-ms-request-server-encrypted", "true");
}

/// The properties Get Blob and Get Blob Properties return.
pub fn write_blob_properties(response: &mut Response, version: &BlobVersion, whole: bool) {
    let headers = response.headers_mut();
    let content = &version.content;
    put(
        headers,
        "content-type",
        content
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    for (name, value) in [
        ("content-encoding", &content.content_encoding),
        ("content-language", &content.content_language),
        ("content-disposition", &content.content_disposition),
        ("cache-control", &content.cache_control),
    ] {
        if let Some(value) = value {
            put(headers, name, value);
        }
    }
    if let Some(md5) = &content.content_md5 {
        let encoded = base64::engine::general_purpose::STANDARD.encode(md5);
        // A ranged read returns the whole blob's MD5 under another name.
        put(
            headers,
            if whole {
                "content-md5"
            } else {
                "x-ms-blob-content-md5"
            },
            encoded,
        );
    }
    put(headers, "etag", version.etag.to_string());
    put(headers, "last-modified", version.modified.to_http_date());
    put(
        headers,
        "x-ms-creation-time",
        version.created.to_http_date(),
    );
    put(headers, "accept-ranges", "bytes");
    put(headers, "x-ms-blob-type", version.body.type_name());
    if let BlobBody::Page {
        sequence_number, ..
    } = &version.body
    {
        put(
            headers,
            "x-ms-blob-sequence-number",
            sequence_number.to_string(),
        );
    }
    put(headers, "x-ms-lease-state", "available");
    put(headers, "x-ms-lease-status", "unlocked");
    put(headers, "x-ms-server-encrypted", "true");
    write_metadata(response, &version.metadata);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_closed_and_open() {
        assert_eq!(
            parse_range("bytes=0-511"),
            Some(RangeSpec {
                start: 0,
                end: Some(511)
            })
        );
        assert_eq!(
            parse_range("bytes=1024-"),
            Some(RangeSpec {
                start: 1024,
                end: None
            })
        );
        assert_eq!(parse_range("bytes=10-5"), None);
        assert_eq!(parse_range("items=0-5"), None);
        assert_eq!(parse_range("bytes=-5"), None);
    }

    #[test]
    fn metadata_names_must_be_identifiers_and_keep_the_sent_spelling() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-meta-good_name1", HeaderValue::from_static("v"));
        let sent = RequestMetadataNames(vec!["x-ms-meta-Good_Name1".into()]);
        assert_eq!(
            metadata(&headers, &sent).unwrap(),
            vec![("Good_Name1".into(), "v".into())]
        );
        headers.insert("x-ms-meta-1bad", HeaderValue::from_static("v"));
        assert_eq!(
            metadata(&headers, &sent).unwrap_err().code,
            "InvalidMetadata"
        );
    }
}
