//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn refresh_containers(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _fabric: &str,
) -> ArmResult {
    todo!()
}

pub async fn get_fabric_operation_result(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _fabric: &str,
    _operation: &str,
) -> ArmResult {
    todo!()
}

pub async fn list_protectable_items(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VaultPath,
) -> ArmResult {
    todo!()
}

pub async fn list_protection_containers(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VaultPath,
) -> ArmResult {
    todo!()
}

pub async fn get_protection_container(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &ContainerPath,
) -> ArmResult {
    todo!()
}

pub async fn put_protected_item(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &ItemPath,
) -> ArmResult {
    todo!()
}

pub async fn get_protected_item(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &ItemPath,
) -> ArmResult {
    todo!()
}

pub async fn delete_protected_item(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &ItemPath,
) -> ArmResult {
    todo!()
}

pub async fn list_protected_items(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VaultPath,
) -> ArmResult {
    todo!()
}

pub async fn get_item_operation_status(
    _state: &ApiState,
    _request: &ArmRequest,
    _item: &ItemPath,
    _operation: &str,
) -> ArmResult {
    todo!()
}

pub async fn get_item_operation_result(
    _state: &ApiState,
    _request: &ArmRequest,
    _item: &ItemPath,
    _operation: &str,
) -> ArmResult {
    todo!()
}

pub async fn get_backup_operation(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _operation: &str,
) -> ArmResult {
    todo!()
}

pub async fn get_backup_operation_result(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _operation: &str,
) -> ArmResult {
    todo!()
}
