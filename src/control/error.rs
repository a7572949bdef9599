//! What can go wrong inside the backup engine. Request-level failures (unknown item, a
//! limit reached) are `ResourceError`s and reach the client; these reach the log, and the
//! job they hit fails with a reason.
//!
//! Each message names only its own step: the cause is the error's `source()`, and
//! [`EngineError::report`] writes both on one line.

use std::error::Error as _;

use crate::control::cms::CmsError;
use crate::control::minting::MintError;
use crate::control::vault_storage::VaultStorageError;
use crate::guest::GuestError;
use crate::resources::ResourceError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("blob storage")]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error("minting the task")]
    Mint(#[from] MintError),
    #[error("encrypting protected settings")]
    Cms(#[from] CmsError),
    #[error("guest")]
    Guest(#[from] GuestError),
    #[error("vault storage")]
    VaultStorage(#[from] VaultStorageError),
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("a blocking task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("the engine's group commit has stopped")]
    GroupCommitStopped,
}

impl EngineError {
    pub fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    /// The failure and its cause on one line (`database: error returned from database:
    /// ...`), as the log and a failed job's error string tell it. A cause's own causes are
    /// in its message already, and a `ResourceError` keeps the causes it withholds.
    pub fn report(&self) -> String {
        match self {
            Self::Resource(ResourceError::Engine(cause)) => {
                format!("{self}: {}", cause.report())
            }
            Self::Resource(_) | Self::Corrupt { .. } => self.to_string(),
            _ => match self.source() {
                Some(cause) => format!("{self}: {cause}"),
                None => self.to_string(),
            },
        }
    }
}

impl From<EngineError> for ResourceError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Resource(error) => error,
            EngineError::Database(error) => ResourceError::Database(error),
            EngineError::Storage(error) => ResourceError::Storage(error),
            other => ResourceError::Engine(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message in the chain `error`, `error.source()`...
    fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
        std::iter::successors(Some(error), |&e| e.source())
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_cause_is_reported_once_and_kept_as_the_source() {
        let cause = sqlx::Error::RowNotFound.to_string();
        let error = EngineError::Database(sqlx::Error::RowNotFound);
        assert_eq!(chain(&error), ["database".to_owned(), cause.clone()]);
        assert_eq!(error.report(), format!("database: {cause}"));

        let resource = ResourceError::from(EngineError::corrupt("policy", "not JSON"));
        assert!(matches!(resource, ResourceError::Engine(_)));
        assert_eq!(
            chain(&resource),
            [
                "the backup engine failed",
                "stored policy is unreadable: not JSON"
            ]
        );
        assert_eq!(
            EngineError::Resource(resource).report(),
            "the backup engine failed: stored policy is unreadable: not JSON"
        );
    }

    #[test]
    fn a_resource_error_keeps_the_cause_it_withholds_out_of_the_report() {
        let error = EngineError::Resource(ResourceError::Database(sqlx::Error::RowNotFound));
        assert_eq!(error.report(), "the metadata database failed");
    }
}
