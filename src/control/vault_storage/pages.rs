//! Moving pages between blobs in bounded pieces: memory stays at one piece however large
//! the disk, and Get Page Ranges is asked one window at a time so that even a badly
//! fragmented disk's range list stays small.

use futures_util::StreamExt;
use tokio::runtime::Handle;
use vaultsim_protocol::page_blob::MAX_PUT_PAGE_BYTES;

use super::VaultStorageError;
use crate::blob::engine::{
    BlobAddress, BlobStore, ByteRange, Conditions, DiffSpan, PageRangesReport, PageSpan,
    StoreError, Timestamp, PAGE_SIZE,
};

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

/// The written page ranges of `at` within `window`.
pub(super) fn written_ranges(
    store: &BlobStore,
    at: BlobAddress<'_>,
    window: ByteRange,
) -> Result<Vec<PageSpan>, VaultStorageError> {
    match store
        .page_ranges(at, None, Some(window), &Conditions::default())?
        .report
    {
        PageRangesReport::Ranges(spans) => Ok(spans),
        PageRangesReport::Diff(_) => unreachable!("no previous snapshot was named"),
    }
}

/// What changed in `at` since its snapshot `previous`, within `window`. Fails with the
/// store's `PreviousSnapshotNotFound` when `previous` is gone.
pub(super) fn changed_ranges(
    store: &BlobStore,
    at: BlobAddress<'_>,
    previous: Timestamp,
    window: ByteRange,
) -> Result<Vec<DiffSpan>, StoreError> {
    match store
        .page_ranges(at, Some(previous), Some(window), &Conditions::default())?
        .report
    {
        PageRangesReport::Diff(spans) => Ok(spans),
        PageRangesReport::Ranges(_) => unreachable!("a previous snapshot was named"),
    }
}

/// Copies every written range of `from` (`size` bytes) to the same pages of `to`; holes
/// stay holes. Returns bytes copied.
pub(super) fn copy_written(
    store: &BlobStore,
    from: BlobAddress<'_>,
    to: Target<'_>,
    size: u64,
) -> Result<u64, VaultStorageError> {
    let mut copied = 0;
    for window in windows(size) {
        for span in written_ranges(store, from, window)? {
            copied += copy_span(store, from, to, span)?;
        }
    }
    Ok(copied)
}

/// Copies the pages of `span` from `from` to the same pages of `to`, one piece at a time,
/// streaming each piece from the source straight into the store's upload. Returns bytes
/// copied.
pub(super) fn copy_span(
    store: &BlobStore,
    from: BlobAddress<'_>,
    to: Target<'_>,
    span: PageSpan,
) -> Result<u64, VaultStorageError> {
    let runtime = runtime()?;
    for piece in pieces(span, PIECE_PAGES) {
        let range = byte_range(piece);
        let mut upload = store.begin_upload(range.byte_count());
        let read = store.read_blob(from, &Conditions::default())?;
        let mut stream = std::pin::pin!(read.into_stream(range));
        while let Some(chunk) = runtime.block_on(stream.next()) {
            upload.write(&chunk?)?;
        }
        store.write_pages(
            to.container,
            to.blob,
            range,
            Some(upload),
            &Conditions::default(),
            Default::default(),
        )?;
    }
    Ok(span.count * PAGE_SIZE)
}

/// Writes `bytes` (whole pages) to `to` from page `first` on.
pub(super) fn write_bytes(
    store: &BlobStore,
    to: Target<'_>,
    first: u64,
    bytes: &[u8],
) -> Result<(), VaultStorageError> {
    let span = PageSpan {
        first,
        count: bytes.len() as u64 / PAGE_SIZE,
    };
    let mut upload = store.begin_upload(bytes.len() as u64);
    upload.write(bytes)?;
    store.write_pages(
        to.container,
        to.blob,
        byte_range(span),
        Some(upload),
        &Conditions::default(),
        Default::default(),
    )?;
    Ok(())
}

/// Clears the pages of `span` in `to` (a metadata change: no data moves). Returns bytes
/// cleared.
pub(super) fn clear_span(
    store: &BlobStore,
    to: Target<'_>,
    span: PageSpan,
) -> Result<u64, VaultStorageError> {
    store.write_pages(
        to.container,
        to.blob,
        byte_range(span),
        None,
        &Conditions::default(),
        Default::default(),
    )?;
    Ok(span.count * PAGE_SIZE)
}

/// Reads the pages of `span` (at most one piece) of `from` into `buf`, holes as zeros.
pub(super) fn read_span(
    store: &BlobStore,
    from: BlobAddress<'_>,
    span: PageSpan,
    buf: &mut Vec<u8>,
) -> Result<(), VaultStorageError> {
    let runtime = runtime()?;
    buf.clear();
    let read = store.read_blob(from, &Conditions::default())?;
    let mut stream = std::pin::pin!(read.into_stream(byte_range(span)));
    while let Some(chunk) = runtime.block_on(stream.next()) {
        buf.extend_from_slice(&chunk?);
    }
    Ok(())
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

/// The runtime whose blocking pool serves the store's read streams. Blocking on it is
/// allowed here because callers run on a blocking thread, not inside a task.
fn runtime() -> Result<Handle, VaultStorageError> {
    Handle::try_current().map_err(|_| VaultStorageError::NoRuntime)
}
