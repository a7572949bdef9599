//! What the blob store holds: containers, blobs, their versions and properties.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::pagemap::PageMap;
use super::segments::Extent;

/// A point in time in 100 ns units since the Unix epoch: the resolution of Azure's
/// snapshot ids (`2011-03-09T01:42:34.9360000Z`) and ETags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self(at.timestamp() * 10_000_000 + i64::from(at.timestamp_subsec_nanos() / 100))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        let secs = self.0.div_euclid(10_000_000);
        let nanos = (self.0.rem_euclid(10_000_000) * 100) as u32;
        Utc.timestamp_opt(secs, nanos)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The snapshot id form: ISO 8601 UTC with exactly seven fractional digits.
    pub fn to_snapshot_id(self) -> String {
        // Formatted by hand: chrono's strftime parsing is measurable on every response.
        let at = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            self.0.rem_euclid(10_000_000)
        )
    }

    /// Parses a snapshot id as clients echo it back (1 to 7 fractional digits accepted).
    pub fn parse_snapshot_id(text: &str) -> Option<Self> {
        let at = DateTime::parse_from_rfc3339(text).ok()?;
        text.ends_with('Z')
            .then(|| Self::from_datetime(at.with_timezone(&Utc)))
    }

    /// RFC 1123, as in `Last-Modified` and `Date`.
    pub fn to_http_date(self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let at = self.to_datetime();
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[at.weekday().num_days_from_monday() as usize],
            at.day(),
            MONTHS[at.month0() as usize],
            at.year(),
            at.hour(),
            at.minute(),
            at.second()
        )
    }
}

/// An ETag value; rendered as Azure renders them, e.g. `"0x8DC5E4B6C9A1F00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ETag(pub u64);

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"0x{:X}\"", self.0)
    }
}

/// User metadata (`x-ms-meta-*`), names as the client spelled them.
pub type Metadata = Vec<(String, String)>;

/// The standard HTTP content headers a blob stores and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentProperties {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
    pub content_md5: Option<Vec<u8>>,
}

/// A stored version's content headers, boxed only when one is set. Status, log and disk
/// blobs set none, and 144 bytes of empty headers inline in each of the ~600,000 versions
/// a burst of 100,000 backups makes were ~80 MB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredContent(Option<Box<ContentProperties>>);

static NO_CONTENT: ContentProperties = ContentProperties {
    content_type: None,
    content_encoding: None,
    content_language: None,
    content_disposition: None,
    cache_control: None,
    content_md5: None,
};

impl From<ContentProperties> for StoredContent {
    fn from(content: ContentProperties) -> Self {
        Self((content != NO_CONTENT).then(|| Box::new(content)))
    }
}

impl std::ops::Deref for StoredContent {
    type Target = ContentProperties;

    fn deref(&self) -> &ContentProperties {
        self.0.as_deref().unwrap_or(&NO_CONTENT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicAccess {
    Blob,
    Container,
}

/// A stored access policy of a container (`<SignedIdentifier>`), as a SAS `si` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIdentifier {
    pub id: String,
    pub start: Option<String>,
    pub expiry: Option<String>,
    pub permission: Option<String>,
}

/// A block of a committed block blob, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    /// The block id as the client sent it (base64).
    pub id: String,
    pub extent: Extent,
}

#[derive(Debug, Clone)]
pub enum BlobBody {
    Page {
        size: u64,
        pages: PageMap,
        sequence_number: u64,
    },
    Block {
        blocks: Vec<CommittedBlock>,
    },
}

impl BlobBody {
    pub fn content_length(&self) -> u64 {
        match self {
            BlobBody::Page { size, .. } => *size,
            BlobBody::Block { blocks } => blocks.iter().map(|b| b.extent.len).sum(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            BlobBody::Page { .. } => "PageBlob",
            BlobBody::Block { .. } => "BlockBlob",
        }
    }
}

/// One version of a blob: the base blob or one of its snapshots (which never change).
#[derive(Debug, Clone)]
pub struct BlobVersion {
    pub body: BlobBody,
    pub content: StoredContent,
    pub metadata: Metadata,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub etag: ETag,
}

/// A blob version's properties without its content map: what listings and headers need,
/// cheap to copy out of the store whatever the blob's size or block count.
#[derive(Debug, Clone)]
pub struct BlobProperties {
    pub blob_type: &'static str,
    pub content_length: u64,
    /// Page blobs only.
    pub sequence_number: Option<u64>,
    pub content: ContentProperties,
    pub metadata: Metadata,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub etag: ETag,
}

impl BlobVersion {
    pub fn properties(&self) -> BlobProperties {
        BlobProperties {
            blob_type: self.body.type_name(),
            content_length: self.body.content_length(),
            sequence_number: match self.body {
                BlobBody::Page {
                    sequence_number, ..
                } => Some(sequence_number),
                BlobBody::Block { .. } => None,
            },
            content: (*self.content).clone(),
            metadata: self.metadata.clone(),
            created: self.created,
            modified: self.modified,
            etag: self.etag,
        }
    }
}

/// A blob and its snapshots. Versions are boxed in the maps that hold them: a B-tree leaf
/// keeps room for eleven values inline, so an unboxed version (about 220 bytes) made a
/// blob with one snapshot, or a container with one blob (each VM's disk), cost 2.5–3 KB.
#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub current: BlobVersion,
    pub snapshots: BTreeMap<Timestamp, Box<BlobVersion>>,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub metadata: Metadata,
    pub modified: Timestamp,
    pub etag: ETag,
    pub public_access: Option<PublicAccess>,
    pub identifiers: Vec<SignedIdentifier>,
    pub blobs: BTreeMap<String, Box<BlobEntry>>,
    /// Uncommitted blocks per blob name (Put Block before Put Block List).
    pub staged: HashMap<String, HashMap<String, Extent>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_headers_are_kept_boxed_only_when_one_is_set() {
        let none = StoredContent::from(ContentProperties::default());
        assert!(none.0.is_none());
        assert_eq!(*none, ContentProperties::default());
        let typed = ContentProperties {
            content_type: Some("application/json".to_owned()),
            ..ContentProperties::default()
        };
        let stored = StoredContent::from(typed.clone());
        assert!(stored.0.is_some());
        assert_eq!(*stored, typed);
        let md5_only = ContentProperties {
            content_md5: Some(vec![1; 16]),
            ..ContentProperties::default()
        };
        assert_eq!(*StoredContent::from(md5_only.clone()), md5_only);
    }

    #[test]
    fn snapshot_ids_have_seven_fraction_digits_and_round_trip() {
        let id = "2011-03-09T01:42:34.9360000Z";
        let at = Timestamp::parse_snapshot_id(id).unwrap();
        assert_eq!(at.to_snapshot_id(), id);
        let fine = Timestamp(at.0 + 1);
        assert_eq!(fine.to_snapshot_id(), "2011-03-09T01:42:34.9360001Z");
        assert_eq!(
            Timestamp::parse_snapshot_id(&fine.to_snapshot_id()),
            Some(fine)
        );
    }

    #[test]
    fn snapshot_ids_that_are_not_utc_timestamps_are_refused() {
        assert_eq!(Timestamp::parse_snapshot_id("yesterday"), None);
        assert_eq!(
            Timestamp::parse_snapshot_id("2011-03-09T01:42:34+01:00"),
            None
        );
    }

    #[test]
    fn http_dates_are_rfc_1123() {
        let at = Timestamp::parse_snapshot_id("2014-10-30T20:15:41.0000000Z").unwrap();
        assert_eq!(at.to_http_date(), "Thu, 30 Oct 2014 20:15:41 GMT");
    }
}
