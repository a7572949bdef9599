//! Subscriptions to blob writes, so that the backup engine learns of a status blob the
//! moment an extension writes it instead of polling every task's blob.

use parking_lot::RwLock;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::model::ETag;

/// A blob's content changed (a block blob was put or committed, or pages were written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobWritten {
    pub container: String,
    pub blob: String,
    pub etag: ETag,
}

/// Who wants to hear of writes to containers whose names start with a prefix.
#[derive(Debug, Default)]
pub(super) struct WriteWatchers {
    watchers: RwLock<Vec<(String, UnboundedSender<BlobWritten>)>>,
}

impl WriteWatchers {
    pub(super) fn subscribe(&self, container_prefix: &str) -> UnboundedReceiver<BlobWritten> {
        let (sender, receiver) = unbounded_channel();
        self.watchers
            .write()
            .push((container_prefix.to_owned(), sender));
        receiver
    }

    /// Tells every live subscriber whose prefix matches; forgets those that hung up.
    pub(super) fn announce(&self, container: &str, blob: &str, etag: ETag) {
        let mut hung_up = false;
        {
            let watchers = self.watchers.read();
            for (prefix, sender) in watchers.iter() {
                if container.starts_with(prefix.as_str()) {
                    hung_up |= sender
                        .send(BlobWritten {
                            container: container.to_owned(),
                            blob: blob.to_owned(),
                            etag,
                        })
                        .is_err();
                }
            }
        }
        if hung_up {
            self.watchers.write().retain(|(_, s)| !s.is_closed());
        }
    }
}
