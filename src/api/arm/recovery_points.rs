//! Recovery points over ARM: a protected item's points, listed (optionally bounded in time by
//! `$filter`) and read one by one.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;

use super::error::ErrorResponse;
use super::params::{ApiVersion, ItemParams, VaultParams};
use super::protection::{item_of, wire_time};
use super::query::{check_filter_keys, filter_time};
use super::route::{spec, ItemPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::protection::names;
use crate::resources::recovery_points::{self, RecoveryPoint, RecoveryPointQuery};

const RECOVERY_POINT_TYPE: &str =
    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints";

/// IaasVMRecoveryPoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryPointResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    resource_type: &'static str,
    properties: RecoveryPointProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPointProperties {
    /// Discriminator: `IaasVMRecoveryPoint`.
    object_type: &'static str,
    recovery_point_type: String,
    recovery_point_time: String,
    recovery_point_additional_info: String,
    #[serde(rename = "sourceVMStorageType")]
    source_vm_storage_type: String,
    #[serde(rename = "isSourceVMEncrypted")]
    is_source_vm_encrypted: bool,
    is_instant_ilr_session_active: bool,
    recovery_point_tier_details: Vec<RecoveryPointTierBody>,
    is_managed_virtual_machine: bool,
    virtual_machine_size: String,
    original_storage_account_option: bool,
    os_type: String,
    recovery_point_move_readiness_info: BTreeMap<String, MoveReadiness>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    zones: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryPointTierBody {
    /// `InstantRP`, `HardenedRP` or `ArchivedRP`.
    #[serde(rename = "type")]
    tier_type: &'static str,
    /// `Valid`, `Disabled`, `Deleted` or `Rehydrated`.
    status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoveReadiness {
    is_ready_for_move: bool,
    additional_info: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryPointList {
    value: Vec<RecoveryPointResource>,
}

fn recovery_point_body(item_id: &str, point: &RecoveryPoint) -> RecoveryPointResource {
    let details = &point.details;
    RecoveryPointResource {
        id: format!("{item_id}/recoveryPoints/{}", point.name),
        name: point.name.clone(),
        resource_type: RECOVERY_POINT_TYPE,
        properties: RecoveryPointProperties {
            object_type: "IaasVMRecoveryPoint",
            recovery_point_type: point.recovery_point_type.clone(),
            recovery_point_time: wire_time(point.time),
            recovery_point_additional_info: String::new(),
            source_vm_storage_type: details.source_vm_storage_type.clone(),
            is_source_vm_encrypted: details.is_source_vm_encrypted,
            is_instant_ilr_session_active: false,
            recovery_point_tier_details: point
                .tiers
                .iter()
                .map(|t| RecoveryPointTierBody {
                    tier_type: t.tier_type.as_str(),
                    status: t.status.as_str(),
                })
                .collect(),
            is_managed_virtual_machine: details.is_managed_virtual_machine,
            virtual_machine_size: details.virtual_machine_size.clone(),
            original_storage_account_option: details.original_storage_account_option,
            os_type: details.os_type.clone(),
            recovery_point_move_readiness_info: BTreeMap::from([(
                "ArchivedRP".to_owned(),
                MoveReadiness {
                    is_ready_for_move: false,
                    additional_info: "Recovery point cannot be moved to the archive tier: \
                                      archiving is not simulated."
                        .to_owned(),
                },
            )]),
            zones: details.zones.clone(),
        },
    }
}

#[utoipa::path(
    get,
    path = spec::ListRecoveryPoints.path,
    operation_id = spec::ListRecoveryPoints.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ItemParams,
        ApiVersion,
        ("$filter" = Option<String>, Query, description = "`startDate` and `endDate` (bounds on the recovery point time, `YYYY-MM-DD hh:mm:ss AM` or ISO 8601); `restorePointQueryType`, `extendedInfo`, `moveReadyRPOnly` and `includeSoftDeletedRP` are accepted and ignored."),
    ),
    responses(
        (status = 200, description = "The item's recovery points, newest first.", body = RecoveryPointList),
        (status = 400, description = "An unsupported `$filter`.", body = ErrorResponse),
        (status = 404, description = "Unknown vault, fabric or item.", body = ErrorResponse),
    )
)]
pub async fn list_recovery_points(
    state: &ApiState,
    request: &ArmRequest,
    path: &ItemPath,
) -> ArmResult {
    let filter = request.query.filter()?;
    check_filter_keys(
        &filter,
        &[
            "startDate",
            "endDate",
            "restorePointQueryType",
            "extendedInfo",
            "moveReadyRPOnly",
            "includeSoftDeletedRP",
        ],
    )?;
    let query = RecoveryPointQuery {
        from: filter_time(&filter, "startDate")?,
        until: filter_time(&filter, "endDate")?,
    };
    let (vault, item) = item_of(state, path).await?;
    let item_id = names::item_id(&vault.arm_id(), &item.name);
    let points = recovery_points::list(&state.db, &vault.vault_id, &item.item_key, &query).await?;
    Ok(json_response(
        StatusCode::OK,
        &RecoveryPointList {
            value: points
                .iter()
                .map(|p| recovery_point_body(&item_id, p))
                .collect(),
        },
    ))
}

#[utoipa::path(
    get,
    path = spec::GetRecoveryPoint.path,
    operation_id = spec::GetRecoveryPoint.operation_id,
    tag = "Jobs",
    params(
        VaultParams,
        ItemParams,
        ("recoveryPointId" = String, Path, description = "The recovery point's name (a number)."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The recovery point.", body = RecoveryPointResource),
        (status = 404, description = "Unknown vault, fabric, item or recovery point.", body = ErrorResponse),
    )
)]
pub async fn get_recovery_point(
    state: &ApiState,
    _request: &ArmRequest,
    item: &ItemPath,
    recovery_point: &str,
) -> ArmResult {
    let (vault, item) = item_of(state, item).await?;
    let point =
        recovery_points::get(&state.db, &vault.vault_id, &item.item_key, recovery_point).await?;
    Ok(json_response(
        StatusCode::OK,
        &recovery_point_body(&names::item_id(&vault.arm_id(), &item.name), &point),
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_recovery_points, get_recovery_point),
    components(schemas(
        RecoveryPointResource,
        RecoveryPointProperties,
        RecoveryPointTierBody,
        MoveReadiness,
        RecoveryPointList,
        ErrorResponse,
    ))
)]
pub struct RecoveryPointsApi;
