//! The blob endpoint's one error type and its wire form: the Azure Storage XML body
//! (`<Error><Code>…</Code><Message>…</Message>…</Error>`) plus `x-ms-error-code`.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use vaultsim_protocol::blob_xml::{self, ErrorBody};

use crate::blob::engine::StoreError;

#[derive(Debug)]
pub struct BlobApiError {
    pub status: StatusCode,
    /// Azure's error code; owned only when a fault injects one.
    pub code: Cow<'static, str>,
    pub message: String,
    /// Extra elements after `<Message>`, e.g. `AuthenticationErrorDetail` or `HeaderName`.
    pub details: Vec<(&'static str, String)>,
    /// Extra response headers (e.g. `Content-Range` on `InvalidRange`).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl BlobApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    pub fn invalid_header(name: &str, value: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidHeaderValue",
            format!("The value for one of the HTTP headers is not in the correct format. {why}"),
        )
        .with_detail("HeaderName", name)
        .with_detail("HeaderValue", value)
    }

    pub fn missing_header(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredHeader",
            "An HTTP header that's mandatory for this request is not specified.",
        )
        .with_detail("HeaderName", name)
    }

    pub fn invalid_query(name: &str, value: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            format!("Value for one of the query parameters specified in the request URI is invalid. {why}"),
        )
        .with_detail("QueryParameterName", name)
        .with_detail("QueryParameterValue", value)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    pub fn invalid_xml(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidXmlDocument",
            format!("XML specified is not syntactically valid. {why}"),
        )
    }

    /// 501 for a feature vaultsim does not serve, named in the message.
    pub fn not_implemented(feature: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{feature} is not supported by vaultsim."),
        )
    }

    pub fn permission_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    }

    pub fn authentication_failed(detail: String) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        )
        .with_detail("AuthenticationErrorDetail", detail)
    }

    pub fn body_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            format!("The request body is too large and exceeds the maximum permissible limit of {limit} bytes."),
        )
    }

    /// 500 with Azure's opaque message (the cause is logged where it happened).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    }

    /// What a fault's `error` action answers: its status and code, with its message or
    /// else Azure's standard message for the code.
    pub fn injected(status: u16, code: &str, message: Option<&str>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            code: Cow::Owned(code.to_owned()),
            message: message.unwrap_or_else(|| standard_message(code)).to_owned(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The response, with `RequestId` and `Time` in the message as Azure writes them.
    pub fn into_response_for(self, request_id: &str, time: &str) -> Response {
        let message = format!("{}\nRequestId:{request_id}\nTime:{time}", self.message);
        let body = blob_xml::to_xml(&ErrorBody {
            code: &self.code,
            message: &message,
            details: &self.details,
        })
        .expect("an Error document serializes: its element names are all fixed");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            headers.insert("x-ms-error-code", code);
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Azure Storage's message for an error code, as its REST reference lists them (the
/// codes a fault is likely to inject); a generic one for any other code.
fn standard_message(code: &str) -> &'static str {
    match code {
        // Azure also answers ServerBusy with "Operations per second is over the account
        // limit." (and the ingress and egress variants) when an account's targets are hit;
        // "The server is busy." is the general one.
        "ServerBusy" => "The server is busy.",
        "InternalError" => "The server encountered an internal error. Please retry the request.",
        "OperationTimedOut" => "The operation could not be completed within the permitted time.",
        "AuthenticationFailed" => "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        "AuthorizationFailure" => "This request is not authorized to perform this operation.",
        "AuthorizationPermissionMismatch" => "This request is not authorized to perform this operation using this permission.",
        "BlobNotFound" => "The specified blob does not exist.",
        "ContainerNotFound" => "The specified container does not exist.",
        "ResourceNotFound" => "The specified resource does not exist.",
        "LeaseIdMissing" => "There is currently a lease on the blob and no lease ID was specified in the request.",
        "LeaseAlreadyPresent" => "There is already a lease present.",
        "ConditionNotMet" => "The condition specified using HTTP conditional header(s) is not met.",
        "AccountIsDisabled" => "The specified account is disabled.",
        "InsufficientAccountPermissions" => "The account being accessed does not have sufficient permissions to execute this operation.",
        "RequestBodyTooLarge" => "The request body is too large and exceeds the maximum permissible limit.",
        _ => "The request failed (a fault injected by /_sim/faults).",
    }
}

impl From<StoreError> for BlobApiError {
    fn from(error: StoreError) -> Self {
        use StatusCode as S;
        let message = error.to_string();
        let (status, code) = match &error {
            StoreError::ContainerNotFound => (S::NOT_FOUND, "ContainerNotFound"),
            StoreError::ContainerAlreadyExists => (S::CONFLICT, "ContainerAlreadyExists"),
            StoreError::BlobNotFound => (S::NOT_FOUND, "BlobNotFound"),
            StoreError::BlobAlreadyExists => (S::CONFLICT, "BlobAlreadyExists"),
            StoreError::InvalidBlobType => (S::CONFLICT, "InvalidBlobType"),
            StoreError::SnapshotsPresent => (S::CONFLICT, "SnapshotsPresent"),
            StoreError::InvalidPageRange => (S::RANGE_NOT_SATISFIABLE, "InvalidPageRange"),
            StoreError::InvalidBlobSize(size) => {
                return BlobApiError::invalid_header(
                    "x-ms-blob-content-length",
                    &size.to_string(),
                    &message,
                )
            }
            StoreError::ConditionNotMet => (S::PRECONDITION_FAILED, "ConditionNotMet"),
            StoreError::NotModified => (S::NOT_MODIFIED, "ConditionNotMet"),
            StoreError::SequenceNumberConditionNotMet => {
                (S::PRECONDITION_FAILED, "SequenceNumberConditionNotMet")
            }
            StoreError::PreviousSnapshotNotFound => (S::CONFLICT, "PreviousSnapshotNotFound"),
            StoreError::PreviousSnapshotCannotBeNewer => {
                (S::BAD_REQUEST, "PreviousSnapshotCannotBeNewer")
            }
            StoreError::InvalidBlockList => (S::BAD_REQUEST, "InvalidBlockList"),
            StoreError::InvalidBlobOrBlock => (S::BAD_REQUEST, "InvalidBlobOrBlock"),
            StoreError::BlockCountExceedsLimit => (S::CONFLICT, "BlockCountExceedsLimit"),
            StoreError::Io(_) | StoreError::Journal(_) => {
                // The cause is logged; the client gets Azure's opaque message.
                tracing::error!(%error, "blob store failure");
                return BlobApiError::internal();
            }
        };
        BlobApiError::new(status, code, message)
    }
}
