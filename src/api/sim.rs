//! STUB: the `/_sim` admin routes.

use axum::Router;

use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new()
}
