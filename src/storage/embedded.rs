//! The storage seam over the in-process blob engine: the default, and what a blob node
//! serves. Calls are synchronous under the store's lock; data is streamed from segments.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{
    AccountAccess, BlobContent, BlobKind, BlobPath, BlobProperties, BlobStorage, BlobWrite,
    ByteRange, Metadata, PageDiff, PageSpan, SnapshotListing, StorageError, Timestamp,
};
use crate::blob::engine::{
    BlobAddress, BlobBody, BlobStore, Conditions, ContentProperties, ListBlobsQuery, ListItem,
    NewPageBlob, PageRangesReport, StoreError,
};
use crate::clock::Clock;

/// The embedded blob engine as a [`BlobStorage`].
#[derive(Debug, Clone)]
pub struct EmbeddedStorage {
    store: Arc<BlobStore>,
    clock: Clock,
    account: AccountAccess,
}

impl EmbeddedStorage {
    pub fn new(store: Arc<BlobStore>, clock: Clock, account: AccountAccess) -> Self {
        Self {
            store,
            clock,
            account,
        }
    }
}

fn address(at: BlobPath<'_>) -> BlobAddress<'_> {
    BlobAddress {
        container: at.container,
        blob: at.blob,
        snapshot: at.snapshot,
    }
}

fn if_match(etag: Option<&str>) -> Conditions {
    Conditions {
        if_match: etag.map(str::to_owned),
        ..Conditions::default()
    }
}

#[async_trait]
impl BlobStorage for EmbeddedStorage {
    fn account(&self) -> &AccountAccess {
        &self.account
    }

    async fn create_container(&self, name: &str) -> Result<bool, StorageError> {
        match self.store.create_container(name, Vec::new(), None) {
            Ok(_) => Ok(true),
            Err(StoreError::ContainerAlreadyExists) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn delete_container(&self, name: &str) -> Result<(), StorageError> {
        Ok(self.store.delete_container(name, &Conditions::default())?)
    }

    async fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        metadata: Metadata,
        if_none_match_any: bool,
    ) -> Result<String, StorageError> {
        let new = NewPageBlob {
            size,
            sequence_number: 0,
            content: ContentProperties::default(),
            metadata,
        };
        let conditions = Conditions {
            if_none_match: if_none_match_any.then(|| "*".to_owned()),
            ..Conditions::default()
        };
        let ack = self
            .store
            .create_page_blob(container, blob, new, &conditions)?;
        Ok(ack.etag.to_string())
    }

    async fn resize_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
        etag: Option<&str>,
    ) -> Result<String, StorageError> {
        let ack = self
            .store
            .resize_page_blob(container, blob, size, &if_match(etag))?;
        Ok(ack.etag.to_string())
    }

    async fn write_pages(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<(), StorageError> {
        if data.is_empty() {
            return Ok(());
        }
        let range = ByteRange {
            start: offset,
            end: offset + data.len() as u64 - 1,
        };
        let mut upload = self.store.begin_upload(data.len() as u64);
        upload.write(&data)?;
        self.store.write_pages(
            container,
            blob,
            range,
            Some(upload),
            &Conditions::default(),
            Default::default(),
        )?;
        Ok(())
    }

    async fn clear_pages(
        &self,
        container: &str,
        blob: &str,
        range: ByteRange,
    ) -> Result<(), StorageError> {
        self.store.write_pages(
            container,
            blob,
            range,
            None,
            &Conditions::default(),
            Default::default(),
        )?;
        Ok(())
    }

    async fn read_range(&self, at: BlobPath<'_>, range: ByteRange) -> Result<Bytes, StorageError> {
        let read = self.store.read_blob(address(at), &Conditions::default())?;
        let mut content = BytesMut::with_capacity(range.byte_count() as usize);
        let mut stream = std::pin::pin!(read.into_stream(range));
        while let Some(chunk) = stream.next().await {
            content.extend_from_slice(&chunk?);
        }
        Ok(content.freeze())
    }

    async fn page_ranges(
        &self,
        at: BlobPath<'_>,
        window: ByteRange,
    ) -> Result<Vec<PageSpan>, StorageError> {
        match self
            .store
            .page_ranges(address(at), None, Some(window), &Conditions::default())?
            .report
        {
            PageRangesReport::Ranges(spans) => Ok(spans),
            PageRangesReport::Diff(_) => unreachable!("no previous snapshot was named"),
        }
    }

    async fn page_ranges_since(
        &self,
        at: BlobPath<'_>,
        previous: Timestamp,
        window: ByteRange,
    ) -> Result<PageDiff, StorageError> {
        match self
            .store
            .page_ranges(
                address(at),
                Some(previous),
                Some(window),
                &Conditions::default(),
            )?
            .report
        {
            PageRangesReport::Diff(spans) => Ok(PageDiff::Spans(spans)),
            PageRangesReport::Ranges(_) => unreachable!("a previous snapshot was named"),
        }
    }

    async fn snapshot(
        &self,
        container: &str,
        blob: &str,
        metadata: Option<Metadata>,
    ) -> Result<Timestamp, StorageError> {
        let (snapshot, _) =
            self.store
                .snapshot(container, blob, metadata, &Conditions::default())?;
        Ok(snapshot)
    }

    async fn delete_blob(&self, at: BlobPath<'_>) -> Result<(), StorageError> {
        let include_snapshots = at.snapshot.is_none().then_some(true);
        Ok(self
            .store
            .delete_blob(address(at), include_snapshots, &Conditions::default())?)
    }

    async fn properties(&self, at: BlobPath<'_>) -> Result<BlobProperties, StorageError> {
        let version = self
            .store
            .read_blob(address(at), &Conditions::default())?
            .version;
        Ok(BlobProperties {
            kind: match version.body {
                BlobBody::Page { .. } => BlobKind::Page,
                BlobBody::Block { .. } => BlobKind::Block,
            },
            size: version.body.content_length(),
            etag: version.etag.to_string(),
            metadata: version.metadata,
        })
    }

    async fn set_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: Metadata,
    ) -> Result<(), StorageError> {
        self.store
            .set_blob_metadata(container, blob, metadata, &Conditions::default())?;
        Ok(())
    }

    async fn list_snapshots(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Vec<SnapshotListing>, StorageError> {
        let mut query = ListBlobsQuery {
            prefix: blob.to_owned(),
            include_snapshots: true,
            max_results: 1000,
            ..Default::default()
        };
        let mut found = Vec::new();
        loop {
            let page = self.store.list_blobs(container, &query)?;
            for item in page.items {
                if let ListItem::Blob {
                    name,
                    snapshot: Some(snapshot),
                    properties,
                } = item
                {
                    if name == blob {
                        found.push(SnapshotListing {
                            snapshot,
                            metadata: properties.metadata,
                        });
                    }
                }
            }
            match page.next_marker {
                Some(marker) => query.marker = Some(marker),
                None => return Ok(found),
            }
        }
    }

    async fn put_block_blob(
        &self,
        container: &str,
        blob: &str,
        content: Bytes,
    ) -> Result<String, StorageError> {
        let mut upload = self.store.begin_upload(content.len() as u64);
        upload.write(&content)?;
        let ack = self.store.put_block_blob(
            container,
            blob,
            upload,
            ContentProperties::default(),
            Vec::new(),
            &Conditions::default(),
        )?;
        Ok(ack.etag.to_string())
    }

    async fn read_if_changed(
        &self,
        at: BlobPath<'_>,
        known_etag: Option<&str>,
        max_bytes: u64,
    ) -> Result<Option<BlobContent>, StorageError> {
        let read = self.store.read_blob(address(at), &Conditions::default())?;
        let etag = read.version.etag.to_string();
        if known_etag == Some(etag.as_str()) {
            return Ok(None);
        }
        let size = read.version.body.content_length().min(max_bytes + 1);
        if size == 0 {
            return Ok(Some(BlobContent {
                etag,
                content: Bytes::new(),
            }));
        }
        let mut content = BytesMut::with_capacity(size as usize);
        let mut stream = std::pin::pin!(read.into_stream(ByteRange {
            start: 0,
            end: size - 1,
        }));
        while let Some(chunk) = stream.next().await {
            content.extend_from_slice(&chunk?);
        }
        Ok(Some(BlobContent {
            etag,
            content: content.freeze(),
        }))
    }

    fn watch_writes(&self, prefix: &str) -> Option<UnboundedReceiver<BlobWrite>> {
        Some(self.store.watch_writes(prefix))
    }

    async fn account_time(&self) -> Result<DateTime<Utc>, StorageError> {
        Ok(self.clock.now())
    }
}

/// A fresh embedded store in `dir` for unit tests, on `clock`, named as the default
/// account (`devstoreaccount1` at its usual local URL).
#[cfg(test)]
pub fn open_for_tests(dir: &std::path::Path, clock: Clock) -> (Arc<BlobStore>, EmbeddedStorage) {
    use base64::Engine as _;

    let (store, _) = BlobStore::open(
        dir,
        clock.clone(),
        crate::blob::engine::StoreOptions::default(),
    )
    .expect("a fresh blob store opens");
    let store = Arc::new(store);
    let key = base64::engine::general_purpose::STANDARD
        .decode(crate::config::DEV_ACCOUNT_KEY)
        .expect("the development key is base64");
    let account = AccountAccess {
        name: "devstoreaccount1".to_owned(),
        endpoint: "http://127.0.0.1:10000/devstoreaccount1".to_owned(),
        key: key.into(),
    };
    (store.clone(), EmbeddedStorage::new(store, clock, account))
}
