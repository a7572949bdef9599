//! The management API: ARM routes, the token issuer (OpenID discovery, client credentials,
//! JWKS), the `/_sim` admin routes and the OpenAPI document.

pub mod arm;
pub mod guest;
mod identity;
pub mod openapi;
mod sim;
mod sim_clock;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;

use crate::auth::Auth;
use crate::blob::engine::BlobStore;
use crate::clock::Clock;
use crate::control::Engine;
use crate::store::Db;

/// What every management handler may use.
#[derive(Clone, FromRef)]
pub struct ApiState {
    pub db: Db,
    pub blobs: Arc<BlobStore>,
    pub clock: Clock,
    pub auth: Arc<Auth>,
    /// `--public-url`: the base URL written into responses instead of the request's own.
    pub public_url: Option<crate::origin::PublicUrl>,
    pub engine: Engine,
    /// Permits for ARM requests in progress; see `arm::MAX_IN_FLIGHT`.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(identity::router())
        .merge(sim::router())
        .merge(sim_clock::router())
        .fallback(arm::dispatch)
        .with_state(state)
}
