//! STUB: to be written.

#![allow(unused_imports)]

use super::route::{ContainerPath, GroupPath, ItemPath, VaultPath, VmPath};
use super::{ArmRequest, ArmResult};
use crate::api::ApiState;

pub async fn list_tenants(_state: &ApiState, _request: &ArmRequest) -> ArmResult {
    todo!()
}

pub async fn list_subscriptions(_state: &ApiState, _request: &ArmRequest) -> ArmResult {
    todo!()
}

pub async fn get_subscription(
    _state: &ApiState,
    _request: &ArmRequest,
    _subscription: &str,
) -> ArmResult {
    todo!()
}

pub fn metadata_endpoints(_base_url: &str) -> ArmResult {
    todo!()
}
