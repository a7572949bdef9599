//! Page blob operations: Put Page (update and clear) and Get Page Ranges, with diffs.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use vaultsim_protocol::blob_xml::{ByteSpan, PageList, PageListRange};
use vaultsim_protocol::page_blob::MAX_PUT_PAGE_BYTES;

use crate::blob::engine::{ByteRange, DiffSpan, PageRangesReport, PageSpan, PAGE_SIZE};

use super::error::BlobApiError;
use super::headers::{self, put};
use super::upload::{self, Md5Check};
use super::{empty, timestamp_param, xml_response, BlobRequest};

pub async fn put_page(request: BlobRequest) -> Result<Response, BlobApiError> {
    request.base_only()?;
    let h = request.headers();
    let clear = match headers::text(h, "x-ms-page-write")? {
        Some(v) if v.eq_ignore_ascii_case("update") => false,
        Some(v) if v.eq_ignore_ascii_case("clear") => true,
        Some(v) => {
            return Err(BlobApiError::invalid_header(
                "x-ms-page-write",
                v,
                "Expected update or clear.",
            ))
        }
        None => return Err(BlobApiError::missing_header("x-ms-page-write")),
    };
    let range = headers::range(h)?.ok_or_else(|| BlobApiError::missing_header("x-ms-range"))?;
    let Some(end) = range.end else {
        return Err(BlobApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidPageRange",
            "The page range specified is invalid: Put Page needs a closed range.",
        ));
    };
    let range = ByteRange {
        start: range.start,
        end,
    };
    let conditions = headers::conditions(h)?;
    let sequence = headers::sequence_conditions(h)?;
    let announced = headers::number(h, "content-length")?.unwrap_or(0);
    let expected_md5 = headers::md5_header(h, "content-md5")?;
    let data = if clear {
        if announced != 0 {
            return Err(BlobApiError::invalid_header(
                "Content-Length",
                &announced.to_string(),
                "A clear carries no body.",
            ));
        }
        None
    } else {
        if range.byte_count() > MAX_PUT_PAGE_BYTES || announced > MAX_PUT_PAGE_BYTES {
            return Err(BlobApiError::body_too_large(MAX_PUT_PAGE_BYTES));
        }
        if announced != range.byte_count() {
            return Err(BlobApiError::invalid_header(
                "Content-Length",
                &announced.to_string(),
                "The body length must equal the length of the page range.",
            ));
        }
        Some(())
    };
    let store = request.store.clone();
    let (container, blob) = (request.container().to_owned(), request.blob().to_owned());
    // Refuse before receiving the body what would be refused at commit.
    store.check_page_write(&container, &blob, range, &conditions, sequence)?;
    let data = match data {
        None => None,
        Some(()) => {
            let md5 = match &expected_md5 {
                Some(expected) => Md5Check::Compute {
                    expected: Some(expected.clone()),
                },
                None => Md5Check::Skip,
            };
            Some(
                upload::receive(&store, request.body, range.byte_count(), md5)
                    .await?
                    .0,
            )
        }
    };
    let ack = store.write_pages(&container, &blob, range, data, &conditions, sequence)?;
    let mut response = empty(StatusCode::CREATED);
    let h = response.headers_mut();
    headers::write_ack(h, ack.etag, ack.modified);
    if let Some(seq) = ack.sequence_number {
        put(h, "x-ms-blob-sequence-number", seq.to_string());
    }
    if let Some(md5) = expected_md5 {
        put(
            h,
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(md5),
        );
    }
    Ok(response)
}

/// One line of a PageList document.
enum ListedRange {
    Page(PageSpan),
    Clear(PageSpan),
}

impl ListedRange {
    fn span(&self) -> PageSpan {
        match self {
            ListedRange::Page(s) | ListedRange::Clear(s) => *s,
        }
    }
}

pub fn get_page_ranges(request: BlobRequest) -> Result<Response, BlobApiError> {
    let h = request.headers();
    let conditions = headers::conditions(h)?;
    let previous = timestamp_param(&request.query, "prevsnapshot")?;
    if h.contains_key("x-ms-previous-snapshot-url") {
        return Err(BlobApiError::new(
            StatusCode::BAD_REQUEST,
            "PreviousSnapshotOperationNotSupported",
            "x-ms-previous-snapshot-url applies to managed disks only; use prevsnapshot.",
        ));
    }
    let window = match headers::range(h)? {
        None => None,
        Some(r) => Some(ByteRange {
            start: r.start,
            end: r.end.ok_or_else(|| {
                BlobApiError::invalid_header("x-ms-range", "", "A closed range is expected.")
            })?,
        }),
    };
    let marker = request
        .query
        .get("marker")
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.parse::<u64>().map_err(|_| {
                BlobApiError::invalid_query(
                    "marker",
                    m,
                    "The marker is not one this service issued.",
                )
            })
        })
        .transpose()?;
    let max = request
        .query
        .get("maxresults")
        .map(|m| {
            m.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                BlobApiError::invalid_query("maxresults", m, "A positive integer is expected.")
            })
        })
        .transpose()?;
    let ranges = request
        .store
        .page_ranges(request.address()?, previous, window, &conditions)?;
    let listed: Vec<ListedRange> = match ranges.report {
        PageRangesReport::Ranges(spans) => spans.into_iter().map(ListedRange::Page).collect(),
        PageRangesReport::Diff(spans) => spans
            .into_iter()
            .map(|d| match d {
                DiffSpan::Written(s) => ListedRange::Page(s),
                DiffSpan::Cleared(s) => ListedRange::Clear(s),
            })
            .collect(),
    };
    let start = marker.map_or(0, |m| listed.partition_point(|r| r.span().first < m));
    let end = max.map_or(listed.len(), |m| (start + m).min(listed.len()));
    let page = &listed[start..end];
    let document = PageList {
        ranges: page
            .iter()
            .map(|range| match range {
                ListedRange::Page(s) => PageListRange::PageRange(byte_span(s)),
                ListedRange::Clear(s) => PageListRange::ClearRange(byte_span(s)),
            })
            .collect(),
        next_marker: max.map(|_| {
            listed
                .get(end)
                .map(|r| r.span().first.to_string())
                .unwrap_or_default()
        }),
    };
    let mut response = xml_response(&document)?;
    let h = response.headers_mut();
    put(h, "etag", ranges.properties.etag.to_string());
    put(
        h,
        "last-modified",
        ranges.properties.modified.to_http_date(),
    );
    put(
        h,
        "x-ms-blob-content-length",
        ranges.properties.content_length.to_string(),
    );
    Ok(response)
}

/// A run of pages as byte offsets, `End` inclusive.
fn byte_span(span: &PageSpan) -> ByteSpan {
    ByteSpan {
        start: span.first * PAGE_SIZE,
        end: span.end() * PAGE_SIZE - 1,
    }
}
