//! Microsoft.Network over ARM: virtual networks and their subnets, network security groups,
//! public IP addresses and network interfaces, each with create-or-update, get, delete and
//! the lists, in the shapes azure-mgmt-network, Terraform and ARM templates read. Writes are
//! synchronous: a PUT answers with `provisioningState: Succeeded` and no async header, a
//! DELETE with 200 (204 when there was nothing). Bodies keep members the service does not
//! model, as given; read-only members a client sends back from a GET are ignored.
//!
//! Split by resource type, each module with its wire types and handlers. This one holds what
//! they share (the `{"id"}` reference, a PUT's envelope, the write and delete statuses),
//! re-exports the handlers the route table calls and the wire types, and lists them all for
//! the OpenAPI document.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ErrorResponse;
use super::{json_response, ArmResult};
use crate::resources::groups::Upserted;
use crate::resources::lookup::Tags;
use crate::resources::network::{Deletion, EnvelopeSpec};

mod interfaces;
mod public_ips;
mod security_groups;
mod subnets;
mod virtual_networks;

pub use interfaces::{
    delete_network_interface, get_network_interface, list_network_interfaces,
    list_network_interfaces_in_subscription, put_network_interface, IpConfigurationBody,
    IpConfigurationProperties, IpConfigurationPut, IpConfigurationPutProperties,
    NetworkInterfaceBody, NetworkInterfaceList, NetworkInterfaceProperties, NetworkInterfacePut,
    NetworkInterfacePutProperties,
};
pub use public_ips::{
    delete_public_ip_address, get_public_ip_address, list_public_ip_addresses,
    list_public_ip_addresses_in_subscription, put_public_ip_address, PublicIpAddressBody,
    PublicIpAddressList, PublicIpAddressProperties, PublicIpAddressPut,
    PublicIpAddressPutProperties, PublicIpSkuBody, PublicIpSkuPut,
};
pub use security_groups::{
    delete_security_group, get_security_group, list_security_groups,
    list_security_groups_in_subscription, put_security_group, NetworkSecurityGroupBody,
    NetworkSecurityGroupList, NetworkSecurityGroupProperties, NetworkSecurityGroupPut,
    NetworkSecurityGroupPutProperties, SecurityRuleBody, SecurityRuleProperties, SecurityRulePut,
    SecurityRulePutProperties,
};
pub use subnets::{
    delete_subnet, get_subnet, list_subnets, put_subnet, SubnetBody, SubnetList, SubnetProperties,
    SubnetPut, SubnetPutProperties,
};
pub use virtual_networks::{
    delete_virtual_network, get_virtual_network, list_virtual_networks,
    list_virtual_networks_in_subscription, put_virtual_network, AddressSpace, VirtualNetworkBody,
    VirtualNetworkList, VirtualNetworkProperties, VirtualNetworkPut, VirtualNetworkPutProperties,
};

/// What every network resource shows while it exists: writes complete before they answer.
const SUCCEEDED: &str = "Succeeded";

// ---- shared members ----

/// `{"id"}`: how one network resource names another.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SubResource {
    pub id: String,
}

impl SubResource {
    fn of(id: String) -> Self {
        Self { id }
    }
}

// ---- shared conversions ----

fn envelope(
    location: Option<String>,
    tags: Option<Tags>,
    extra: Map<String, Value>,
) -> EnvelopeSpec {
    EnvelopeSpec {
        location,
        tags: tags.unwrap_or_default(),
        extra,
    }
}

fn written(upserted: Upserted) -> StatusCode {
    match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated => StatusCode::OK,
    }
}

/// 200 for a deleted resource, 204 when there was none, as the network provider answers.
fn deleted(deletion: Deletion) -> Response {
    match deletion {
        Deletion::Deleted => StatusCode::OK.into_response(),
        Deletion::Absent => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A 200 with `body`.
fn ok(body: &impl Serialize) -> ArmResult {
    Ok(json_response(StatusCode::OK, body))
}

/// The Microsoft.Network operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        virtual_networks::list_virtual_networks_in_subscription,
        virtual_networks::list_virtual_networks,
        virtual_networks::put_virtual_network,
        virtual_networks::get_virtual_network,
        virtual_networks::delete_virtual_network,
        subnets::list_subnets,
        subnets::put_subnet,
        subnets::get_subnet,
        subnets::delete_subnet,
        security_groups::list_security_groups_in_subscription,
        security_groups::list_security_groups,
        security_groups::put_security_group,
        security_groups::get_security_group,
        security_groups::delete_security_group,
        public_ips::list_public_ip_addresses_in_subscription,
        public_ips::list_public_ip_addresses,
        public_ips::put_public_ip_address,
        public_ips::get_public_ip_address,
        public_ips::delete_public_ip_address,
        interfaces::list_network_interfaces_in_subscription,
        interfaces::list_network_interfaces,
        interfaces::put_network_interface,
        interfaces::get_network_interface,
        interfaces::delete_network_interface
    ),
    components(schemas(
        SubResource,
        AddressSpace,
        VirtualNetworkPut,
        VirtualNetworkPutProperties,
        SubnetPut,
        SubnetPutProperties,
        VirtualNetworkBody,
        VirtualNetworkProperties,
        SubnetBody,
        SubnetProperties,
        VirtualNetworkList,
        SubnetList,
        NetworkSecurityGroupPut,
        NetworkSecurityGroupPutProperties,
        SecurityRulePut,
        SecurityRulePutProperties,
        NetworkSecurityGroupBody,
        NetworkSecurityGroupProperties,
        SecurityRuleBody,
        SecurityRuleProperties,
        NetworkSecurityGroupList,
        PublicIpAddressPut,
        PublicIpSkuPut,
        PublicIpAddressPutProperties,
        PublicIpAddressBody,
        PublicIpSkuBody,
        PublicIpAddressProperties,
        PublicIpAddressList,
        NetworkInterfacePut,
        NetworkInterfacePutProperties,
        IpConfigurationPut,
        IpConfigurationPutProperties,
        NetworkInterfaceBody,
        NetworkInterfaceProperties,
        IpConfigurationBody,
        IpConfigurationProperties,
        NetworkInterfaceList,
        ErrorResponse
    ))
)]
pub struct NetworkApi;

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use utoipa::OpenApi;

    use super::super::route;
    use super::*;

    #[test]
    fn the_openapi_document_names_the_served_network_routes() {
        let doc = NetworkApi::openapi();
        let mut ids = Vec::new();
        for (path, item) in &doc.paths.paths {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for (method, operation) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let id = operation.operation_id.clone().unwrap_or_default();
                let served = route::parse(&method, &concrete).expect("a served route");
                assert_eq!(served.operation_id(), id, "{method} {path}");
                ids.push(id);
            }
        }
        ids.sort();
        let mut expected = Vec::new();
        for family in [
            "NetworkInterfaces",
            "NetworkSecurityGroups",
            "PublicIPAddresses",
            "Subnets",
            "VirtualNetworks",
        ] {
            for operation in ["CreateOrUpdate", "Delete", "Get", "List", "ListAll"] {
                if family != "Subnets" || operation != "ListAll" {
                    expected.push(format!("{family}_{operation}"));
                }
            }
        }
        assert_eq!(ids, expected);
    }
}
