//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_groups(
    _state: &ApiState,
    _request: &ArmRequest,
    _subscription: &str,
) -> ArmResult {
    todo!()
}

pub async fn put_group(_state: &ApiState, _request: &ArmRequest, _path: &GroupPath) -> ArmResult {
    todo!()
}

pub async fn get_group(_state: &ApiState, _request: &ArmRequest, _path: &GroupPath) -> ArmResult {
    todo!()
}
