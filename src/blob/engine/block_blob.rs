//! Block blobs: Put Blob, Put Block (staging), Put Block List (commit) and Get Block List.

use std::collections::HashMap;

use super::conditions::Conditions;
use super::model::{BlobBody, BlobVersion, CommittedBlock, ContentProperties, Metadata};
use super::record::Record;
use super::segments::Extent;
use super::{
    BlobAddress, BlobStore, BlockList, BlockListType, BlockRef, StoreError, Upload, WriteAck,
    MAX_COMMITTED_BLOCKS, MAX_UNCOMMITTED_BLOCKS,
};

impl BlobStore {
    pub fn block_list(
        &self,
        at: BlobAddress<'_>,
        which: BlockListType,
    ) -> Result<(Option<BlobVersion>, BlockList), StoreError> {
        let state = self.state.lock();
        let c = state.container(at.container)?;
        let version = state.version(at).ok();
        let staged = c.staged.get(at.blob);
        if version.is_none() && staged.is_none() {
            return Err(StoreError::BlobNotFound);
        }
        let mut list = BlockList::default();
        if which != BlockListType::Uncommitted {
            match version.map(|v| &v.body) {
                Some(BlobBody::Block { blocks }) => {
                    list.committed = blocks
                        .iter()
                        .map(|b| (b.id.clone(), b.extent.len))
                        .collect()
                }
                Some(BlobBody::Page { .. }) => return Err(StoreError::InvalidBlobType),
                None => {}
            }
        }
        if which != BlockListType::Committed && at.snapshot.is_none() {
            let mut uncommitted: Vec<(String, u64)> = staged
                .into_iter()
                .flatten()
                .map(|(id, e)| (id.clone(), e.len))
                .collect();
            uncommitted.sort();
            list.uncommitted = uncommitted;
        }
        Ok((version.cloned(), list))
    }

    /// Put Blob for a block blob: `upload` holds the whole content, already written.
    pub fn put_block_blob(
        &self,
        container: &str,
        blob: &str,
        upload: Upload,
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let blocks = if upload.reserved() == 0 {
            Vec::new()
        } else {
            vec![CommittedBlock {
                id: String::new(),
                extent: upload.extent,
            }]
        };
        self.commit_block_blob(container, blob, blocks, content, metadata, conditions)
    }

    pub fn stage_block(
        &self,
        container: &str,
        blob: &str,
        block_id: &str,
        upload: Upload,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        let c = state.container(container)?;
        if let Some(v) = c.blobs.get(blob) {
            if !matches!(v.current.body, BlobBody::Block { .. }) {
                return Err(StoreError::InvalidBlobType);
            }
        }
        if let Some(staged) = c.staged.get(blob) {
            if staged.len() >= MAX_UNCOMMITTED_BLOCKS && !staged.contains_key(block_id) {
                return Err(StoreError::BlockCountExceedsLimit);
            }
            // Azure requires every block id of a blob to have the same length.
            if staged
                .keys()
                .next()
                .is_some_and(|id| id.len() != block_id.len())
            {
                return Err(StoreError::InvalidBlobOrBlock);
            }
        }
        state.commit(Record::StageBlock {
            container: container.to_owned(),
            blob: blob.to_owned(),
            block_id: block_id.to_owned(),
            extent: upload.extent,
        })?;
        self.garbage.notify_one();
        Ok(())
    }

    pub fn put_block_list(
        &self,
        container: &str,
        blob: &str,
        list: &[BlockRef],
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let blocks = {
            let state = self.state.lock();
            let c = state.container(container)?;
            let committed: HashMap<&str, Extent> = match c.blobs.get(blob).map(|e| &e.current.body)
            {
                Some(BlobBody::Block { blocks }) => {
                    blocks.iter().map(|b| (b.id.as_str(), b.extent)).collect()
                }
                Some(BlobBody::Page { .. }) => return Err(StoreError::InvalidBlobType),
                None => HashMap::new(),
            };
            let staged = c.staged.get(blob);
            let uncommitted = |id: &str| staged.and_then(|s| s.get(id)).copied();
            if list.len() > MAX_COMMITTED_BLOCKS {
                return Err(StoreError::InvalidBlockList);
            }
            list.iter()
                .map(|r| {
                    let (id, extent) = match r {
                        BlockRef::Committed(id) => (id, committed.get(id.as_str()).copied()),
                        BlockRef::Uncommitted(id) => (id, uncommitted(id)),
                        BlockRef::Latest(id) => (
                            id,
                            uncommitted(id).or_else(|| committed.get(id.as_str()).copied()),
                        ),
                    };
                    extent
                        .map(|extent| CommittedBlock {
                            id: id.clone(),
                            extent,
                        })
                        .ok_or(StoreError::InvalidBlockList)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        self.commit_block_blob(container, blob, blocks, content, metadata, conditions)
    }

    fn commit_block_blob(
        &self,
        container: &str,
        blob: &str,
        blocks: Vec<CommittedBlock>,
        content: ContentProperties,
        metadata: Metadata,
        conditions: &Conditions,
    ) -> Result<WriteAck, StoreError> {
        let mut state = self.state.lock();
        state.check_replace(container, blob, conditions)?;
        let stamp = self.stamp(&mut state);
        state.commit(Record::PutBlockBlob {
            container: container.to_owned(),
            blob: blob.to_owned(),
            blocks,
            content,
            metadata,
            stamp,
        })?;
        self.garbage.notify_one();
        let ack = state.ack(container, blob);
        drop(state);
        self.watchers.announce(container, blob, ack.etag);
        Ok(ack)
    }
}
