//! Moving pages between blobs in bounded pieces: memory stays at one piece however large
//! the disk, and Get Page Ranges is asked one window at a time so that even a badly
//! fragmented disk's range list stays small.

use vaultsim_protocol::page_blob::MAX_PUT_PAGE_BYTES;

use super::{CopyProgress, VaultStorageError};
use crate::storage::{BlobPath, BlobStorage, ByteRange, PageSpan, PAGE_SIZE};

/// Pages per Put Page: Azure's 4 MiB limit, and the most data a copy holds at once.
pub(super) const PIECE_PAGES: u64 = MAX_PUT_PAGE_BYTES / PAGE_SIZE;
/// Pages per Get Page Ranges call (256 MiB of disk): at worst 256 Ki spans in memory.
const WINDOW_PAGES: u64 = (256 << 20) / PAGE_SIZE;

/// A blob to write to (a base blob: snapshots never change).
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub container: &'a str,
    pub blob: &'a str,
}

impl Target<'_> {
    pub fn path(&self) -> BlobPath<'_> {
        BlobPath::base(self.container, self.blob)
    }
}

/// Where a copy has got to in one blob; each step forward is added to the copy's progress.
#[derive(Debug)]
pub(super) struct Cursor<'a> {
    at: u64,
    progress: &'a CopyProgress,
}

impl<'a> Cursor<'a> {
    pub fn new(progress: &'a CopyProgress) -> Self {
        Self { at: 0, progress }
    }

    /// Everything before byte `offset` is done (a cursor never moves back).
    pub fn reach(&mut self, offset: u64) {
        if offset > self.at {
            self.progress.add(offset - self.at);
            self.at = offset;
        }
    }
}

/// The byte ranges of the windows covering a blob of `size` bytes.
pub(super) fn windows(size: u64) -> impl Iterator<Item = ByteRange> {
    let pages = size / PAGE_SIZE;
    (0..pages).step_by(WINDOW_PAGES as usize).map(move |first| {
        let end = (first + WINDOW_PAGES).min(pages);
        byte_range(PageSpan {
            first,
            count: end - first,
        })
    })
}

/// Copies every written range of `from` (`size` bytes, in `source`) to the same pages of
/// `to` (in `target`, perhaps another account); holes stay holes. Returns bytes copied.
pub(super) async fn copy_written(
    source: &dyn BlobStorage,
    from: BlobPath<'_>,
    target: &dyn BlobStorage,
    to: Target<'_>,
    size: u64,
    cursor: &mut Cursor<'_>,
) -> Result<u64, VaultStorageError> {
    let mut copied = 0;
    for window in windows(size) {
        for span in source.page_ranges(from, window).await? {
            copied += copy_span(source, from, target, to, span, cursor).await?;
        }
        cursor.reach(window.end + 1);
    }
    Ok(copied)
}

/// Copies the pages of `span` from `from` (in `source`) to the same pages of `to` (in
/// `target`), one piece at a time. Returns bytes copied.
pub(super) async fn copy_span(
    source: &dyn BlobStorage,
    from: BlobPath<'_>,
    target: &dyn BlobStorage,
    to: Target<'_>,
    span: PageSpan,
    cursor: &mut Cursor<'_>,
) -> Result<u64, VaultStorageError> {
    for piece in pieces(span, PIECE_PAGES) {
        let range = byte_range(piece);
        let data = source.read_range(from, range).await?;
        target
            .write_pages(to.container, to.blob, range.start, data)
            .await?;
        cursor.reach(range.end + 1);
    }
    Ok(span.count * PAGE_SIZE)
}

/// Clears the pages of `span` in `to` (a metadata change: no data moves). Returns bytes
/// cleared.
pub(super) async fn clear_span(
    store: &dyn BlobStorage,
    to: Target<'_>,
    span: PageSpan,
) -> Result<u64, VaultStorageError> {
    store
        .clear_pages(to.container, to.blob, byte_range(span))
        .await?;
    Ok(span.count * PAGE_SIZE)
}

/// `span` cut into pieces of at most `max_pages`.
pub(super) fn pieces(span: PageSpan, max_pages: u64) -> impl Iterator<Item = PageSpan> {
    (span.first..span.end())
        .step_by(max_pages as usize)
        .map(move |first| PageSpan {
            first,
            count: max_pages.min(span.end() - first),
        })
}

pub(super) fn byte_range(span: PageSpan) -> ByteRange {
    ByteRange {
        start: span.first * PAGE_SIZE,
        end: span.end() * PAGE_SIZE - 1,
    }
}
