//! One error type for every storage implementation; the variants callers act on are named.

use crate::blob::engine::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the container does not exist")]
    ContainerNotFound,
    #[error("the container already exists")]
    ContainerAlreadyExists,
    #[error("the blob does not exist")]
    BlobNotFound,
    #[error("the blob already exists")]
    BlobAlreadyExists,
    #[error("a conditional header's condition is not met")]
    ConditionNotMet,
    #[error("the previous snapshot does not exist")]
    PreviousSnapshotNotFound,
    #[error("the blob is not of the type this operation needs")]
    InvalidBlobType,
    /// A blob recorded in an account this service is not configured with.
    #[error("the storage account '{0}' is not configured here")]
    AccountNotConfigured(String),
    /// Anything else the embedded store refused.
    #[error(transparent)]
    Embedded(StoreError),
    /// An error response of a remote account: its status and `x-ms-error-code`.
    #[error("the storage account answered {status} {code}: {message}")]
    Remote {
        status: u16,
        code: String,
        message: String,
    },
    /// The remote account could not be reached or answered something unreadable.
    #[error("the storage account could not be reached: {0}")]
    Transport(String),
}

impl StorageError {
    /// True for the errors that mean "nothing there": a missing blob or container.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::BlobNotFound | Self::ContainerNotFound)
    }
}

impl From<StoreError> for StorageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ContainerNotFound => Self::ContainerNotFound,
            StoreError::ContainerAlreadyExists => Self::ContainerAlreadyExists,
            StoreError::BlobNotFound => Self::BlobNotFound,
            StoreError::BlobAlreadyExists => Self::BlobAlreadyExists,
            StoreError::ConditionNotMet => Self::ConditionNotMet,
            StoreError::PreviousSnapshotNotFound => Self::PreviousSnapshotNotFound,
            StoreError::InvalidBlobType => Self::InvalidBlobType,
            other => Self::Embedded(other),
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(error: std::io::Error) -> Self {
        Self::Embedded(StoreError::Io(error))
    }
}
