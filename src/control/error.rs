//! What can go wrong inside the backup engine. Request-level failures (unknown item, a
//! limit reached) are `ResourceError`s and reach the client; these reach the log, and the
//! job they hit fails with a reason.

use crate::blob::engine::StoreError;
use crate::control::cms::CmsError;
use crate::control::minting::MintError;
use crate::control::vault_storage::VaultStorageError;
use crate::guest::GuestError;
use crate::resources::ResourceError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("blob store: {0}")]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error("minting the task: {0}")]
    Mint(#[from] MintError),
    #[error("encrypting protected settings: {0}")]
    Cms(#[from] CmsError),
    #[error("guest: {0}")]
    Guest(#[from] GuestError),
    #[error("vault storage: {0}")]
    VaultStorage(#[from] VaultStorageError),
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl EngineError {
    pub fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

impl From<EngineError> for ResourceError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Resource(error) => error,
            EngineError::Database(error) => ResourceError::Database(error),
            EngineError::Storage(error) => ResourceError::Storage(error),
            other => ResourceError::Engine(other.to_string()),
        }
    }
}
