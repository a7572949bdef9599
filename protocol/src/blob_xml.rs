//! The Azure Blob service's XML response documents, typed: what the service writes and what
//! the agent and the load generator read back. Field order is element order; every document
//! is written after the `<?xml … utf-8?>` declaration, with empty elements written open and
//! closed (`<Marker></Marker>`) and all five XML special characters escaped, as Azure does.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

pub use quick_xml::{DeError, SeError};

pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// `document` as a response body; its root element is the type's serde name.
pub fn to_xml<T: Serialize>(document: &T) -> Result<String, SeError> {
    let mut out = String::from(XML_DECLARATION);
    let mut serializer = quick_xml::se::Serializer::new(&mut out);
    serializer.expand_empty_elements(true);
    serializer.set_quote_level(quick_xml::se::QuoteLevel::Full);
    document.serialize(serializer)?;
    Ok(out)
}

/// A document read from a response body (the declaration and the root's name are not checked).
pub fn from_xml<'de, T: Deserialize<'de>>(body: &'de str) -> Result<T, DeError> {
    quick_xml::de::from_str(body)
}

/// `<Metadata>`: one element per name, in the stored order (names are C# identifiers, checked
/// where metadata is accepted, so they are valid XML names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, String)>);

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// List Containers.
#[derive(Debug, Serialize)]
#[serde(rename = "EnumerationResults", rename_all = "PascalCase")]
pub struct ContainerList {
    #[serde(rename = "@ServiceEndpoint")]
    pub service_endpoint: String,
    pub prefix: String,
    pub marker: String,
    pub max_results: usize,
    pub containers: Containers,
    /// Written empty on the last page.
    pub next_marker: String,
}

#[derive(Debug, Serialize)]
pub struct Containers {
    #[serde(rename = "Container")]
    pub items: Vec<ContainerItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerItem {
    pub name: String,
    pub properties: ContainerProperties,
    /// Present when the listing asked for `include=metadata`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerProperties {
    #[serde(rename = "Last-Modified")]
    pub last_modified: String,
    pub etag: String,
    pub lease_status: String,
    pub lease_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_access: Option<String>,
    pub has_immutability_policy: bool,
    pub has_legal_hold: bool,
}

/// List Blobs.
#[derive(Debug, Serialize)]
#[serde(rename = "EnumerationResults", rename_all = "PascalCase")]
pub struct BlobList {
    #[serde(rename = "@ServiceEndpoint")]
    pub service_endpoint: String,
    #[serde(rename = "@ContainerName")]
    pub container_name: String,
    pub prefix: String,
    pub marker: String,
    pub max_results: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub blobs: Blobs,
    /// Written empty on the last page.
    pub next_marker: String,
}

#[derive(Debug, Serialize)]
pub struct Blobs {
    /// Blobs and prefixes interleaved in name order.
    #[serde(rename = "$value")]
    pub items: Vec<BlobListItem>,
}

#[derive(Debug, Serialize)]
pub enum BlobListItem {
    BlobPrefix(BlobPrefix),
    Blob(Box<BlobItem>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlobPrefix {
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlobItem {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    pub properties: BlobProperties,
    /// Present when the listing asked for `include=metadata`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlobProperties {
    #[serde(rename = "Creation-Time")]
    pub creation_time: String,
    #[serde(rename = "Last-Modified")]
    pub last_modified: String,
    pub etag: String,
    #[serde(rename = "Content-Length")]
    pub content_length: u64,
    #[serde(rename = "Content-Type")]
    pub content_type: String,
    #[serde(rename = "Content-Encoding")]
    pub content_encoding: String,
    #[serde(rename = "Content-Language")]
    pub content_language: String,
    /// Base64, empty when the blob has none.
    #[serde(rename = "Content-MD5")]
    pub content_md5: String,
    #[serde(rename = "Content-Disposition")]
    pub content_disposition: String,
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
    /// Page blobs only.
    #[serde(
        rename = "x-ms-blob-sequence-number",
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_number: Option<u64>,
    pub blob_type: String,
    pub lease_status: String,
    pub lease_state: String,
    pub server_encrypted: bool,
}

/// Get Container ACL.
#[derive(Debug, Serialize)]
#[serde(rename = "SignedIdentifiers")]
pub struct SignedIdentifiers {
    #[serde(rename = "SignedIdentifier")]
    pub items: Vec<SignedIdentifier>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedIdentifier {
    pub id: String,
    pub access_policy: AccessPolicy,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

/// Get Block List: each list is present when `blocklisttype` asked for it.
#[derive(Debug, Serialize)]
#[serde(rename = "BlockList", rename_all = "PascalCase")]
pub struct BlockList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_blocks: Option<Blocks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncommitted_blocks: Option<Blocks>,
}

#[derive(Debug, Serialize)]
pub struct Blocks {
    #[serde(rename = "Block")]
    pub items: Vec<Block>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Block {
    /// The block id, base64 as the client sent it.
    pub name: String,
    pub size: u64,
}

/// Get Page Ranges, plain or a diff (`prevsnapshot`); byte offsets, `End` inclusive.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "PageList", rename_all = "PascalCase")]
pub struct PageList {
    /// Written and (in a diff) cleared ranges, in offset order.
    #[serde(rename = "$value", default)]
    pub ranges: Vec<PageListRange>,
    /// Present when the request had `maxresults`; empty on the last page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageListRange {
    PageRange(ByteSpan),
    ClearRange(ByteSpan),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ByteSpan {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
}

/// The error body: `<Error><Code>…</Code><Message>…</Message>` then any details
/// (`AuthenticationErrorDetail`, `HeaderName`, …) in order.
#[derive(Debug)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub details: &'a [(&'static str, String)],
}

impl Serialize for ErrorBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut error = serializer.serialize_struct("Error", 2 + self.details.len())?;
        error.serialize_field("Code", self.code)?;
        error.serialize_field("Message", self.message)?;
        for (name, value) in self.details {
            error.serialize_field(name, value)?;
        }
        error.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lists_are_written_in_order_with_a_declaration() {
        let list = PageList {
            ranges: vec![
                PageListRange::ClearRange(ByteSpan { start: 0, end: 511 }),
                PageListRange::PageRange(ByteSpan {
                    start: 2048,
                    end: 3071,
                }),
            ],
            next_marker: Some(String::new()),
        };
        let xml = to_xml(&list).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
             <ClearRange><Start>0</Start><End>511</End></ClearRange>\
             <PageRange><Start>2048</Start><End>3071</End></PageRange>\
             <NextMarker></NextMarker></PageList>"
        );
        let read: PageList = from_xml(&xml).unwrap();
        assert_eq!(read.ranges, list.ranges);
    }

    #[test]
    fn page_lists_read_every_form_a_server_writes() {
        let empty: PageList = from_xml("<PageList></PageList>").unwrap();
        assert_eq!(empty.ranges, vec![]);
        assert_eq!(empty.next_marker, None);
        let self_closed: PageList =
            from_xml("<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList><PageRange><Start>0</Start><End>511</End></PageRange><NextMarker/></PageList>").unwrap();
        assert_eq!(self_closed.ranges.len(), 1);
        assert!(self_closed.next_marker.unwrap_or_default().is_empty());
        let marked: PageList =
            from_xml("<PageList><PageRange><Start>0</Start><End>511</End></PageRange><NextMarker>4</NextMarker></PageList>").unwrap();
        assert_eq!(marked.next_marker.as_deref(), Some("4"));
        assert!(from_xml::<PageList>(
            "<PageList><PageRange><Start>0</Start></PageRange></PageList>"
        )
        .is_err());
    }

    #[test]
    fn error_details_follow_the_message_and_text_is_escaped() {
        let details = [("HeaderName", "x-ms-page-write".to_owned())];
        let xml = to_xml(&ErrorBody {
            code: "InvalidHeaderValue",
            message: "a<b & 'c' \"d\"\nRequestId:1",
            details: &details,
        })
        .unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>InvalidHeaderValue</Code>\
             <Message>a&lt;b &amp; &apos;c&apos; &quot;d&quot;\nRequestId:1</Message>\
             <HeaderName>x-ms-page-write</HeaderName></Error>"
        );
    }

    #[test]
    fn empty_lists_and_metadata_are_written_open_and_closed() {
        let list = ContainerList {
            service_endpoint: "http://h/a&b/".into(),
            prefix: String::new(),
            marker: String::new(),
            max_results: 1,
            containers: Containers { items: vec![] },
            next_marker: String::new(),
        };
        assert_eq!(
            to_xml(&list).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://h/a&amp;b/\">\
             <Prefix></Prefix><Marker></Marker><MaxResults>1</MaxResults><Containers></Containers>\
             <NextMarker></NextMarker></EnumerationResults>"
        );
        let blobs = BlobList {
            service_endpoint: "e".into(),
            container_name: "c".into(),
            prefix: String::new(),
            marker: String::new(),
            max_results: 1,
            delimiter: None,
            blobs: Blobs {
                items: vec![BlobListItem::BlobPrefix(BlobPrefix { name: "d/".into() })],
            },
            next_marker: String::new(),
        };
        assert_eq!(
            to_xml(&blobs).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"e\" ContainerName=\"c\">\
             <Prefix></Prefix><Marker></Marker><MaxResults>1</MaxResults>\
             <Blobs><BlobPrefix><Name>d/</Name></BlobPrefix></Blobs><NextMarker></NextMarker></EnumerationResults>"
        );
        let empty_blobs = BlobList {
            blobs: Blobs { items: vec![] },
            ..blobs
        };
        assert!(to_xml(&empty_blobs).unwrap().contains("<Blobs></Blobs>"));
        let identifiers = SignedIdentifiers { items: vec![] };
        assert!(to_xml(&identifiers)
            .unwrap()
            .ends_with("<SignedIdentifiers></SignedIdentifiers>"));
        let item = ContainerItem {
            name: "c".into(),
            properties: ContainerProperties {
                last_modified: "t".into(),
                etag: "e".into(),
                lease_status: "unlocked".into(),
                lease_state: "available".into(),
                public_access: None,
                has_immutability_policy: false,
                has_legal_hold: false,
            },
            metadata: Some(Metadata(vec![("k".into(), "<v>".into())])),
        };
        let with_metadata = ContainerList {
            containers: Containers { items: vec![item] },
            ..list
        };
        assert!(to_xml(&with_metadata)
            .unwrap()
            .contains("</Properties><Metadata><k>&lt;v&gt;</k></Metadata></Container>"));
        let blocks = BlockList {
            committed_blocks: None,
            uncommitted_blocks: Some(Blocks { items: vec![] }),
        };
        assert_eq!(
            to_xml(&blocks).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><UncommittedBlocks></UncommittedBlocks></BlockList>"
        );
    }
}
