//! Page blobs: create, Put Page (update and clear), resize, sequence numbers and Get Page
//! Ranges, with diffs against a snapshot.

use super::conditions::{Access, Conditions, SequenceConditions};
use super::model::{BlobBody, BlobVersion, Timestamp};
use super::pagemap::{PageMap, PageSpan, PAGE_SIZE};
use super::read::ByteRange;
use super::record::Record;
use super::{
    BlobAddress, BlobStore, NewPageBlob, PageRanges, PageRangesReport, SequenceNumberAction, State,
    StoreError, Upload, WriteAck, MAX_PAGE_BLOB_SIZE,
};

impl BlobStore {
    /// Get Page Ranges, or the diff against `previous`. Only cloning the page maps (O(1))
    /// happens under the store lock; walking them does not hold up other requests.
    pub fn page_ranges(
        &self,
        at: BlobAddress<'_>,
        previous: Option<Timestamp>,
        window: Option<ByteRange>,
        conditions: &Conditions,
    ) -> Result<PageRanges, StoreError> {
        let (size, pages, properties, older) = {
            let state = self.state.lock();
            let version = state.version(at)?;
            conditions.check(Some((version.etag, version.modified)), Access::Read)?;
            let (size, pages) = page_map(version)?;
            let older = match previous {
                None => None,
                Some(prev) => {
                    if at.snapshot.is_some_and(|s| prev > s) {
                        return Err(StoreError::PreviousSnapshotCannotBeNewer);
                    }
                    let older = state
                        .version(BlobAddress {
                            snapshot: Some(prev),
                            ..at
                        })
                        .map_err(|_| StoreError::PreviousSnapshotNotFound)?;
                    Some(page_map(older)?.1)
                }
            };
            (size, pages, version.properties(), older)
        };
        let (first, count) = match window {
            Some(w) => page_window(w, size)?,
            None => (0, size / PAGE_SIZE),
        };
        let report = match older {
            None => PageRangesReport::Ranges(pages.ranges(first, count)),
            Some(older) => PageRangesReport::Diff(pages.diff(&older, first, count)),
        };
        Ok(PageRanges { properties, report })
    }

    pub fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        new: NewPageBlob,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        if !new.size.is_multiple_of(PAGE_SIZE) || new.size > MAX_PAGE_BLOB_SIZE {
            return Err(StoreError::InvalidBlobSize(new.size));
        }
        let mut state = self.state.lock();
        state.check_replace(container, blob, conditions)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::CreatePageBlob {
            container: container.to_owned(),
            blob: blob.to_owned(),
            size: new.size,
            sequence_number: new.sequence_number,
            content: new.content,
            metadata: new.metadata,
            stamp,
        })?;
        self.garbage.notify_one();
        Ok(state.ack(container, blob))
    }

    /// Whether a Put Page of `range` would be accepted now; asked before the body is
    /// received, so that a refused write costs no I/O.
    pub fn check_page_write(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
        conditions: &Conditions,
        sequence: SequenceConditions,
    ) -> Result<(), StoreError> {
        let state = self.state.lock();
        check_page_write(
            &state,
            container,
            blob,
            page_span(range)?,
            conditions,
            sequence,
        )
    }

    /// Put Page: maps the pages of `range` to `data` (an upload of exactly that many
    /// bytes), or clears them when `data` is `None`. Checked again at commit, since the
    /// blob may have changed while the data was written.
    pub fn write_pages(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
        data: Option<Upload>,
        conditions: &Conditions,
        sequence: SequenceConditions,
    ) -> Result<WriteAck, StoreError> {
        let span = page_span(range)?;
        if data
            .as_ref()
            .is_some_and(|u| !u.is_complete() || u.reserved() != span.count * PAGE_SIZE)
        {
            return Err(StoreError::InvalidPageRange);
        }
        let mut state = self.state.lock();
        check_page_write(&state, container, blob, span, conditions, sequence)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::WritePages {
            container: container.to_owned(),
            blob: blob.to_owned(),
            first_page: span.first,
            pages: span.count,
            data: data.as_ref().map(|u| u.extent.at),
            stamp,
        })?;
        self.garbage.notify_one();
        let ack = state.ack(container, blob);
        drop(state);
        self.watchers.announce(container, blob, ack.etag);
        Ok(ack)
    }

    pub fn resize_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        if !size.is_multiple_of(PAGE_SIZE) || size > MAX_PAGE_BLOB_SIZE {
            return Err(StoreError::InvalidBlobSize(size));
        }
        let ack = self.update_blob(
            container,
            blob,
            conditions,
            |version, stamp| match version.body {
                BlobBody::Page { .. } => Ok(Record::ResizePageBlob {
                    container: container.to_owned(),
                    blob: blob.to_owned(),
                    size,
                    stamp,
                }),
                BlobBody::Block { .. } => Err(StoreError::InvalidBlobType),
            },
        )?;
        self.garbage.notify_one();
        Ok(ack)
    }

    pub fn set_sequence_number(
        &self,
        container: &str,
        blob: &str,
        action: SequenceNumberAction,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        self.update_blob(container, blob, conditions, |version, stamp| {
            let BlobBody::Page {
                sequence_number, ..
            } = version.body
            else {
                return Err(StoreError::InvalidBlobType);
            };
            Ok(Record::SetSequenceNumber {
                container: container.to_owned(),
                blob: blob.to_owned(),
                sequence_number: action.apply(sequence_number),
                stamp,
            })
        })
    }
}

impl SequenceNumberAction {
    fn apply(self, current: u64) -> u64 {
        match self {
            SequenceNumberAction::Max(n) => current.max(n),
            SequenceNumberAction::Update(n) => n,
            SequenceNumberAction::Increment => current.saturating_add(1),
        }
    }
}

/// A page blob version's size and page map (an O(1) clone).
fn page_map(version: &BlobVersion) -> Result<(u64, PageMap), StoreError> {
    match &version.body {
        BlobBody::Page { size, pages, .. } => Ok((*size, pages.clone())),
        BlobBody::Block { .. } => Err(StoreError::InvalidBlobType),
    }
}

fn check_page_write(
    state: &State,
    container: &str,
    blob: &str,
    span: PageSpan,
    conditions: &Conditions,
    sequence: SequenceConditions,
) -> Result<(), StoreError> {
    let version = state.version(BlobAddress {
        container,
        blob,
        snapshot: None,
    })?;
    let BlobBody::Page {
        size,
        sequence_number,
        ..
    } = &version.body
    else {
        return Err(StoreError::InvalidBlobType);
    };
    conditions.check(Some((version.etag, version.modified)), Access::Write)?;
    sequence.check(*sequence_number)?;
    if span.end() * PAGE_SIZE > *size {
        return Err(StoreError::InvalidPageRange);
    }
    Ok(())
}

/// The pages of a Put Page range: 512-aligned start, inclusive end one before a page
/// boundary, at most 4 MiB.
fn page_span(range: ByteRange) -> Result<PageSpan, StoreError> {
    if !range.start.is_multiple_of(PAGE_SIZE)
        || !(range.end + 1).is_multiple_of(PAGE_SIZE)
        || range.end < range.start
    {
        return Err(StoreError::InvalidPageRange);
    }
    Ok(PageSpan {
        first: range.start / PAGE_SIZE,
        count: (range.end + 1 - range.start) / PAGE_SIZE,
    })
}

/// The pages a Get Page Ranges `x-ms-range` asks about, within the blob.
fn page_window(range: ByteRange, size: u64) -> Result<(u64, u64), StoreError> {
    let span = page_span(range)?;
    let end = span.end().min(size / PAGE_SIZE);
    Ok((span.first, end.saturating_sub(span.first)))
}
