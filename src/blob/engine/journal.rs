//! The metadata journal: every change to containers and blobs as one framed record.
//!
//! A record is `[payload length: u32 LE][crc32 of payload: u32 LE][payload]`. It is written
//! with one `write` call before the change is applied in memory and acknowledged, so an
//! acknowledged change survives the process being killed. On open, the journal is
//! replayed up to the first torn or corrupt record and truncated there: a change whose
//! record did not make it whole is not visible, and its data is unreferenced.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

const HEADER_LEN: usize = 8;
/// No single record is anywhere near this; a larger length means a torn header.
const MAX_RECORD_LEN: usize = 64 << 20;

#[derive(Debug)]
pub struct Journal {
    file: File,
    /// Bytes of whole records, where the next record goes.
    len: u64,
    /// Reused encode buffer: appends happen under the store lock, one at a time.
    buffer: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("journal record could not be encoded: {0}")]
    Encode(#[from] postcard::Error),
}

impl Journal {
    /// Opens (or creates) the journal at `path`, hands every whole record to `apply` in
    /// order, and truncates anything after the last whole record.
    pub fn open<R: DeserializeOwned>(
        path: &Path,
        mut apply: impl FnMut(R),
    ) -> Result<(Self, ReplayStats), JournalError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut stats = ReplayStats::default();
        let mut pos = 0usize;
        while let Some((record, next)) = decode_at::<R>(&bytes, pos) {
            apply(record);
            stats.records += 1;
            pos = next;
        }
        stats.discarded_bytes = (bytes.len() - pos) as u64;
        if stats.discarded_bytes > 0 {
            file.set_len(pos as u64)?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok((
            Self {
                file,
                len: pos as u64,
                buffer: Vec::with_capacity(256),
            },
            stats,
        ))
    }

    /// Bytes of whole records written so far.
    pub fn bytes_written(&self) -> u64 {
        self.len
    }

    /// Appends one record with a single write.
    pub fn append<R: Serialize>(&mut self, record: &R) -> Result<(), JournalError> {
        self.buffer.clear();
        self.buffer.extend_from_slice(&[0; HEADER_LEN]);
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer = postcard::to_extend(record, buffer)?;
        seal_frame(&mut buffer);
        let result = self.file.write_all(&buffer);
        if result.is_err() {
            // A partial record must not prefix the next one: cut back to the last whole one.
            let _ = self.file.set_len(self.len);
        } else {
            self.len += buffer.len() as u64;
        }
        self.buffer = buffer;
        Ok(result?)
    }
}

/// What a replay found.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    pub records: u64,
    pub discarded_bytes: u64,
}

/// Fills in the header of a frame whose payload follows `HEADER_LEN` placeholder bytes.
fn seal_frame(frame: &mut [u8]) {
    let payload_len = frame.len() - HEADER_LEN;
    let crc = crc32fast::hash(&frame[HEADER_LEN..]);
    frame[..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// One framed payload (also the shape of a checkpoint file).
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&[0; HEADER_LEN]);
    frame.extend_from_slice(payload);
    seal_frame(&mut frame);
    frame
}

/// The payload of the frame at `pos` and where the next one starts; `None` when the frame
/// is torn or corrupt. `max_len` bounds what a length field may claim.
pub fn decode_frame(bytes: &[u8], pos: usize, max_len: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos + HEADER_LEN)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len > max_len {
        return None;
    }
    let payload = bytes.get(pos + HEADER_LEN..pos + HEADER_LEN + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, pos + HEADER_LEN + len))
}

fn decode_at<R: DeserializeOwned>(bytes: &[u8], pos: usize) -> Option<(R, usize)> {
    let (payload, next) = decode_frame(bytes, pos, MAX_RECORD_LEN)?;
    Some((postcard::from_bytes(payload).ok()?, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(path: &Path) -> (Vec<String>, ReplayStats) {
        let mut seen = Vec::new();
        let (_, stats) = Journal::open::<String>(path, |r| seen.push(r)).unwrap();
        (seen, stats)
    }

    #[test]
    fn records_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut journal, _) = Journal::open::<String>(&path, |_| {}).unwrap();
        for r in ["a", "bb", "ccc"] {
            journal.append(&r.to_string()).unwrap();
        }
        drop(journal);
        assert_eq!(replay(&path).0, vec!["a", "bb", "ccc"]);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_journal_stays_appendable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut journal, _) = Journal::open::<String>(&path, |_| {}).unwrap();
        journal.append(&"kept".to_string()).unwrap();
        journal.append(&"torn".to_string()).unwrap();
        drop(journal);
        let full = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - 2).unwrap();
        let (seen, stats) = replay(&path);
        assert_eq!(seen, vec!["kept"]);
        assert!(stats.discarded_bytes > 0);

        let (mut journal, _) = Journal::open::<String>(&path, |_| {}).unwrap();
        journal.append(&"after".to_string()).unwrap();
        drop(journal);
        assert_eq!(replay(&path).0, vec!["kept", "after"]);
    }

    #[test]
    fn a_corrupt_record_ends_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut journal, _) = Journal::open::<String>(&path, |_| {}).unwrap();
        journal.append(&"first".to_string()).unwrap();
        journal.append(&"second".to_string()).unwrap();
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(replay(&path).0, vec!["first"]);
    }
}
