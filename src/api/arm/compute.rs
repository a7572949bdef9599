//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_vms_in_subscription(
    _state: &ApiState,
    _request: &ArmRequest,
    _subscription: &str,
) -> ArmResult {
    todo!()
}

pub async fn list_vms_in_group(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &GroupPath,
) -> ArmResult {
    todo!()
}

pub async fn put_vm(_state: &ApiState, _request: &ArmRequest, _path: &VmPath) -> ArmResult {
    todo!()
}

pub async fn get_vm(_state: &ApiState, _request: &ArmRequest, _path: &VmPath) -> ArmResult {
    todo!()
}

pub async fn delete_vm(_state: &ApiState, _request: &ArmRequest, _path: &VmPath) -> ArmResult {
    todo!()
}

pub async fn list_extensions(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VmPath,
) -> ArmResult {
    todo!()
}

pub async fn get_extension(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &VmPath,
    _extension: &str,
) -> ArmResult {
    todo!()
}
