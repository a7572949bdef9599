//! The OpenAPI document of the management API, generated from the handlers' `utoipa`
//! annotations. `openapi/vaultsim.json` is this document checked in; a test fails when
//! the two differ (regenerate with `cargo run -- openapi > openapi/vaultsim.json`) and when
//! a documented path is not the route the dispatcher serves under that operation id.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vaultsim management API",
        description = "The Azure Resource Manager surface of vaultsim: Microsoft.Compute virtual \
                       machines, Microsoft.RecoveryServices vaults, backup policies, protection, \
                       jobs and recovery points, plus the token issuer and the /_sim admin routes. \
                       Every ARM route accepts any api-version, matches paths case-insensitively \
                       and answers errors as {\"error\":{\"code\",\"message\"}}.",
        license(name = "MIT")
    ),
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    components(schemas(super::arm::error::ErrorResponse, super::arm::error::ErrorDetail))
)]
struct ManagementApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ManagementApi::openapi();
    document.merge(super::arm::basics::BasicsApi::openapi());
    document.merge(super::identity::IdentityApi::openapi());
    document.merge(super::health::HealthApi::openapi());
    document.merge(super::sim::SimApi::openapi());
    document.merge(super::sim_clock::SimClockApi::openapi());
    document.merge(super::sim_extensions::SimExtensionsApi::openapi());
    document.merge(super::sim_faults::SimFaultsApi::openapi());
    document.merge(super::sim_runs::SimRunsApi::openapi());
    document.merge(super::arm::groups::GroupsApi::openapi());
    document.merge(super::arm::deployments::DeploymentsApi::openapi());
    document.merge(super::arm::compute::ComputeApi::openapi());
    document.merge(super::arm::vm_power::VmPowerApi::openapi());
    document.merge(super::arm::images::ImagesApi::openapi());
    document.merge(super::arm::extensions::ExtensionsApi::openapi());
    document.merge(super::arm::network::NetworkApi::openapi());
    document.merge(super::arm::providers::ProvidersApi::openapi());
    document.merge(super::arm::inventory::InventoryApi::openapi());
    document.merge(super::arm::vaults::VaultsApi::openapi());
    document.merge(super::arm::vault_config::VaultConfigApi::openapi());
    document.merge(super::arm::policies::PoliciesApi::openapi());
    document.merge(super::arm::protection::ProtectionApi::openapi());
    document.merge(super::arm::jobs::JobsApi::openapi());
    document.merge(super::arm::recovery_points::RecoveryPointsApi::openapi());
    document.merge(super::arm::backups::BackupsApi::openapi());
    document
}

/// The document as checked in: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

pub async fn serve() -> Response {
    let mut response = document_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::Method;

    use super::*;
    use crate::api::arm::route::{self, Route};

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let checked_in = include_str!("../../openapi/vaultsim.json");
        assert!(
            checked_in == document_json(),
            "openapi/vaultsim.json is out of date: run `cargo run -- openapi > openapi/vaultsim.json`"
        );
    }

    /// Each documented ARM path, with its parameters filled in, is the route the dispatcher
    /// serves under the documented operation id; and every route is documented.
    #[test]
    fn documented_paths_are_the_served_routes() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let concrete = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "x"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let id = operation.operation_id.clone().unwrap_or_default();
                match route::parse(&method, &concrete) {
                    Ok(route) => {
                        assert_eq!(route.operation_id(), id, "{method} {path}");
                        documented.insert(id);
                    }
                    // Identity, admin and document routes are served by the axum router.
                    Err(_) => assert!(
                        is_axum_routed(path),
                        "{method} {path} ({id}) is documented but not served"
                    ),
                }
            }
        }
        let all: BTreeSet<String> = Route::SPECS
            .iter()
            .map(|spec| spec.operation_id.to_owned())
            .collect();
        let missing: Vec<_> = all.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes missing from the document: {missing:?}"
        );
    }

    fn is_axum_routed(path: &str) -> bool {
        path.starts_with("/_sim/")
            || path.starts_with("/adfs/")
            || path.starts_with("/{tenant}/")
            || path == "/openapi.json"
            || path == "/healthz"
            || path == "/readyz"
            || path == "/metrics"
    }
}
