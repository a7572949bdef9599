//! Get Page Ranges, plain and with `prevsnapshot`, and finding out once whether the account
//! answers `prevsnapshot` with a real diff.
//!
//! Azurite 3.37 does not: its dispatcher matches a `comp=pagelist&prevsnapshot=…` request
//! to plain Get Page Ranges first (the two operations require the same parameters, and the
//! first listed wins), which ignores `prevsnapshot` and answers 200 with the whole written
//! range list of the version asked about; its diff handler (`getPageRangesDiff`, a
//! `NotImplementedError`) is never reached. So a diff against a snapshot that cannot exist
//! tells the two apart: an account with real diffs refuses it with
//! `PreviousSnapshotNotFound`, one that ignores the parameter answers 200.

use reqwest::Method;

use super::request::{Call, Retry, Target};
use super::{byte_range, wire, RemoteStorage};
use crate::storage::{
    BlobPath, BlobStorage, ByteRange, DiffSpan, PageDiff, PageSpan, StorageError, Timestamp,
};

/// What an account does with `prevsnapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DiffSupport {
    /// It answers the pages written and cleared since that snapshot (Azure, vaultsim).
    Real,
    /// It answers the whole written-range list, as if the parameter were not there.
    Ignored,
}

/// 1970-01-01T00:00:00.0000000Z: older than any blob, so no snapshot has this id.
const NO_SUCH_SNAPSHOT: Timestamp = Timestamp(0);

impl RemoteStorage {
    /// The written page ranges of `at` within `window`.
    pub(super) async fn written_ranges(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
    ) -> Result<Vec<PageSpan>, StorageError> {
        self.page_list(at, window, None)
            .await?
            .into_iter()
            .map(|span| match span {
                DiffSpan::Written(span) => Ok(span),
                DiffSpan::Cleared(_) => Err(StorageError::Transport(
                    "the storage account's page list has a ClearRange without prevsnapshot".into(),
                )),
            })
            .collect()
    }

    /// The diff of `at` against its snapshot `previous`, or [`PageDiff::Unsupported`] when
    /// the account ignores `prevsnapshot` (after checking that `previous` still exists, so
    /// that a gone snapshot is reported as on every other storage).
    pub(super) async fn diff(
        &self,
        at: BlobPath<'_>,
        previous: Timestamp,
        window: ByteRange,
    ) -> Result<PageDiff, StorageError> {
        let support = self
            .diffs
            .get_or_try_init(|| self.diff_support(at, window))
            .await?;
        match support {
            DiffSupport::Real => Ok(PageDiff::Spans(
                self.page_list(at, window, Some(previous)).await?,
            )),
            DiffSupport::Ignored => {
                let previous = BlobPath {
                    snapshot: Some(previous),
                    ..at
                };
                match self.properties(previous).await {
                    Ok(_) => Ok(PageDiff::Unsupported),
                    Err(StorageError::BlobNotFound) => Err(StorageError::PreviousSnapshotNotFound),
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// Asks for a diff of `at` against a snapshot that cannot exist. Any other refusal (the
    /// blob is gone, the key is wrong) is the caller's error and settles nothing.
    async fn diff_support(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
    ) -> Result<DiffSupport, StorageError> {
        let probe = self.page_list_call(at, window, Some(NO_SUCH_SNAPSHOT));
        let support = match self.send(probe).await {
            Ok(_) => DiffSupport::Ignored,
            Err(StorageError::PreviousSnapshotNotFound) => DiffSupport::Real,
            Err(error) => return Err(error),
        };
        tracing::info!(endpoint = %self.endpoint, ?support, "page-range diffs of the storage account");
        Ok(support)
    }

    fn page_list_call<'a>(
        &self,
        at: BlobPath<'a>,
        window: ByteRange,
        previous: Option<Timestamp>,
    ) -> Call<'a> {
        let call = Call::new(Method::GET, Target::Blob(at), Retry::Idempotent)
            .query("comp", "pagelist")
            .header("x-ms-range", byte_range(window));
        match previous {
            Some(previous) => call.query("prevsnapshot", previous.to_snapshot_id()),
            None => call,
        }
    }

    /// Every range of a Get Page Ranges answer, following its continuation markers.
    async fn page_list(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
        previous: Option<Timestamp>,
    ) -> Result<Vec<DiffSpan>, StorageError> {
        let mut spans = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut call = self.page_list_call(at, window, previous);
            if let Some(marker) = marker.take() {
                call = call.query("marker", marker);
            }
            let body = self.send_for_text(call).await?;
            let (page, next) = wire::page_list(&body)?;
            for span in page {
                wire::push_joined(&mut spans, span);
            }
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(spans),
            }
        }
    }
}
