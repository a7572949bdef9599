//! STUB: the token issuer's routes (OpenID discovery, token endpoints, JWKS).

use axum::Router;

use super::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new()
}
