//! The deployments' errors, in the shape ARM gives them: a code, a message, the errors of
//! each failed resource as `details[]`, and for a template fault the line and column it
//! was found at as `additionalInfo[]` (`TemplateViolation`).

use serde::{Deserialize, Serialize};

use crate::resources::ResourceError;

/// ARM's error object (`ErrorDetail` in the Resources REST spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    #[serde(
        rename = "additionalInfo",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_info: Vec<AdditionalInfo>,
}

/// `{"type":"TemplateViolation","info":{"lineNumber","linePosition","path"}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionalInfo {
    #[serde(rename = "type")]
    pub info_type: String,
    pub info: serde_json::Value,
}

impl ErrorDetail {
    /// ARM's error for a deployment with failed resources, each one's error in `details`.
    pub fn deployment_failed(details: Vec<ErrorDetail>) -> Self {
        Self {
            details,
            ..Self::new(
                "DeploymentFailed",
                "At least one resource deployment operation failed. Please list deployment \
                 operations for details. Please see https://aka.ms/arm-deployment-operations \
                 for usage details.",
            )
        }
    }

    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            target: None,
            details: Vec::new(),
            additional_info: Vec::new(),
        }
    }
}

/// Where in the request body a template fault is: 1-based line and column, and the JSON
/// path ARM names (`properties.template.resources[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePosition {
    pub line: usize,
    pub column: usize,
    pub path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// 400 `InvalidTemplate`: the template does not parse, names an unknown function, has a
    /// dependency cycle, a missing or mistyped parameter. The message names the line.
    #[error("{message}")]
    InvalidTemplate {
        message: String,
        position: Option<TemplatePosition>,
    },
    /// 400 `InvalidTemplateDeployment`: the template is valid but a resource in it is not
    /// (its provider refused it at validation); `details` holds each refusal.
    #[error(
        "The template deployment '{deployment}' is not valid according to the validation \
         procedure."
    )]
    InvalidTemplateDeployment {
        deployment: String,
        details: Vec<ErrorDetail>,
    },
    /// 400 `InvalidRequestContent`: the request body is not a deployment.
    #[error("{0}")]
    InvalidRequestContent(String),
    /// 404 `DeploymentNotFound`.
    #[error("Deployment '{0}' could not be found.")]
    NotFound(String),
    /// 409 `DeploymentActive`: another deployment of the same name is still running.
    #[error(
        "Unable to edit or replace deployment '{0}': previous deployment from '{1}' is still \
         active (provisioning state is '{2}')."
    )]
    Active(String, String, String),
    /// 409 `DeploymentCannotBeCancelled`: only an accepted or running deployment can be.
    #[error(
        "The deployment '{0}' cannot be cancelled: its provisioning state is '{1}'; only a \
         deployment that is accepted or running can be cancelled."
    )]
    CannotBeCancelled(String, String),
    /// The management domain refused a lookup (the resource group is missing, say).
    #[error(transparent)]
    Resource(#[from] ResourceError),
}

impl From<sqlx::Error> for DeploymentError {
    fn from(error: sqlx::Error) -> Self {
        Self::Resource(ResourceError::Database(error))
    }
}

impl DeploymentError {
    /// ARM's template fault: "Deployment template validation failed: '...'".
    pub fn invalid_template(message: impl Into<String>) -> Self {
        Self::InvalidTemplate {
            message: format!(
                "Deployment template validation failed: '{}'.",
                message.into()
            ),
            position: None,
        }
    }

    /// A template fault at `position`, worded with its line and column as ARM words it.
    pub fn invalid_template_at(
        what: &str,
        position: Option<TemplatePosition>,
        reason: &str,
    ) -> Self {
        let message = match &position {
            Some(at) => format!(
                "Deployment template validation failed: 'The template {what} at line '{}' and \
                 column '{}' is not valid: {reason}. Please see https://aka.ms/arm-syntax for \
                 usage details.'.",
                at.line, at.column
            ),
            None => format!(
                "Deployment template validation failed: 'The template {what} is not valid: \
                 {reason}. Please see https://aka.ms/arm-syntax for usage details.'."
            ),
        };
        Self::InvalidTemplate { message, position }
    }

    /// The body ARM answers this error with (what a 400 from `validate` carries too).
    pub fn detail(&self) -> ErrorDetail {
        match self {
            Self::InvalidTemplate { message, position } => {
                let mut detail = ErrorDetail::new("InvalidTemplate", message.clone());
                if let Some(at) = position {
                    detail.additional_info.push(AdditionalInfo {
                        info_type: "TemplateViolation".to_owned(),
                        info: serde_json::json!({
                            "lineNumber": at.line,
                            "linePosition": at.column,
                            "path": at.path,
                        }),
                    });
                }
                detail
            }
            Self::InvalidTemplateDeployment { details, .. } => ErrorDetail {
                details: details.clone(),
                ..ErrorDetail::new("InvalidTemplateDeployment", self.to_string())
            },
            Self::InvalidRequestContent(message) => {
                ErrorDetail::new("InvalidRequestContent", message.clone())
            }
            Self::NotFound(_) => ErrorDetail::new("DeploymentNotFound", self.to_string()),
            Self::Active(..) => ErrorDetail::new("DeploymentActive", self.to_string()),
            Self::CannotBeCancelled(..) => {
                ErrorDetail::new("DeploymentCannotBeCancelled", self.to_string())
            }
            Self::Resource(error) => ErrorDetail::new(resource_code(error), error.to_string()),
        }
    }
}

/// The code a management-domain error carries on the wire.
fn resource_code(error: &ResourceError) -> String {
    match error {
        ResourceError::NotFound { code, .. } | ResourceError::Conflict { code, .. } => {
            (*code).to_owned()
        }
        ResourceError::Invalid { code, .. } => code.to_string(),
        ResourceError::Database(_) | ResourceError::Storage(_) | ResourceError::Engine(_) => {
            "InternalServerError".to_owned()
        }
    }
}
