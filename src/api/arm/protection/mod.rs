//! Protection over ARM: container refresh, protectable items, containers, protected items
//! and the operations clients poll after a protected item write. Writes answer 202 with an
//! empty body and `Azure-AsyncOperation`/`Location` headers; they have finished by then,
//! so the first poll sees `Succeeded` with the job's id.
//!
//! Split as `resources::protection` is: discovery and containers, protected items, the
//! operations polled after writes, and `backupStatus`. This module holds what they share
//! with each other and with the jobs, recovery point, backup and vault configuration routes.

pub mod backup_status;
pub mod containers;
pub mod items;
pub mod operations;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::error::ErrorResponse;
use super::route::{ItemPath, VaultPath};
use super::{ArmError, ArmRequest};
use crate::api::ApiState;
use crate::resources::lookup::{self, VaultRecord};
use crate::resources::protection::items::{self as protected_items, ProtectedItem};
use crate::resources::protection::names;
use crate::resources::ResourceError;

/// Items and containers per list page.
const PAGE_SIZE: usize = 200;
/// What Azure Backup calls Azure VM backup (`backupManagementType`).
pub(super) const MANAGEMENT_TYPE: &str = "AzureIaasVM";
/// Seconds a client is told to wait before polling; the work is done by then.
const RETRY_AFTER: &str = "1";
/// What header URLs percent-encode.
const URL_UNSAFE: &AsciiSet = &CONTROLS.add(b' ');

// ---- shared with the jobs, backups and vault configuration modules ----

/// Times as Azure Backup writes them: RFC 3339, UTC, `Z`.
pub(super) fn wire_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(super) async fn vault_of(state: &ApiState, path: &VaultPath) -> Result<VaultRecord, ArmError> {
    Ok(lookup::vault(
        &state.db,
        &path.group.subscription,
        &path.group.group,
        &path.vault,
    )
    .await?)
}

/// 404 unless `fabric` is `Azure`, the one fabric of Azure VMs.
pub(super) fn check_fabric(fabric: &str) -> Result<(), ArmError> {
    if names::is_azure_fabric(fabric) {
        Ok(())
    } else {
        Err(ResourceError::not_found(
            "BMSUserErrorFabricNotFound",
            format!(
                "Backup fabric '{fabric}' was not found: Azure VMs are in fabric '{}'.",
                names::FABRIC
            ),
        )
        .into())
    }
}

/// The vault and protected item an item path addresses. 404 when either is missing.
pub(super) async fn item_of(
    state: &ApiState,
    path: &ItemPath,
) -> Result<(VaultRecord, ProtectedItem), ArmError> {
    check_fabric(&path.container.fabric)?;
    let vault_path = &path.container.vault;
    let found = protected_items::get_with_vault(
        &state.db,
        &vault_path.group.subscription,
        &vault_path.group.group,
        &vault_path.vault,
        &path.container.container,
        &path.item,
    )
    .await?;
    if let Some(found) = found {
        return Ok(found);
    }
    // Missing: say whether the vault or the item is.
    let vault = vault_of(state, vault_path).await?;
    let item =
        protected_items::get(&state.db, &vault, &path.container.container, &path.item).await?;
    Ok((vault, item))
}

/// 202 with an empty body and the given URL headers, plus `Retry-After`.
pub(super) fn accepted(headers: &[(&'static str, String)]) -> Response {
    let mut response = (StatusCode::ACCEPTED, Body::empty()).into_response();
    let map = response.headers_mut();
    for (name, url) in headers {
        // Names are ASCII; anything else (a stray Unicode name) is percent-encoded.
        let value = utf8_percent_encode(url, URL_UNSAFE).to_string();
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("percent-encoded URLs are valid header values"),
        );
    }
    map.insert("retry-after", HeaderValue::from_static(RETRY_AFTER));
    response
}

pub(super) fn url(request: &ArmRequest, path: &str) -> String {
    format!(
        "{}{path}?api-version={}",
        request.base_url,
        request.api_version()
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        containers::refresh_containers,
        containers::get_fabric_operation_result,
        containers::list_protectable_items,
        containers::list_protection_containers,
        containers::get_protection_container,
        items::put_protected_item,
        items::get_protected_item,
        items::delete_protected_item,
        items::list_protected_items,
        operations::get_item_operation_status,
        operations::get_item_operation_result,
        operations::get_backup_operation,
        operations::get_backup_operation_result,
        backup_status::get_backup_status,
    ),
    components(schemas(
        backup_status::BackupStatusRequest,
        backup_status::BackupStatusBody,
        containers::ProtectableItemResource,
        containers::ProtectableItemProperties,
        containers::ProtectableItemList,
        containers::ProtectionContainerResource,
        containers::ProtectionContainerProperties,
        containers::ProtectionContainerList,
        items::ProtectedItemResource,
        items::ProtectedItemProperties,
        items::ProtectedItemList,
        items::ProtectedItemPut,
        items::ProtectedItemPutProperties,
        items::ExtendedPropertiesBody,
        items::DiskExclusionBody,
        items::HealthDetail,
        items::KpisHealths,
        items::ProtectedItemExtendedInfo,
        operations::OperationStatusBody,
        operations::OperationStatusProperties,
        operations::OperationStatusError,
        ErrorResponse,
    ))
)]
pub struct ProtectionApi;
