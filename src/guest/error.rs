//! The one error type of the guest API's domain; `api::guest` maps each variant to a status
//! and a `{"error":{"code","message"}}` body once.

use crate::auth::AuthError;
use crate::resources::ResourceError;

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// 400: the request is not what the guest API accepts (body, certificate, disks).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// 413: the body is larger than the service's APIs take; answered as the management
    /// API answers it.
    #[error("the request body is too large")]
    TooLarge,
    /// 401: no credential, or one no registered VM holds. Deliberately says nothing about
    /// which part was wrong.
    #[error("The request lacks a valid 'Authorization: Bearer <credential>' of a registered VM.")]
    Unauthenticated,
    /// 401, 403 or 404 from checking a registration's management token and subscription.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// 403: a host snapshot call without its task's `snapshotTaskToken`. Says nothing of
    /// the token expected.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 409: a host snapshot call for a task that no longer awaits its snapshot.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 404: the VM, extension or task addressed does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// What creating a VM at registration answered (400, 404, 409, or 500).
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// Any status: what a fault (`crate::faults`) has the guest API answer.
    #[error("{message}")]
    Fault {
        status: u16,
        code: String,
        message: String,
    },
    /// 500, message withheld: the metadata database failed.
    #[error("the metadata database failed")]
    Database(#[from] sqlx::Error),
}

impl GuestError {
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn vm_not_found(vm_id: &str) -> Self {
        Self::NotFound {
            code: "VmNotFound",
            message: format!("No virtual machine has the vmId '{vm_id}'."),
        }
    }
}

/// The guest domain's errors where a management call meets them (an extension written over
/// ARM, a task sent again through `/_sim`): a database failure, or a VM gone meanwhile.
impl From<GuestError> for ResourceError {
    fn from(error: GuestError) -> Self {
        match error {
            GuestError::Resource(error) => error,
            GuestError::Database(error) => ResourceError::Database(error),
            GuestError::NotFound { code, message } => ResourceError::not_found(code, message),
            other => ResourceError::conflict("OperationNotAllowed", other.to_string()),
        }
    }
}
