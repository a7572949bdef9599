//! Microsoft.Resources resource groups: create-or-update, get, list.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::{spec, GroupPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::groups::{self, PutGroup, Upserted};
use crate::resources::ids;
use crate::resources::lookup::{self, GroupRecord, Tags};

/// The body of a resource group PUT.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResourceGroupPut {
    /// The region, e.g. `westeurope` or `West Europe`.
    pub location: Option<String>,
    pub tags: Option<Tags>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceGroup {
    /// `/subscriptions/{subscriptionId}/resourceGroups/{name as created}`
    pub id: String,
    pub name: String,
    /// Always `Microsoft.Resources/resourceGroups`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub location: String,
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    pub properties: ResourceGroupProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// Always `Succeeded`: groups are created synchronously.
    pub provisioning_state: String,
}

/// ARM's list body; groups are not paged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceGroupList {
    pub value: Vec<ResourceGroup>,
}

impl From<GroupRecord> for ResourceGroup {
    fn from(group: GroupRecord) -> Self {
        Self {
            id: ids::group_id(&group.subscription_id, &group.name),
            name: group.name,
            resource_type: "Microsoft.Resources/resourceGroups".to_owned(),
            location: group.location,
            tags: group.tags,
            properties: ResourceGroupProperties {
                provisioning_state: "Succeeded".to_owned(),
            },
        }
    }
}

#[utoipa::path(
    get,
    path = spec::ListResourceGroups.path,
    operation_id = spec::ListResourceGroups.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The subscription's resource groups.", body = ResourceGroupList),
        (status = 401, description = "No valid bearer token.", body = ErrorResponse),
        (status = 403, description = "No grant on the subscription.", body = ErrorResponse),
    )
)]
pub async fn list_groups(state: &ApiState, _request: &ArmRequest, subscription: &str) -> ArmResult {
    let groups = groups::list_groups(&state.db, subscription).await?;
    Ok(json_response(
        StatusCode::OK,
        &ResourceGroupList {
            value: groups.into_iter().map(ResourceGroup::from).collect(),
        },
    ))
}

#[utoipa::path(
    put,
    path = spec::PutResourceGroup.path,
    operation_id = spec::PutResourceGroup.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "1-90 letters, digits, `_-.()`, not ending in `.`; matched case-insensitively."),
        ApiVersion,
    ),
    request_body = ResourceGroupPut,
    responses(
        (status = 200, description = "The group existed; its tags were replaced.", body = ResourceGroup),
        (status = 201, description = "The group was created.", body = ResourceGroup),
        (status = 400, description = "`LocationRequired`, `InvalidResourceGroupName` or `InvalidRequestContent`.", body = ErrorResponse),
        (status = 404, description = "`SubscriptionNotFound`.", body = ErrorResponse),
        (status = 409, description = "`InvalidResourceGroupLocation`: the group exists in another location.", body = ErrorResponse),
    )
)]
pub async fn put_group(state: &ApiState, request: &ArmRequest, path: &GroupPath) -> ArmResult {
    let body: ResourceGroupPut = request.json()?;
    let (group, upserted) = groups::put_group(
        &state.db,
        &state.clock,
        PutGroup {
            subscription: path.subscription.clone(),
            name: path.group.clone(),
            location: body.location,
            tags: body.tags.unwrap_or_default(),
        },
    )
    .await?;
    let status = match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated => StatusCode::OK,
    };
    Ok(json_response(status, &ResourceGroup::from(group)))
}

#[utoipa::path(
    get,
    path = spec::GetResourceGroup.path,
    operation_id = spec::GetResourceGroup.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "Matched case-insensitively."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group.", body = ResourceGroup),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn get_group(state: &ApiState, _request: &ArmRequest, path: &GroupPath) -> ArmResult {
    let group = lookup::group(&state.db, &path.subscription, &path.group).await?;
    Ok(json_response(StatusCode::OK, &ResourceGroup::from(group)))
}

/// The resource group operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_groups, put_group, get_group),
    components(schemas(
        ResourceGroupPut,
        ResourceGroup,
        ResourceGroupProperties,
        ResourceGroupList
    ))
)]
pub struct GroupsApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_names_the_azure_operations() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(GroupsApi::openapi()).unwrap();
        let group = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}";
        for (path, method, id) in [
            (
                "/subscriptions/{subscriptionId}/resourcegroups",
                "get",
                "ResourceGroups_List",
            ),
            (group, "put", "ResourceGroups_CreateOrUpdate"),
            (group, "get", "ResourceGroups_Get"),
        ] {
            assert_eq!(doc["paths"][path][method]["operationId"], id, "{path}");
        }
    }

    #[test]
    fn groups_serialize_as_arm_spells_them() {
        let group = ResourceGroup::from(GroupRecord {
            subscription_id: "s".to_owned(),
            name: "Rg".to_owned(),
            location: "westeurope".to_owned(),
            tags: Tags::new(),
            created_at: chrono::Utc::now(),
        });
        assert_eq!(
            serde_json::to_value(group).unwrap(),
            serde_json::json!({
                "id": "/subscriptions/s/resourceGroups/Rg",
                "name": "Rg",
                "type": "Microsoft.Resources/resourceGroups",
                "location": "westeurope",
                "properties": { "provisioningState": "Succeeded" }
            })
        );
    }
}
