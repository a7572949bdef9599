//! The one error type of the management domain. Each variant carries the Azure error code
//! clients see; the HTTP layer maps the variant to a status once (`api::arm::error`).

use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// 404: the addressed resource (or its parent) does not exist.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 400: the request is well-formed JSON but not acceptable (validation).
    #[error("{message}")]
    Invalid {
        code: Cow<'static, str>,
        message: String,
    },
    /// 409: the request conflicts with the state of the resource.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 500, message withheld: the metadata database failed.
    #[error("the metadata database failed")]
    Database(#[from] sqlx::Error),
    /// 500, message withheld: the blob store failed.
    #[error("the blob store failed")]
    Storage(#[from] crate::storage::StorageError),
    /// 500, message withheld: the backup engine failed (the cause is logged).
    #[error("the backup engine failed")]
    Engine(#[source] Box<crate::control::EngineError>),
}

impl ResourceError {
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// ARM's 404 for a missing tracked resource, worded as the ARM gateway words it.
    pub fn resource_not_found(resource_type: &str, name: &str, group: &str) -> Self {
        Self::not_found(
            "ResourceNotFound",
            format!(
                "The Resource '{resource_type}/{name}' under resource group '{group}' was not found. \
                 For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    pub fn resource_group_not_found(group: &str) -> Self {
        Self::not_found(
            "ResourceGroupNotFound",
            format!("Resource group '{group}' could not be found."),
        )
    }
}
