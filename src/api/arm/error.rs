//! The management API's wire errors: ARM's `{"error":{"code","message"}}` body with the
//! status each kind of failure has in Azure. Server-side failures are logged with their
//! cause and answered with an opaque message.

use std::borrow::Cow;

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::resources::ResourceError;

#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// 401: no bearer token, or one that is malformed, badly signed or not ours.
    #[error("{0}")]
    InvalidAuthenticationToken(String),
    /// 401: a token whose `exp` has passed.
    #[error("The token is expired.")]
    ExpiredAuthenticationToken,
    /// 403: the principal holds no grant on the subscription it addresses.
    #[error("{0}")]
    AuthorizationFailed(String),
    /// 404: no route matches the path and method.
    #[error("No route registered for '{method} {path}'.")]
    NoRoute { method: String, path: String },
    /// 400: the body is not the JSON the operation takes.
    #[error("The request content was invalid and could not be deserialized: {0}")]
    InvalidRequestContent(String),
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    #[error("The request content size exceeds the maximum size of 4 MB.")]
    RequestContentTooLarge,
    /// 400: a query parameter (`$filter`, `$skipToken`...) cannot be understood.
    #[error("{0}")]
    InvalidQueryParameter(String),
    /// 503: the service has more requests in progress than it serves at once, or waited
    /// too long for a database connection.
    #[error("The server is busy. Retry the request after the interval in Retry-After.")]
    ServerBusy,
    #[error(transparent)]
    Resource(#[from] ResourceError),
}

/// ARM's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A machine-readable error code, e.g. `ResourceNotFound`.
    pub code: String,
    pub message: String,
}

impl ArmError {
    fn status_and_code(&self) -> (StatusCode, Cow<'static, str>) {
        match self {
            Self::InvalidAuthenticationToken(_) => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken".into(),
            ),
            Self::ExpiredAuthenticationToken => (
                StatusCode::UNAUTHORIZED,
                "ExpiredAuthenticationToken".into(),
            ),
            Self::AuthorizationFailed(_) => (StatusCode::FORBIDDEN, "AuthorizationFailed".into()),
            Self::NoRoute { .. } => (StatusCode::NOT_FOUND, "NoRegisteredProviderFound".into()),
            Self::InvalidRequestContent(_) => {
                (StatusCode::BAD_REQUEST, "InvalidRequestContent".into())
            }
            Self::RequestContentTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestContentTooLarge".into(),
            ),
            Self::InvalidQueryParameter(_) => {
                (StatusCode::BAD_REQUEST, "InvalidQueryParameterValue".into())
            }
            Self::ServerBusy => (StatusCode::SERVICE_UNAVAILABLE, "ServerBusy".into()),
            Self::Resource(ResourceError::Database(e)) if crate::store::is_busy(e) => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServerBusy".into())
            }
            Self::Resource(error) => match error {
                ResourceError::NotFound { code, .. } => (StatusCode::NOT_FOUND, (*code).into()),
                ResourceError::Invalid { code, .. } => (StatusCode::BAD_REQUEST, code.clone()),
                ResourceError::Conflict { code, .. } => (StatusCode::CONFLICT, (*code).into()),
                ResourceError::Database(_)
                | ResourceError::Storage(_)
                | ResourceError::Engine(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError".into(),
                ),
            },
        }
    }
}

/// A body the `Bytes` extractor could not read (the `/_sim` routes).
impl From<BytesRejection> for ArmError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::RequestContentTooLarge
        } else {
            Self::InvalidRequestContent(rejection.body_text())
        }
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!("management request shed: the service is busy");
            ArmError::ServerBusy.to_string()
        } else if status.is_server_error() {
            tracing::error!(error = ?self, "management request failed");
            "An internal error occurred. Retry the request; the error was logged.".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            Json(ErrorResponse {
                error: ErrorDetail {
                    code: code.into_owned(),
                    message,
                },
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer authorization_uri=\"/common/oauth2/authorize\", error=\"invalid_token\"",
                ),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overloaded_service_answers_503_with_retry_after() {
        for error in [
            ArmError::ServerBusy,
            ArmError::Resource(ResourceError::Database(sqlx::Error::PoolTimedOut)),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()["retry-after"], "1");
        }
    }

    fn assert_server_busy(error: sqlx::Error) {
        let response = ArmError::Resource(ResourceError::Database(error)).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }

    /// A pool of one connection, held: the next acquire times out.
    #[tokio::test]
    async fn waiting_too_long_for_a_connection_answers_503_server_busy() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_millis(50))
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let _held = pool.acquire().await.unwrap();
        let error = pool.acquire().await.unwrap_err();
        assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error:?}");
        assert_server_busy(error);
    }

    /// Two connections to one SQLite file, the first holding the write lock, the second not
    /// waiting for it: SQLITE_BUSY, as after the busy timeout.
    #[tokio::test]
    async fn sqlite_busy_past_the_busy_timeout_answers_503_server_busy() {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
        let mut waiter = sqlx::AnyConnection::connect(&url).await.unwrap();
        waiter.execute("pragma busy_timeout = 0").await.unwrap();
        holder.execute("begin immediate").await.unwrap();
        let error = waiter.execute("begin immediate").await.unwrap_err();
        assert!(crate::store::is_busy(&error), "{error:?}");
        assert_server_busy(error);
        holder.execute("rollback").await.unwrap();
    }

    #[test]
    fn server_errors_withhold_their_cause() {
        let error = ArmError::Resource(ResourceError::Database(sqlx::Error::Protocol(
            "secret detail".into(),
        )));
        let (status, code) = error.status_and_code();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code, "InternalServerError");
    }
}
