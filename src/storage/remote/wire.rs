//! Reading what an account answers: error responses, the headers the seam returns (ETag,
//! snapshot, metadata, Date), page lists and the snapshot listing.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::Response;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use vaultsim_protocol::blob_xml::{from_xml, ByteSpan, PageList, PageListRange};

use crate::storage::{DiffSpan, Metadata, PageSpan, StorageError, Timestamp, PAGE_SIZE};

/// An error response as its [`StorageError`]: the codes callers act on by name, anything
/// else with its status, code and the first line of its message (Azure appends the request
/// id and time; an authentication failure's detail is left out, as it may quote a
/// signature).
pub(super) async fn error_from(response: Response) -> StorageError {
    let status = response.status();
    let header_code = text(response.headers(), "x-ms-error-code").map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    let document = from_xml::<ErrorDocument>(&body).ok();
    let code = header_code
        .or_else(|| document.as_ref().and_then(|d| d.code.clone()))
        .unwrap_or_default();
    match code.as_str() {
        "ContainerNotFound" => return StorageError::ContainerNotFound,
        "ContainerAlreadyExists" => return StorageError::ContainerAlreadyExists,
        "BlobNotFound" => return StorageError::BlobNotFound,
        "BlobAlreadyExists" => return StorageError::BlobAlreadyExists,
        "ConditionNotMet" => return StorageError::ConditionNotMet,
        "PreviousSnapshotNotFound" => return StorageError::PreviousSnapshotNotFound,
        "InvalidBlobType" => return StorageError::InvalidBlobType,
        _ => {}
    }
    let message = document
        .and_then(|d| d.message)
        .and_then(|m| m.lines().next().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned());
    StorageError::Remote {
        status: status.as_u16(),
        code,
        message,
    }
}

/// `<Error><Code>…</Code><Message>…</Message>…</Error>`; the details are not read.
#[derive(Debug, Deserialize)]
struct ErrorDocument {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn unreadable(what: &str) -> StorageError {
    StorageError::Transport(format!("the storage account's answer has {what}"))
}

/// The `ETag` header, as sent.
pub(super) fn etag(headers: &HeaderMap) -> Result<String, StorageError> {
    text(headers, "etag")
        .map(str::to_owned)
        .ok_or_else(|| unreadable("no ETag"))
}

/// The `x-ms-snapshot` header of a Snapshot Blob response.
pub(super) fn snapshot(headers: &HeaderMap) -> Result<Timestamp, StorageError> {
    text(headers, "x-ms-snapshot")
        .and_then(Timestamp::parse_snapshot_id)
        .ok_or_else(|| unreadable("no readable x-ms-snapshot"))
}

/// The `Date` header (RFC 1123).
pub(super) fn date(headers: &HeaderMap) -> Result<DateTime<Utc>, StorageError> {
    text(headers, "date")
        .and_then(|date| DateTime::parse_from_rfc2822(date).ok())
        .map(|date| date.with_timezone(&Utc))
        .ok_or_else(|| unreadable("no readable Date"))
}

/// A whole-number header such as `Content-Length`.
pub(super) fn number(headers: &HeaderMap, name: &str) -> Result<u64, StorageError> {
    text(headers, name)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| unreadable(&format!("no readable {name}")))
}

/// A header's text, required.
pub(super) fn required<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, StorageError> {
    text(headers, name).ok_or_else(|| unreadable(&format!("no {name}")))
}

/// The `x-ms-meta-*` headers in the order received. HTTP/1 header names arrive lower-cased,
/// so metadata names read this way are lower-case (a listing keeps their spelling).
pub(super) fn metadata(headers: &HeaderMap) -> Metadata {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-ms-meta-")?;
            Some((name.to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// A Get Page Ranges body: its ranges (written, and in a diff cleared) as page spans with
/// adjacent spans of one kind joined, and the continuation marker if the list goes on.
pub(super) fn page_list(body: &str) -> Result<(Vec<DiffSpan>, Option<String>), StorageError> {
    let list: PageList = from_xml(body)
        .map_err(|error| unreadable(&format!("a page list that does not parse: {error}")))?;
    let mut spans: Vec<DiffSpan> = Vec::with_capacity(list.ranges.len());
    for range in list.ranges {
        let span = match range {
            PageListRange::PageRange(bytes) => DiffSpan::Written(pages(bytes)?),
            PageListRange::ClearRange(bytes) => DiffSpan::Cleared(pages(bytes)?),
        };
        push_joined(&mut spans, span);
    }
    Ok((spans, list.next_marker.filter(|m| !m.is_empty())))
}

/// Appends `span`, joining it to the last one when they are of one kind and touch.
/// Azurite lists each write's fragment separately; the engine lists maximal runs.
pub(super) fn push_joined(spans: &mut Vec<DiffSpan>, span: DiffSpan) {
    match (spans.last_mut(), span) {
        (Some(DiffSpan::Written(last)), DiffSpan::Written(next))
        | (Some(DiffSpan::Cleared(last)), DiffSpan::Cleared(next))
            if last.end() == next.first =>
        {
            last.count += next.count;
        }
        _ => spans.push(span),
    }
}

fn pages(bytes: ByteSpan) -> Result<PageSpan, StorageError> {
    let whole_pages = bytes.start.is_multiple_of(PAGE_SIZE)
        && bytes.end % PAGE_SIZE == PAGE_SIZE - 1
        && bytes.end > bytes.start;
    if !whole_pages {
        return Err(unreadable(&format!(
            "a page range {}-{} that is not whole pages",
            bytes.start, bytes.end
        )));
    }
    Ok(PageSpan {
        first: bytes.start / PAGE_SIZE,
        count: (bytes.end - bytes.start) / PAGE_SIZE + 1,
    })
}

/// One page of a List Blobs answer, as much of it as the snapshot listing needs. Read
/// leniently (every server writes a different set of properties), unlike the endpoint's
/// own typed `BlobList`, which is what vaultsim writes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BlobListing {
    #[serde(default)]
    pub blobs: ListedBlobs,
    #[serde(default)]
    pub next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListedBlobs {
    #[serde(rename = "Blob", default)]
    pub items: Vec<ListedBlob>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListedBlob {
    pub name: String,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub metadata: ListedMetadata,
}

/// `<Metadata><name>value</name>…</Metadata>` in document order.
#[derive(Debug, Default)]
pub(super) struct ListedMetadata(pub Metadata);

impl<'de> Deserialize<'de> for ListedMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = ListedMetadata;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("metadata elements")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    pairs.push((name, value));
                }
                Ok(ListedMetadata(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

pub(super) fn blob_listing(body: &str) -> Result<BlobListing, StorageError> {
    from_xml(body)
        .map_err(|error| unreadable(&format!("a blob listing that does not parse: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(first: u64, count: u64) -> PageSpan {
        PageSpan { first, count }
    }

    #[test]
    fn page_lists_become_page_spans_with_touching_fragments_joined() {
        let (spans, marker) = page_list(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
             <PageRange><Start>0</Start><End>511</End></PageRange>\
             <PageRange><Start>512</Start><End>1535</End></PageRange>\
             <ClearRange><Start>1536</Start><End>2047</End></ClearRange>\
             <PageRange><Start>4096</Start><End>4607</End></PageRange>\
             <NextMarker>abc</NextMarker></PageList>",
        )
        .unwrap();
        assert_eq!(
            spans,
            [
                DiffSpan::Written(span(0, 3)),
                DiffSpan::Cleared(span(3, 1)),
                DiffSpan::Written(span(8, 1)),
            ]
        );
        assert_eq!(marker.as_deref(), Some("abc"));
        let (spans, marker) = page_list("<PageList><NextMarker/></PageList>").unwrap();
        assert!(spans.is_empty());
        assert_eq!(marker, None);
    }

    #[test]
    fn ranges_that_are_not_whole_pages_are_refused() {
        for range in [
            "<Start>1</Start><End>512</End>",
            "<Start>0</Start><End>510</End>",
        ] {
            let body = format!("<PageList><PageRange>{range}</PageRange></PageList>");
            assert!(
                matches!(page_list(&body), Err(StorageError::Transport(_))),
                "{range}"
            );
        }
    }

    #[test]
    fn listings_keep_metadata_order_and_spelling_and_skip_unknown_elements() {
        let listing = blob_listing(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <EnumerationResults ServiceEndpoint=\"http://x/\" ContainerName=\"c\">\
             <Prefix>d</Prefix><Marker/><MaxResults>5000</MaxResults><Blobs>\
             <Blob><Name>d</Name><Snapshot>2026-01-02T03:04:05.6789012Z</Snapshot>\
             <Properties><Etag>0x1</Etag><BlobType>PageBlob</BlobType></Properties>\
             <Metadata><Zeta>1</Zeta><alpha>2</alpha></Metadata></Blob>\
             <Blob><Name>d</Name><Properties/></Blob>\
             </Blobs><NextMarker/></EnumerationResults>",
        )
        .unwrap();
        assert_eq!(listing.blobs.items.len(), 2);
        let first = &listing.blobs.items[0];
        assert_eq!(
            first.snapshot.as_deref(),
            Some("2026-01-02T03:04:05.6789012Z")
        );
        assert_eq!(
            first.metadata.0,
            [
                ("Zeta".to_owned(), "1".to_owned()),
                ("alpha".to_owned(), "2".to_owned())
            ]
        );
        assert!(listing.blobs.items[1].metadata.0.is_empty());
        assert_eq!(listing.next_marker.as_deref(), Some(""));
    }

    #[test]
    fn dates_are_read_as_rfc_1123() {
        let mut headers = HeaderMap::new();
        headers.insert("date", "Sun, 06 Dec 2026 07:08:07 GMT".parse().unwrap());
        assert_eq!(
            date(&headers).unwrap(),
            DateTime::parse_from_rfc3339("2026-12-06T07:08:07Z").unwrap()
        );
    }
}
