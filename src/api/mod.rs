//! The management API: ARM routes, the token issuer (OpenID discovery, client credentials,
//! JWKS), the `/_sim` admin routes, the OpenAPI document and the web dashboard.

pub mod arm;
mod dashboard;
pub mod guest;
pub mod health;
mod identity;
pub mod openapi;
pub mod request_ids;
mod sim;
mod sim_clock;
mod sim_extensions;
mod sim_faults;
mod sim_runs;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::Router;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::control::Engine;
use crate::faults::Faults;
use crate::storage::StorageAccounts;
use crate::store::Db;

/// The largest request body any of the service's JSON APIs takes: ARM's 4 MB. A larger one
/// is answered 413 `RequestContentTooLarge` in the API's own error shape.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// What every management handler may use.
#[derive(Clone, FromRef)]
pub struct ApiState {
    pub db: Db,
    pub accounts: Arc<StorageAccounts>,
    pub clock: Clock,
    pub auth: Arc<Auth>,
    /// `--public-url`: the base URL written into responses instead of the request's own.
    pub public_url: Option<crate::origin::PublicUrl>,
    pub engine: Engine,
    /// Permits for ARM requests in progress; see `arm::MAX_IN_FLIGHT`.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// The process's fault registry, managed by `/_sim/faults`.
    pub faults: Arc<Faults>,
    /// Settled jobs' rendered bodies, for the job list.
    pub job_bodies: Arc<arm::job_bodies::JobBodies>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(dashboard::router())
        .merge(identity::router())
        .merge(sim::router())
        .merge(sim_clock::router())
        .merge(sim_extensions::router())
        .merge(sim_faults::router())
        .merge(sim_runs::router())
        .route_layer(axum::middleware::from_fn(
            crate::prometheus::label_matched_route,
        ))
        .fallback(arm::dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
