//! Data segments: append-only files that hold every byte written to a blob.
//!
//! A write reserves fresh space at the end of the active segment and is written there
//! outside any metadata lock; the journal record that points at it is the commit point,
//! so bytes that were never committed are simply unreferenced and later reclaimed.
//! Space is never reused in place: that keeps "this page changed" equal to "this page
//! points somewhere new", which the page-range diff relies on. Space that nothing
//! references any more is given back to the filesystem by punching holes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::pagemap::DataLocation;

/// A segment stops taking new reservations once it reaches this size.
const SEGMENT_TARGET_SIZE: u64 = 1 << 30;

/// A byte range in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extent {
    pub at: DataLocation,
    pub len: u64,
}

#[derive(Debug)]
struct Active {
    id: u32,
    len: u64,
}

#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    files: Mutex<HashMap<u32, Arc<File>>>,
    active: Mutex<Active>,
}

impl Segments {
    /// Opens the segment directory; new data goes to a fresh segment after the newest one,
    /// so a segment's tail torn by a crash is never appended to.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let newest = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| segment_id(&e.file_name().to_string_lossy()))
            .max()
            .unwrap_or(0);
        Ok(Self {
            dir: dir.to_owned(),
            files: Mutex::new(HashMap::new()),
            active: Mutex::new(Active {
                id: newest + 1,
                len: 0,
            }),
        })
    }

    /// Reserves `len` bytes of fresh space. Large reservations get a segment of their own.
    pub fn reserve(&self, len: u64) -> Extent {
        let mut active = self.active.lock();
        if active.len > 0 && active.len + len > SEGMENT_TARGET_SIZE {
            active.id += 1;
            active.len = 0;
        }
        let at = DataLocation {
            segment: active.id,
            offset: active.len,
        };
        active.len += len;
        Extent { at, len }
    }

    /// The active segment and how far it is reserved: space beyond this is not yet handed out.
    pub fn reserved_tail(&self) -> (u32, u64) {
        let active = self.active.lock();
        (active.id, active.len)
    }

    pub fn write_at(&self, at: DataLocation, data: &[u8]) -> io::Result<()> {
        self.file(at.segment, true)?.write_all_at(data, at.offset)
    }

    pub fn read_at(&self, at: DataLocation, buf: &mut [u8]) -> io::Result<()> {
        self.file(at.segment, false)?.read_exact_at(buf, at.offset)
    }

    /// Every segment on disk with its size.
    pub fn list(&self) -> io::Result<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(id) = segment_id(&entry.file_name().to_string_lossy()) {
                out.push((id, entry.metadata()?.len()));
            }
        }
        Ok(out)
    }

    /// The disk space every segment takes, holes left out.
    pub fn allocated_bytes(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if segment_id(&entry.file_name().to_string_lossy()).is_some() {
                // `st_blocks` counts 512-byte units whatever the filesystem's block size.
                total += entry.metadata()?.blocks() * 512;
            }
        }
        Ok(total)
    }

    pub fn remove(&self, segment: u32) -> io::Result<()> {
        self.files.lock().remove(&segment);
        std::fs::remove_file(self.path(segment))
    }

    /// Gives `[offset, offset + len)` of a segment back to the filesystem.
    pub fn punch_hole(&self, segment: u32, offset: u64, len: u64) -> io::Result<()> {
        let file = self.file(segment, false)?;
        punch_hole(&file, offset, len)
    }

    fn path(&self, segment: u32) -> PathBuf {
        self.dir.join(format!("{segment:08}.seg"))
    }

    fn file(&self, segment: u32, create: bool) -> io::Result<Arc<File>> {
        if let Some(file) = self.files.lock().get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(self.path(segment))?,
        );
        Ok(self.files.lock().entry(segment).or_insert(file).clone())
    }
}

fn segment_id(file_name: &str) -> Option<u32> {
    file_name.strip_suffix(".seg")?.parse().ok()
}

#[allow(unsafe_code)]
fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate only reads its integer arguments; the fd is owned by `file`,
    // which outlives the call.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
