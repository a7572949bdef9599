//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_vaults_in_subscription(
    _state: &ApiState,
    _request: &ArmRequest,
    _subscription: &str,
) -> ArmResult {
    todo!()
}

pub async fn list_vaults_in_group(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &GroupPath,
) -> ArmResult {
    todo!()
}

pub async fn put_vault(_state: &ApiState, _request: &ArmRequest, _path: &VaultPath) -> ArmResult {
    todo!()
}

pub async fn get_vault(_state: &ApiState, _request: &ArmRequest, _path: &VaultPath) -> ArmResult {
    todo!()
}

pub async fn delete_vault(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VaultPath,
) -> ArmResult {
    todo!()
}
