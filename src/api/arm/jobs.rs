//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_jobs(_state: &ApiState, _request: &ArmRequest, _path: &VaultPath) -> ArmResult {
    todo!()
}

pub async fn get_job(
    _state: &ApiState,
    _request: &ArmRequest,
    _vault: &VaultPath,
    _job: &str,
) -> ArmResult {
    todo!()
}

pub async fn list_recovery_points(
    _state: &ApiState,
    _request: &ArmRequest,
    _path: &ItemPath,
) -> ArmResult {
    todo!()
}

pub async fn get_recovery_point(
    _state: &ApiState,
    _request: &ArmRequest,
    _item: &ItemPath,
    _recovery_point: &str,
) -> ArmResult {
    todo!()
}
