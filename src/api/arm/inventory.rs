//! ARM's generic resource list (`GET /subscriptions/{s}/resources` and
//! `.../resourceGroups/{g}/resources`), which `az resource list` reads, with the `$filter`
//! terms it sends (`resourceGroup`, `resourceType`, `name`; each `eq`, any case).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::query::{check_filter_keys, filter_allows};
use super::route::{spec, GroupPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::inventory::{self, ResourceSummary};

/// A resource as the generic list shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenericResourceBody {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    location: String,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenericResourceList {
    value: Vec<GenericResourceBody>,
}

#[utoipa::path(
    get,
    path = spec::ListResources.path,
    operation_id = spec::ListResources.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("$filter" = Option<String>, Query, description = "`resourceGroup eq 'g'`, `resourceType eq 't'`, `name eq 'n'`, joined by `and`."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's VMs, vaults, virtual networks, network interfaces, network security groups, public IP addresses and the served storage account (in each group), by id.", body = GenericResourceList),
        (status = 400, description = "`InvalidQueryParameterValue`: a `$filter` term that is not supported.", body = ErrorResponse),
    )
)]
pub async fn list_resources(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    respond(state, request, subscription, None).await
}

#[utoipa::path(
    get,
    path = spec::ListResourcesInGroup.path,
    operation_id = spec::ListResourcesInGroup.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ("$filter" = Option<String>, Query, description = "`resourceType eq 't'`, `name eq 'n'`, joined by `and`."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's resources, by id.", body = GenericResourceList),
        (status = 400, description = "`InvalidQueryParameterValue`.", body = ErrorResponse),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_resources_in_group(
    state: &ApiState,
    request: &ArmRequest,
    path: &GroupPath,
) -> ArmResult {
    respond(state, request, &path.subscription, Some(&path.group)).await
}

async fn respond(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
    group: Option<&str>,
) -> ArmResult {
    let filter = request.query.filter()?;
    check_filter_keys(&filter, &["resourceGroup", "resourceType", "name"])?;
    let served_account = &state.engine.account().name;
    let resources = inventory::list(&state.db, subscription, group, served_account).await?;
    let wanted = |r: &ResourceSummary| {
        filter_allows(&filter, "resourceGroup", &r.resource_group)
            && filter_allows(&filter, "resourceType", r.resource_type)
            && filter_allows(&filter, "name", &r.name)
    };
    let value = resources
        .into_iter()
        .filter(wanted)
        .map(|r| GenericResourceBody {
            id: r.id,
            name: r.name,
            resource_type: r.resource_type,
            location: r.location,
            tags: r.tags,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &GenericResourceList { value },
    ))
}

/// The generic resource list's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_resources, list_resources_in_group),
    components(schemas(GenericResourceBody, GenericResourceList))
)]
pub struct InventoryApi;
