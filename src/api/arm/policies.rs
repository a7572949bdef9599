//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_policies(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VaultPath,
) -> ArmResult {
    todo!()
}

pub async fn put_policy(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _policy: &str,
) -> ArmResult {
    todo!()
}

pub async fn get_policy(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _policy: &str,
) -> ArmResult {
    todo!()
}

pub async fn delete_policy(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _policy: &str,
) -> ArmResult {
    todo!()
}
