//! The shadow: what the page blob is known to hold, one entry per block, and its state file.
//!
//! State file layout (little-endian), written to a temporary name and renamed into place:
//! `MAGIC`, block size (u32), image size (u64), blob URL and blob ETag (each a u16 length and
//! UTF-8 bytes), block count (u64), one entry per block (tag byte, then 16 hash bytes for
//! `Data`), and an XXH3-64 checksum of everything before it. A file that is torn, of another
//! format, or for another blob, block size or image size is not trusted.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::LocalDiskError;

const MAGIC: &[u8; 8] = b"VSSHADW1";

const TAG_UNKNOWN: u8 = 0;
const TAG_ZERO: u8 = 1;
const TAG_DATA: u8 = 2;

/// What the blob holds in one block, as far as the agent knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockState {
    /// Possibly anything: the block must be written (or cleared) to be known.
    Unknown,
    /// Reads as zeros (never written, or cleared).
    Zero,
    /// Holds bytes with this XXH3-128 hash (never all zeros).
    Data(u128),
}

/// The persisted shadow together with what makes it trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShadowFile {
    pub block_size: u32,
    pub image_size: u64,
    pub blob_url: String,
    /// The blob's ETag right after the sync that produced `blocks`: if the blob's ETag is
    /// still this, nobody wrote it since and `blocks` describe it.
    pub blob_etag: String,
    pub blocks: Vec<BlockState>,
}

/// `<state_dir>/<image file name>.shadow`.
pub(crate) fn shadow_path(state_dir: &Path, image: &Path) -> PathBuf {
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    state_dir.join(format!("{name}.shadow"))
}

impl ShadowFile {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.blocks.len() * 17);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.block_size.to_le_bytes());
        out.extend_from_slice(&self.image_size.to_le_bytes());
        for text in [&self.blob_url, &self.blob_etag] {
            // URLs and ETags are far below 64 KiB; a longer one is cut, and then never
            // matches, which only costs a full sync.
            let bytes = &text.as_bytes()[..text.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for block in &self.blocks {
            match block {
                BlockState::Unknown => out.push(TAG_UNKNOWN),
                BlockState::Zero => out.push(TAG_ZERO),
                BlockState::Data(hash) => {
                    out.push(TAG_DATA);
                    out.extend_from_slice(&hash.to_le_bytes());
                }
            }
        }
        let checksum = xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// `None` for anything that is not a whole, well-formed shadow file.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
        if xxh3_64(body).to_le_bytes() != checksum {
            return None;
        }
        let mut reader = Reader(body);
        if reader.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let block_size = u32::from_le_bytes(reader.array()?);
        let image_size = u64::from_le_bytes(reader.array()?);
        let blob_url = reader.text()?;
        let blob_etag = reader.text()?;
        let count = u64::from_le_bytes(reader.array()?);
        let mut blocks = Vec::with_capacity(usize::try_from(count).ok()?.min(body.len()));
        for _ in 0..count {
            blocks.push(match reader.take(1)?[0] {
                TAG_UNKNOWN => BlockState::Unknown,
                TAG_ZERO => BlockState::Zero,
                TAG_DATA => BlockState::Data(u128::from_le_bytes(reader.array()?)),
                _ => return None,
            });
        }
        reader.0.is_empty().then_some(Self {
            block_size,
            image_size,
            blob_url,
            blob_etag,
            blocks,
        })
    }

    /// Reads the state file; a missing or unreadable one is `None` (a full sync follows).
    pub fn load(path: &Path) -> Option<Self> {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| Self::decode(&bytes))
    }

    /// Writes the state file atomically (temporary file, then rename). No fsync: a file
    /// lost or torn by a power cut fails its checksum or carries an older ETag than the
    /// blob, and is then not trusted, so durability would buy nothing but frozen time.
    pub fn save(&self, path: &Path) -> Result<(), LocalDiskError> {
        let temporary = path.with_extension("shadow.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&self.encode())?;
            drop(file);
            std::fs::rename(&temporary, path)
        };
        write().map_err(|source| LocalDiskError::ShadowWrite {
            path: path.to_owned(),
            source,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn text(&mut self) -> Option<String> {
        let length = u16::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ShadowFile {
        ShadowFile {
            block_size: 65536,
            image_size: 3 * 65536,
            blob_url: "http://127.0.0.1:1/devstoreaccount1/disks/d.vhd".into(),
            blob_etag: "\"0x8DC\"".into(),
            blocks: vec![
                BlockState::Zero,
                BlockState::Data(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
                BlockState::Unknown,
            ],
        }
    }

    #[test]
    fn a_shadow_file_round_trips() {
        assert_eq!(ShadowFile::decode(&sample().encode()), Some(sample()));
    }

    #[test]
    fn a_torn_or_altered_shadow_file_is_rejected() {
        let bytes = sample().encode();
        assert_eq!(ShadowFile::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(ShadowFile::decode(&[]), None);
        let mut altered = bytes.clone();
        altered[20] ^= 1;
        assert_eq!(ShadowFile::decode(&altered), None);
    }
}
