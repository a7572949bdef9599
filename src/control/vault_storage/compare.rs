//! Compare mode, Azure's checksum-comparison fallback: when the previous disk snapshot is
//! gone, or the account answers no real page-range diffs (Azurite), both sides are read and
//! only pages whose bytes differ are written. Bytes are compared directly rather than
//! through checksums. Costs a read of every written page on both sides.

use bytes::Bytes;

use super::pages::{byte_range, clear_span, pieces, windows, Cursor, Target, PIECE_PAGES};
use super::transfer::Moved;
use super::VaultStorageError;
use crate::storage::{BlobPath, BlobStorage, PageSpan, PAGE_SIZE};

/// Pages compared at a time: a piece of each side is held, so half a piece each keeps
/// memory at one piece.
const COMPARE_PAGES: u64 = PIECE_PAGES / 2;

/// Makes `vault` (in `vault_store`, resized to `size` already) equal `source` (in
/// `source_store`) page for page.
pub(super) async fn make_equal(
    source_store: &dyn BlobStorage,
    source: BlobPath<'_>,
    vault_store: &dyn BlobStorage,
    vault: Target<'_>,
    size: u64,
    cursor: &mut Cursor<'_>,
) -> Result<Moved, VaultStorageError> {
    let vault_at = vault.path();
    let mut moved = Moved::default();
    for window in windows(size) {
        let written = source_store.page_ranges(source, window).await?;
        let stale = subtract(&vault_store.page_ranges(vault_at, window).await?, &written);
        for span in stale {
            moved.cleared += clear_span(vault_store, vault, span).await?;
        }
        for piece in written.iter().flat_map(|&span| pieces(span, COMPARE_PAGES)) {
            let range = byte_range(piece);
            let theirs = source_store.read_range(source, range).await?;
            let ours = vault_store.read_range(vault_at, range).await?;
            for run in differing_runs(&theirs, &ours) {
                let bytes: Bytes = theirs
                    .slice((run.first * PAGE_SIZE) as usize..(run.end() * PAGE_SIZE) as usize);
                moved.transferred += bytes.len() as u64;
                vault_store
                    .write_pages(
                        vault.container,
                        vault.blob,
                        (piece.first + run.first) * PAGE_SIZE,
                        bytes,
                    )
                    .await?;
            }
            cursor.reach(range.end + 1);
        }
        cursor.reach(window.end + 1);
    }
    Ok(moved)
}

/// The pages of `a` not in `b` (both sorted, non-overlapping).
fn subtract(a: &[PageSpan], b: &[PageSpan]) -> Vec<PageSpan> {
    let mut out = Vec::new();
    let mut others = b.iter().peekable();
    for span in a {
        let mut cursor = span.first;
        while cursor < span.end() {
            while others.next_if(|o| o.end() <= cursor).is_some() {}
            match others.peek() {
                Some(o) if o.first < span.end() => {
                    if o.first > cursor {
                        out.push(PageSpan {
                            first: cursor,
                            count: o.first - cursor,
                        });
                    }
                    cursor = o.end().max(cursor);
                }
                _ => {
                    out.push(PageSpan {
                        first: cursor,
                        count: span.end() - cursor,
                    });
                    cursor = span.end();
                }
            }
        }
    }
    out
}

/// Runs of pages (relative to the start of the buffers) whose bytes differ; adjacent
/// differing pages form one run, so each run is one write.
fn differing_runs(a: &[u8], b: &[u8]) -> Vec<PageSpan> {
    let mut runs: Vec<PageSpan> = Vec::new();
    let page = PAGE_SIZE as usize;
    for (index, (x, y)) in a.chunks(page).zip(b.chunks(page)).enumerate() {
        if x == y {
            continue;
        }
        let index = index as u64;
        match runs.last_mut() {
            Some(run) if run.end() == index => run.count += 1,
            _ => runs.push(PageSpan {
                first: index,
                count: 1,
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(first: u64, count: u64) -> PageSpan {
        PageSpan { first, count }
    }

    #[test]
    fn subtract_keeps_only_pages_missing_from_the_other_side() {
        assert_eq!(subtract(&[span(0, 10)], &[]), vec![span(0, 10)]);
        assert_eq!(subtract(&[span(0, 10)], &[span(0, 10)]), vec![]);
        assert_eq!(
            subtract(&[span(0, 10), span(20, 5)], &[span(2, 3), span(8, 14)]),
            vec![span(0, 2), span(5, 3), span(22, 3)]
        );
        assert_eq!(
            subtract(&[span(5, 5)], &[span(0, 6), span(9, 1)]),
            vec![span(6, 3)]
        );
    }

    #[test]
    fn differing_runs_group_adjacent_pages() {
        let page = PAGE_SIZE as usize;
        let a = vec![0u8; 6 * page];
        let mut b = a.clone();
        b[page + 7] = 1;
        b[2 * page] = 1;
        b[5 * page + page - 1] = 1;
        assert_eq!(differing_runs(&a, &b), vec![span(1, 2), span(5, 1)]);
        assert_eq!(differing_runs(&a, &a), vec![]);
    }
}
