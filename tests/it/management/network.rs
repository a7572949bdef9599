//! Microsoft.Network resources: virtual networks and subnets, network security groups,
//! public IP addresses and NICs, as `az vm create` and ARM templates create them; the
//! addresses handed out, the references checked, and the deletions refused while in use.

use std::collections::HashSet;
use std::fmt;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};

use crate::management::app::{ArmResponse, ManagementApp};

impl ManagementApp {
    /// `.../providers/Microsoft.Network/{collection}[/{name}]` in `group`.
    pub fn network_path(&self, group: &str, collection: &str, name: Option<&str>) -> String {
        let path = format!(
            "{}/providers/Microsoft.Network/{collection}",
            self.group_path(group)
        );
        match name {
            Some(name) => format!("{path}/{name}"),
            None => path,
        }
    }

    fn subscription_network_path(&self, collection: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/{collection}",
            self.subscription_path()
        )
    }

    pub fn subnet_path(&self, group: &str, network: &str, subnet: Option<&str>) -> String {
        let path = format!(
            "{}/subnets",
            self.network_path(group, "virtualNetworks", Some(network))
        );
        match subnet {
            Some(subnet) => format!("{path}/{subnet}"),
            None => path,
        }
    }

    pub async fn put_virtual_network(&self, group: &str, name: &str, body: Value) -> ArmResponse {
        self.put(
            &self.network_path(group, "virtualNetworks", Some(name)),
            body,
        )
        .await
    }

    pub async fn get_virtual_network(&self, group: &str, name: &str) -> ArmResponse {
        self.get(&self.network_path(group, "virtualNetworks", Some(name)))
            .await
    }

    pub async fn delete_virtual_network(&self, group: &str, name: &str) -> ArmResponse {
        self.delete(&self.network_path(group, "virtualNetworks", Some(name)))
            .await
    }

    pub async fn list_virtual_networks(&self, group: &str) -> ArmResponse {
        self.get(&self.network_path(group, "virtualNetworks", None))
            .await
    }

    pub async fn list_virtual_networks_in_subscription(&self) -> ArmResponse {
        self.get(&self.subscription_network_path("virtualNetworks"))
            .await
    }

    pub async fn put_subnet(
        &self,
        group: &str,
        network: &str,
        name: &str,
        body: Value,
    ) -> ArmResponse {
        self.put(&self.subnet_path(group, network, Some(name)), body)
            .await
    }

    pub async fn get_subnet(&self, group: &str, network: &str, name: &str) -> ArmResponse {
        self.get(&self.subnet_path(group, network, Some(name)))
            .await
    }

    pub async fn delete_subnet(&self, group: &str, network: &str, name: &str) -> ArmResponse {
        self.delete(&self.subnet_path(group, network, Some(name)))
            .await
    }

    pub async fn list_subnets(&self, group: &str, network: &str) -> ArmResponse {
        self.get(&self.subnet_path(group, network, None)).await
    }

    pub async fn put_security_group(&self, group: &str, name: &str, body: Value) -> ArmResponse {
        self.put(
            &self.network_path(group, "networkSecurityGroups", Some(name)),
            body,
        )
        .await
    }

    pub async fn get_security_group(&self, group: &str, name: &str) -> ArmResponse {
        self.get(&self.network_path(group, "networkSecurityGroups", Some(name)))
            .await
    }

    pub async fn delete_security_group(&self, group: &str, name: &str) -> ArmResponse {
        self.delete(&self.network_path(group, "networkSecurityGroups", Some(name)))
            .await
    }

    pub async fn list_security_groups(&self, group: &str) -> ArmResponse {
        self.get(&self.network_path(group, "networkSecurityGroups", None))
            .await
    }

    pub async fn list_security_groups_in_subscription(&self) -> ArmResponse {
        self.get(&self.subscription_network_path("networkSecurityGroups"))
            .await
    }

    pub async fn put_public_ip_address(&self, group: &str, name: &str, body: Value) -> ArmResponse {
        self.put(
            &self.network_path(group, "publicIPAddresses", Some(name)),
            body,
        )
        .await
    }

    pub async fn get_public_ip_address(&self, group: &str, name: &str) -> ArmResponse {
        self.get(&self.network_path(group, "publicIPAddresses", Some(name)))
            .await
    }

    pub async fn delete_public_ip_address(&self, group: &str, name: &str) -> ArmResponse {
        self.delete(&self.network_path(group, "publicIPAddresses", Some(name)))
            .await
    }

    pub async fn list_public_ip_addresses(&self, group: &str) -> ArmResponse {
        self.get(&self.network_path(group, "publicIPAddresses", None))
            .await
    }

    pub async fn list_public_ip_addresses_in_subscription(&self) -> ArmResponse {
        self.get(&self.subscription_network_path("publicIPAddresses"))
            .await
    }

    pub async fn put_network_interface(&self, group: &str, name: &str, body: Value) -> ArmResponse {
        self.put(
            &self.network_path(group, "networkInterfaces", Some(name)),
            body,
        )
        .await
    }

    pub async fn get_network_interface(&self, group: &str, name: &str) -> ArmResponse {
        self.get(&self.network_path(group, "networkInterfaces", Some(name)))
            .await
    }

    pub async fn delete_network_interface(&self, group: &str, name: &str) -> ArmResponse {
        self.delete(&self.network_path(group, "networkInterfaces", Some(name)))
            .await
    }

    pub async fn list_network_interfaces(&self, group: &str) -> ArmResponse {
        self.get(&self.network_path(group, "networkInterfaces", None))
            .await
    }

    pub async fn list_network_interfaces_in_subscription(&self) -> ArmResponse {
        self.get(&self.subscription_network_path("networkInterfaces"))
            .await
    }

    /// A GET's body as text, for checks the parsed body cannot make.
    async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(&format!("{path}?api-version=2024-05-01")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// A virtual network as `az network vnet create` PUTs it.
fn network_body(space: &[&str], subnets: &[(&str, &str)]) -> Value {
    json!({
        "location": "West Europe",
        "properties": {
            "addressSpace": {"addressPrefixes": space},
            "subnets": subnets
                .iter()
                .map(|(name, prefix)| {
                    json!({"name": name, "properties": {"addressPrefix": prefix}})
                })
                .collect::<Vec<_>>()
        }
    })
}

/// A NIC with one dynamic IP configuration in `subnet_id`, as `az network nic create` PUTs it.
fn nic_body(subnet_id: &str) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {"privateIPAllocationMethod": "Dynamic", "subnet": {"id": subnet_id}}
            }]
        }
    })
}

fn static_nic_body(subnet_id: &str, address: &str) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {
                    "privateIPAllocationMethod": "Static",
                    "privateIPAddress": address,
                    "subnet": {"id": subnet_id}
                }
            }]
        }
    })
}

fn names(list: &ArmResponse) -> Vec<&str> {
    list.body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

fn private_ip(nic: &ArmResponse) -> &str {
    nic.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no private IP address: {nic:?}"))
}

fn assert_refused(response: &ArmResponse, code: &str) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert_eq!(response.error_code(), code, "{response:?}");
}

/// A group with a virtual network `vnet` (10.0.0.0/16) and its subnet `default`
/// (10.0.0.0/24); answers the subnet's id.
async fn create_network(app: &ManagementApp, group: &str) -> String {
    let created = app.put_group(group, "westeurope").await;
    assert!(created.status.is_success(), "{created:?}");
    let network = app
        .put_virtual_network(
            group,
            "vnet",
            network_body(&["10.0.0.0/16"], &[("default", "10.0.0.0/24")]),
        )
        .await;
    assert_eq!(network.status, StatusCode::CREATED, "{network:?}");
    network.body["properties"]["subnets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_virtual_network_shows_its_subnets_with_their_ids(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let created = app
        .put_virtual_network(
            "rg",
            "Vnet1",
            network_body(&["10.0.0.0/16"], &[("default", "10.0.0.0/24")]),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.header("azure-asyncoperation"), "");
    let id = format!(
        "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/Vnet1",
        app.credentials.subscription_id
    );
    let body = &created.body;
    assert_eq!(body["id"], id);
    assert_eq!(body["name"], "Vnet1");
    assert_eq!(body["type"], "Microsoft.Network/virtualNetworks");
    assert_eq!(body["location"], "westeurope");
    let etag = body["etag"].as_str().unwrap();
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
    let properties = &body["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert!(uuid::Uuid::parse_str(properties["resourceGuid"].as_str().unwrap()).is_ok());
    assert_eq!(
        properties["addressSpace"]["addressPrefixes"],
        json!(["10.0.0.0/16"])
    );
    let subnet = &properties["subnets"][0];
    assert_eq!(subnet["id"], format!("{id}/subnets/default"));
    assert_eq!(subnet["name"], "default");
    assert_eq!(subnet["type"], "Microsoft.Network/virtualNetworks/subnets");
    assert_eq!(subnet["etag"], etag);
    assert_eq!(subnet["properties"]["addressPrefix"], "10.0.0.0/24");
    assert_eq!(subnet["properties"]["provisioningState"], "Succeeded");

    let read = app.get_virtual_network("RG", "vnet1").await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    assert_eq!(read.body, created.body);

    let updated = app
        .put_virtual_network(
            "rg",
            "vnet1",
            network_body(&["10.0.0.0/16"], &[("default", "10.0.0.0/24")]),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.body["id"], id, "the name as created");
    assert_eq!(
        updated.body["properties"]["resourceGuid"],
        properties["resourceGuid"]
    );
    assert_ne!(updated.body["etag"], body["etag"]);

    let missing = app.get_virtual_network("rg", "nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceNotFound");
    let no_group = app.get_virtual_network("nope", "vnet1").await;
    assert_eq!(no_group.error_code(), "ResourceGroupNotFound");
    let unlocated = app
        .put_virtual_network(
            "rg",
            "v2",
            json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
        )
        .await;
    assert_refused(&unlocated, "LocationRequired");
}

async fn subnets_are_written_alone_and_their_network_shows_them(app: ManagementApp) {
    create_network(&app, "rg").await;
    let before = app.get_virtual_network("rg", "vnet").await;
    let created = app
        .put_subnet(
            "rg",
            "vnet",
            "second",
            json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        created.body["id"],
        format!("{}/subnets/second", before.body["id"].as_str().unwrap())
    );
    let read = app.get_subnet("rg", "vnet", "SECOND").await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    assert_eq!(read.body, created.body);
    assert_eq!(
        names(&app.list_subnets("rg", "vnet").await),
        ["default", "second"]
    );
    let network = app.get_virtual_network("rg", "vnet").await;
    let subnets = network.body["properties"]["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 2);
    assert_ne!(
        network.body["etag"], before.body["etag"],
        "a subnet write is the network's"
    );
    assert_eq!(subnets[1]["etag"], network.body["etag"]);

    let updated = app
        .put_subnet(
            "rg",
            "vnet",
            "second",
            json!({"name": "second",
                   "properties": {"addressPrefixes": ["10.0.1.0/25", "10.0.2.0/24"]}}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(
        updated.body["properties"]["addressPrefixes"],
        json!(["10.0.1.0/25", "10.0.2.0/24"])
    );
    assert!(updated.body["properties"].get("addressPrefix").is_none());

    for (prefix, code) in [
        ("10.1.0.0/24", "NetcfgSubnetRangeOutsideVnet"),
        ("10.0.0.128/25", "NetcfgSubnetRangesOverlap"),
        ("10.0.3.0", "InvalidAddressPrefixFormat"),
        ("10.0.3.7/24", "InvalidCIDRNotation"),
        ("10.0.3.0/30", "NetcfgInvalidSubnet"),
        ("", "AddressPrefixStringCannotBeNullOrEmpty"),
    ] {
        let refused = app
            .put_subnet(
                "rg",
                "vnet",
                "third",
                json!({"properties": {"addressPrefix": prefix}}),
            )
            .await;
        assert_refused(&refused, code);
    }
    assert_eq!(
        app.get_subnet("rg", "vnet", "third").await.error_code(),
        "NotFound"
    );
    let orphan = app
        .put_subnet(
            "rg",
            "nope",
            "third",
            json!({"properties": {"addressPrefix": "10.0.3.0/24"}}),
        )
        .await;
    assert_eq!(orphan.status, StatusCode::NOT_FOUND, "{orphan:?}");
    assert_eq!(orphan.error_code(), "ResourceNotFound");

    // A network PUT without a subnet deletes it, as ARM's PUT replaces the whole network.
    let replaced = app
        .put_virtual_network(
            "rg",
            "vnet",
            network_body(&["10.0.0.0/16"], &[("default", "10.0.0.0/24")]),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
    assert_eq!(
        app.get_subnet("rg", "vnet", "second").await.status,
        StatusCode::NOT_FOUND
    );
    let overlapping = app
        .put_virtual_network(
            "rg",
            "vnet",
            network_body(
                &["10.0.0.0/16"],
                &[("a", "10.0.0.0/24"), ("b", "10.0.0.0/25")],
            ),
        )
        .await;
    assert_refused(&overlapping, "NetcfgSubnetRangesOverlap");
    let deleted = app.delete_subnet("rg", "vnet", "default").await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    assert_eq!(
        app.delete_subnet("rg", "vnet", "default").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        names(&app.list_subnets("rg", "vnet").await),
        Vec::<&str>::new()
    );
}

async fn nics_get_the_first_free_hosts_and_in_use_subnets_stay(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let first = app
        .put_network_interface("rg", "nic1", nic_body(&subnet_id))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(private_ip(&first), "10.0.0.4");
    let configuration = &first.body["properties"]["ipConfigurations"][0];
    assert_eq!(
        configuration["id"],
        format!(
            "{}/ipConfigurations/ipconfig1",
            first.body["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        configuration["properties"]["subnet"]["id"],
        subnet_id.as_str()
    );
    assert_eq!(configuration["properties"]["primary"], true);
    assert_eq!(
        configuration["properties"]["privateIPAllocationMethod"],
        "Dynamic"
    );
    let second = app
        .put_network_interface("rg", "nic2", nic_body(&subnet_id))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_eq!(private_ip(&second), "10.0.0.5");

    let subnet = app.get_subnet("rg", "vnet", "default").await;
    let users: Vec<&str> = subnet.body["properties"]["ipConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 2, "{subnet:?}");
    assert!(users[0].ends_with("/networkInterfaces/nic1/ipConfigurations/ipconfig1"));

    assert_refused(
        &app.delete_subnet("rg", "vnet", "default").await,
        "InUseSubnetCannotBeDeleted",
    );
    assert_refused(
        &app.delete_virtual_network("rg", "vnet").await,
        "InUseSubnetCannotBeDeleted",
    );
    assert_refused(
        &app.put_virtual_network("rg", "vnet", network_body(&["10.0.0.0/16"], &[]))
            .await,
        "InUseSubnetCannotBeDeleted",
    );
    assert_refused(
        &app.put_subnet(
            "rg",
            "vnet",
            "default",
            json!({"properties": {"addressPrefix": "10.0.0.0/25"}}),
        )
        .await,
        "InUseSubnetCannotBeUpdated",
    );

    // A NIC written again keeps its address; a deleted one's is handed out again.
    let again = app
        .put_network_interface("rg", "nic1", first.body.clone())
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(private_ip(&again), "10.0.0.4");
    assert_eq!(
        app.delete_network_interface("rg", "nic1").await.status,
        StatusCode::OK
    );
    let third = app
        .put_network_interface("rg", "nic3", nic_body(&subnet_id))
        .await;
    assert_eq!(private_ip(&third), "10.0.0.4");

    let fixed = app
        .put_network_interface("rg", "fixed", static_nic_body(&subnet_id, "10.0.0.10"))
        .await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{fixed:?}");
    assert_eq!(private_ip(&fixed), "10.0.0.10");
    for (address, code) in [
        ("10.0.0.10", "PrivateIPAddressIsAllocated"),
        ("10.0.0.5", "PrivateIPAddressIsAllocated"),
        ("10.0.0.2", "PrivateIPAddressInReservedRange"),
        ("10.0.0.255", "PrivateIPAddressInReservedRange"),
        ("10.0.1.5", "PrivateIPAddressNotInSubnet"),
    ] {
        let refused = app
            .put_network_interface("rg", "other", static_nic_body(&subnet_id, address))
            .await;
        assert_refused(&refused, code);
    }
    let missing_subnet = format!(
        "{}/subnets/nope",
        subnet_id.rsplit_once("/subnets/").unwrap().0
    );
    assert_refused(
        &app.put_network_interface("rg", "other", nic_body(&missing_subnet))
            .await,
        "InvalidResourceReference",
    );
    assert_refused(
        &app.put_network_interface("rg", "other", nic_body("default"))
            .await,
        "LinkedInvalidPropertyId",
    );
    let elsewhere = json!({"location": "eastus", "properties": nic_body(&subnet_id)["properties"]});
    assert_refused(
        &app.put_network_interface("rg", "other", elsewhere).await,
        "InvalidResourceReference",
    );
    assert_refused(
        &app.put_network_interface(
            "rg",
            "other",
            json!({"location": "westeurope", "properties": {"ipConfigurations": []}}),
        )
        .await,
        "InvalidIPConfigCount",
    );
    assert_eq!(
        app.get_network_interface("rg", "other").await.status,
        StatusCode::NOT_FOUND,
        "nothing refused was created"
    );
}

async fn a_slash_29_subnet_holds_three_nics(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let network = app
        .put_virtual_network(
            "rg",
            "vnet",
            network_body(&["10.0.0.0/16"], &[("tiny", "10.0.0.8/29")]),
        )
        .await;
    let subnet_id = network.body["properties"]["subnets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut addresses = Vec::new();
    for nic in ["a", "b", "c"] {
        let created = app
            .put_network_interface("rg", nic, nic_body(&subnet_id))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        addresses.push(private_ip(&created).to_owned());
    }
    assert_eq!(addresses, ["10.0.0.12", "10.0.0.13", "10.0.0.14"]);
    assert_refused(
        &app.put_network_interface("rg", "d", nic_body(&subnet_id))
            .await,
        "SubnetIsFull",
    );
}

/// NICs and public IPs created at once each get an address of their own: the writes of a
/// subscription's network take turns, and an address is claimed by its primary key.
async fn addresses_created_at_once_are_distinct(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let names: Vec<String> = (0..8).map(|i| format!("nic{i}")).collect();
    let nics = join_all(
        names
            .iter()
            .map(|name| app.put_network_interface("rg", name, nic_body(&subnet_id))),
    )
    .await;
    let mut addresses: Vec<String> = nics
        .iter()
        .map(|nic| {
            assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
            private_ip(nic).to_owned()
        })
        .collect();
    addresses.sort_by_key(|a| a.parse::<std::net::Ipv4Addr>().unwrap());
    let expected: Vec<String> = (4..12).map(|host| format!("10.0.0.{host}")).collect();
    assert_eq!(addresses, expected);
    let ips = join_all(names.iter().map(|name| {
        app.put_public_ip_address(
            "rg",
            name,
            json!({"location": "westeurope", "sku": {"name": "Standard"}}),
        )
    }))
    .await;
    let distinct: HashSet<&str> = ips
        .iter()
        .map(|ip| ip.body["properties"]["ipAddress"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), names.len(), "{ips:?}");
}

async fn static_public_ips_get_stable_addresses_and_stay_while_used(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let standard = json!({
        "location": "westeurope",
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}
    });
    let first = app
        .put_public_ip_address("rg", "ip1", standard.clone())
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(first.body["type"], "Microsoft.Network/publicIPAddresses");
    assert_eq!(
        first.body["sku"],
        json!({"name": "Standard", "tier": "Regional"})
    );
    assert_eq!(first.body["properties"]["ipAddress"], "192.0.2.1");
    assert_eq!(
        first.body["properties"]["publicIPAllocationMethod"],
        "Static"
    );
    let second = app
        .put_public_ip_address("rg", "ip2", standard.clone())
        .await;
    assert_eq!(second.body["properties"]["ipAddress"], "192.0.2.2");
    let again = app
        .put_public_ip_address("rg", "ip1", first.body.clone())
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["properties"]["ipAddress"], "192.0.2.1");
    assert_eq!(
        app.get_public_ip_address("rg", "ip1").await.body["properties"]["ipAddress"],
        "192.0.2.1"
    );
    let dynamic = app
        .put_public_ip_address("rg", "ip3", json!({"location": "westeurope"}))
        .await;
    assert_eq!(dynamic.status, StatusCode::CREATED, "{dynamic:?}");
    assert_eq!(dynamic.body["sku"]["name"], "Basic");
    assert_eq!(
        dynamic.body["properties"]["publicIPAllocationMethod"],
        "Dynamic"
    );
    assert!(dynamic.body["properties"].get("ipAddress").is_none());
    assert_refused(
        &app.put_public_ip_address(
            "rg",
            "ip4",
            json!({"location": "westeurope", "sku": {"name": "Standard"},
                   "properties": {"publicIPAllocationMethod": "Dynamic"}}),
        )
        .await,
        "StandardSkuPublicIPAddressesMustBeStatic",
    );

    let mut body = nic_body(&subnet_id);
    body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] =
        json!({"id": first.body["id"]});
    let nic = app.put_network_interface("rg", "nic", body.clone()).await;
    assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
    let configuration = &nic.body["properties"]["ipConfigurations"][0];
    assert_eq!(
        configuration["properties"]["publicIPAddress"]["id"],
        first.body["id"]
    );
    let used = app.get_public_ip_address("rg", "ip1").await;
    assert_eq!(
        used.body["properties"]["ipConfiguration"]["id"],
        configuration["id"]
    );
    assert_refused(
        &app.delete_public_ip_address("rg", "ip1").await,
        "PublicIPAddressCannotBeDeleted",
    );
    assert_refused(
        &app.put_network_interface("rg", "nic2", body).await,
        "PublicIPAddressInUse",
    );
    assert_eq!(
        app.delete_network_interface("rg", "nic").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete_public_ip_address("rg", "ip1").await.status,
        StatusCode::OK
    );
    let reused = app.put_public_ip_address("rg", "ip5", standard).await;
    assert_eq!(reused.body["properties"]["ipAddress"], "192.0.2.1");
}

async fn security_groups_have_azures_default_rules_and_stay_while_used(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let created = app
        .put_security_group(
            "rg",
            "nsg",
            json!({
                "location": "westeurope",
                "properties": {"securityRules": [{
                    "name": "default-allow-ssh",
                    "properties": {
                        "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                        "access": "Allow", "priority": 1000, "direction": "Inbound"
                    }
                }]}
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_str().unwrap();
    let rule = &created.body["properties"]["securityRules"][0];
    assert_eq!(rule["id"], format!("{id}/securityRules/default-allow-ssh"));
    assert_eq!(
        rule["type"],
        "Microsoft.Network/networkSecurityGroups/securityRules"
    );
    assert_eq!(rule["properties"]["destinationPortRange"], "22");
    assert_eq!(rule["properties"]["priority"], 1000);
    let defaults: Vec<(&str, u64, &str, &str)> = created.body["properties"]["defaultSecurityRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let p = &r["properties"];
            (
                r["name"].as_str().unwrap(),
                p["priority"].as_u64().unwrap(),
                p["direction"].as_str().unwrap(),
                p["access"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        defaults,
        [
            ("AllowVnetInBound", 65000, "Inbound", "Allow"),
            ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow"),
            ("DenyAllInBound", 65500, "Inbound", "Deny"),
            ("AllowVnetOutBound", 65000, "Outbound", "Allow"),
            ("AllowInternetOutBound", 65001, "Outbound", "Allow"),
            ("DenyAllOutBound", 65500, "Outbound", "Deny"),
        ]
    );
    assert_eq!(
        created.body["properties"]["defaultSecurityRules"][0]["id"],
        format!("{id}/defaultSecurityRules/AllowVnetInBound")
    );

    let mut body = nic_body(&subnet_id);
    body["properties"]["networkSecurityGroup"] = json!({"id": id});
    let nic = app.put_network_interface("rg", "nic", body).await;
    assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
    assert_eq!(nic.body["properties"]["networkSecurityGroup"]["id"], id);
    let used = app.get_security_group("rg", "nsg").await;
    assert_eq!(
        used.body["properties"]["networkInterfaces"],
        json!([{"id": nic.body["id"]}])
    );
    assert_refused(
        &app.delete_security_group("rg", "nsg").await,
        "InUseNetworkSecurityGroupCannotBeDeleted",
    );
    let guarded = app
        .put_subnet(
            "rg",
            "vnet",
            "guarded",
            json!({"properties": {"addressPrefix": "10.0.1.0/24",
                                  "networkSecurityGroup": {"id": id}}}),
        )
        .await;
    assert_eq!(guarded.status, StatusCode::CREATED, "{guarded:?}");
    assert_eq!(guarded.body["properties"]["networkSecurityGroup"]["id"], id);
    let used = app.get_security_group("rg", "nsg").await;
    assert_eq!(
        used.body["properties"]["subnets"],
        json!([{"id": guarded.body["id"]}])
    );

    let rule = |priority: u64, direction: &str| {
        json!({"name": format!("r{priority}{direction}"), "properties": {
            "protocol": "*", "access": "Deny", "priority": priority, "direction": direction}})
    };
    for (rules, code) in [
        (
            json!([rule(4097, "Inbound")]),
            "SecurityRuleInvalidPriority",
        ),
        (json!([rule(99, "Outbound")]), "SecurityRuleInvalidPriority"),
        (
            json!([rule(200, "Inbound"), {"name": "clash", "properties": {
                "protocol": "Tcp", "access": "Allow", "priority": 200, "direction": "Inbound"}}]),
            "SecurityRuleConflict",
        ),
    ] {
        let refused = app
            .put_security_group(
                "rg",
                "other",
                json!({"location": "westeurope", "properties": {"securityRules": rules}}),
            )
            .await;
        assert_refused(&refused, code);
    }
}

async fn lists_cover_a_group_and_the_subscription(app: ManagementApp) {
    let one = create_network(&app, "rg-one").await;
    let two = create_network(&app, "rg-two").await;
    for (group, subnet) in [("rg-one", &one), ("rg-two", &two)] {
        let nsg = app
            .put_security_group(group, "nsg", json!({"location": "westeurope"}))
            .await;
        assert_eq!(nsg.status, StatusCode::CREATED, "{nsg:?}");
        let ip = app
            .put_public_ip_address(
                group,
                "ip",
                json!({"location": "westeurope", "sku": {"name": "Standard"}}),
            )
            .await;
        assert_eq!(ip.status, StatusCode::CREATED, "{ip:?}");
        let nic = app
            .put_network_interface(group, "nic", nic_body(subnet))
            .await;
        assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
    }
    let ids = |list: &ArmResponse| -> Vec<String> {
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (in_group, in_subscription, collection) in [
        (
            app.list_virtual_networks("RG-ONE").await,
            app.list_virtual_networks_in_subscription().await,
            "virtualNetworks/vnet",
        ),
        (
            app.list_security_groups("RG-ONE").await,
            app.list_security_groups_in_subscription().await,
            "networkSecurityGroups/nsg",
        ),
        (
            app.list_public_ip_addresses("RG-ONE").await,
            app.list_public_ip_addresses_in_subscription().await,
            "publicIPAddresses/ip",
        ),
        (
            app.list_network_interfaces("RG-ONE").await,
            app.list_network_interfaces_in_subscription().await,
            "networkInterfaces/nic",
        ),
    ] {
        assert_eq!(in_group.status, StatusCode::OK, "{in_group:?}");
        assert_eq!(
            ids(&in_group),
            [format!(
                "{}/providers/Microsoft.Network/{collection}",
                app.group_path("rg-one")
            )]
        );
        assert_eq!(
            ids(&in_subscription),
            [
                format!(
                    "{}/providers/Microsoft.Network/{collection}",
                    app.group_path("rg-one")
                ),
                format!(
                    "{}/providers/Microsoft.Network/{collection}",
                    app.group_path("rg-two")
                ),
            ]
        );
    }
    // Lists show what a GET shows, users included.
    let networks = app.list_virtual_networks("rg-one").await;
    let subnet = &networks.body["value"][0]["properties"]["subnets"][0];
    assert_eq!(
        subnet["properties"]["ipConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let missing = app.list_network_interfaces("nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "ResourceGroupNotFound");
}

async fn a_get_put_back_is_an_update_that_keeps_what_was_given(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let network_path = app.network_path("rg", "virtualNetworks", Some("vnet"));
    let with_extras = json!({
        "location": "westeurope",
        "tags": {"env": "test"},
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "default", "properties": {
                "addressPrefix": "10.0.0.0/24",
                "serviceEndpoints": [{"service": "Microsoft.Storage"}]
            }}],
            "flowTimeoutInMinutes": 10,
            "enableVmProtection": true
        }
    });
    let network = app.put_virtual_network("rg", "vnet", with_extras).await;
    assert_eq!(network.status, StatusCode::OK, "{network:?}");
    assert_eq!(network.body["tags"], json!({"env": "test"}));
    assert_eq!(network.body["properties"]["flowTimeoutInMinutes"], 10);
    assert_eq!(network.body["properties"]["enableVmProtection"], true);
    assert_eq!(
        network.body["properties"]["subnets"][0]["properties"]["serviceEndpoints"],
        json!([{"service": "Microsoft.Storage"}])
    );
    let ip = app
        .put_public_ip_address(
            "rg",
            "ip",
            json!({"location": "westeurope", "sku": {"name": "Standard"}, "zones": ["1"],
                   "properties": {"idleTimeoutInMinutes": 10,
                                  "dnsSettings": {"domainNameLabel": "vm1"}}}),
        )
        .await;
    assert_eq!(ip.body["zones"], json!(["1"]));
    assert_eq!(ip.body["properties"]["idleTimeoutInMinutes"], 10);
    let nsg = app
        .put_security_group("rg", "nsg", json!({"location": "westeurope"}))
        .await;
    let mut body = nic_body(&subnet_id);
    body["properties"]["enableAcceleratedNetworking"] = json!(true);
    body["properties"]["networkSecurityGroup"] = json!({"id": nsg.body["id"]});
    body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] =
        json!({"id": ip.body["id"]});
    let nic = app.put_network_interface("rg", "nic", body).await;
    assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
    assert_eq!(nic.body["properties"]["enableAcceleratedNetworking"], true);

    let paths = [
        network_path,
        app.subnet_path("rg", "vnet", Some("default")),
        app.network_path("rg", "publicIPAddresses", Some("ip")),
        app.network_path("rg", "networkSecurityGroups", Some("nsg")),
        app.network_path("rg", "networkInterfaces", Some("nic")),
    ];
    for path in &paths {
        let before = app.get(path).await;
        assert_eq!(before.status, StatusCode::OK, "{before:?}");
        assert_no_duplicate_keys(&app.get_text(path).await);
        let written = app.put(path, before.body.clone()).await;
        assert_eq!(written.status, StatusCode::OK, "{path}: {written:?}");
        let after = app.get(path).await;
        assert_ne!(after.body["etag"], before.body["etag"], "{path}");
        assert_eq!(
            without_etags(after.body.clone()),
            without_etags(before.body.clone()),
            "{path}"
        );
        assert_eq!(written.body, after.body, "{path}");
    }
}

async fn a_nic_a_vm_uses_cannot_be_deleted(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    let nic = app
        .put_network_interface("rg", "nic", nic_body(&subnet_id))
        .await;
    let nic_id = nic.body["id"].as_str().unwrap();
    let vm_id = app.vm_path("rg", "vm1");
    let db = app.db().await;
    let now = chrono::Utc::now();
    vaultsim::resources::network::attach_virtual_machine(&db, now, nic_id, &vm_id)
        .await
        .unwrap();
    let attached = app.get_network_interface("rg", "nic").await;
    assert_eq!(
        attached.body["properties"]["virtualMachine"]["id"],
        vm_id.as_str()
    );
    let mac = attached.body["properties"]["macAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(mac.starts_with("00-0D-3A-"), "{mac}");
    assert_ne!(attached.body["etag"], nic.body["etag"]);
    let other_vm = app.vm_path("rg", "vm2");
    let taken = vaultsim::resources::network::attach_virtual_machine(&db, now, nic_id, &other_vm)
        .await
        .unwrap_err();
    assert!(
        taken.to_string().contains("is used by existing resource"),
        "{taken}"
    );
    assert_refused(&app.delete_network_interface("rg", "nic").await, "NicInUse");
    let unknown = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg\
                   /providers/Microsoft.Network/networkInterfaces/nic";
    match vaultsim::resources::network::attach_virtual_machine(&db, now, unknown, &vm_id).await {
        Err(vaultsim::resources::ResourceError::Invalid { code, .. }) => {
            assert_eq!(code, "InvalidResourceReference")
        }
        other => panic!("attached to a NIC of no subscription: {other:?}"),
    }
    // A client writing back what it read changes neither the VM nor the MAC address.
    let written = app
        .put_network_interface("rg", "nic", attached.body.clone())
        .await;
    assert_eq!(
        written.body["properties"]["virtualMachine"]["id"],
        vm_id.as_str()
    );
    assert_eq!(written.body["properties"]["macAddress"], mac.as_str());
    vaultsim::resources::network::detach_virtual_machine(&db, now, nic_id, &vm_id)
        .await
        .unwrap();
    let detached = app.get_network_interface("rg", "nic").await;
    assert!(detached.body["properties"].get("virtualMachine").is_none());
    assert_eq!(
        app.delete_network_interface("rg", "nic").await.status,
        StatusCode::OK
    );
}

async fn deletes_answer_200_once_and_204_after(app: ManagementApp) {
    let subnet_id = create_network(&app, "rg").await;
    app.put_security_group("rg", "nsg", json!({"location": "westeurope"}))
        .await;
    app.put_public_ip_address("rg", "ip", json!({"location": "westeurope"}))
        .await;
    app.put_network_interface("rg", "nic", nic_body(&subnet_id))
        .await;
    for (collection, name) in [
        ("networkInterfaces", "nic"),
        ("publicIPAddresses", "ip"),
        ("networkSecurityGroups", "nsg"),
        ("virtualNetworks", "vnet"),
    ] {
        let path = app.network_path("rg", collection, Some(name));
        let deleted = app.delete(&path).await;
        assert_eq!(deleted.status, StatusCode::OK, "{path}: {deleted:?}");
        assert_eq!(
            app.delete(&path).await.status,
            StatusCode::NO_CONTENT,
            "{path}"
        );
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let no_group = app
        .delete(&app.network_path("nope", "networkInterfaces", Some("nic")))
        .await;
    assert_eq!(no_group.error_code(), "ResourceGroupNotFound");
}

/// The network resources of `az vm create --image Ubuntu2204` (its template without the
/// VM), deployed as the CLI submits them.
async fn a_deployment_creates_the_network_az_vm_create_needs(app: ManagementApp) {
    app.put_group("rg", "westeurope").await;
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {},
        "variables": {},
        "resources": [
            {"type": "Microsoft.Network/networkSecurityGroups", "name": "vm1NSG",
             "apiVersion": "2022-01-01", "location": "westeurope", "tags": {}, "dependsOn": [],
             "properties": {"securityRules": [{"name": "default-allow-ssh", "properties": {
                 "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                 "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                 "access": "Allow", "priority": 1000, "direction": "Inbound"}}]}},
            {"type": "Microsoft.Network/publicIPAddresses", "name": "vm1PublicIP",
             "apiVersion": "2022-01-01", "location": "westeurope", "tags": {}, "dependsOn": [],
             "properties": {"publicIPAllocationMethod": "Static"}, "sku": {"name": "Standard"}},
            {"type": "Microsoft.Network/virtualNetworks", "name": "vm1VNET",
             "apiVersion": "2015-06-15", "location": "westeurope", "tags": {}, "dependsOn": [],
             "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                            "subnets": [{"name": "vm1Subnet",
                                         "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
            {"type": "Microsoft.Network/networkInterfaces", "name": "vm1VMNic",
             "apiVersion": "2022-01-01", "location": "westeurope", "tags": {},
             "dependsOn": ["Microsoft.Network/virtualNetworks/vm1VNET",
                           "Microsoft.Network/networkSecurityGroups/vm1NSG",
                           "Microsoft.Network/publicIPAddresses/vm1PublicIP"],
             "properties": {
                 "ipConfigurations": [{"name": "ipconfigvm1", "properties": {
                     "privateIPAllocationMethod": "Dynamic",
                     "subnet": {"id": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vm1VNET', 'vm1Subnet')]"},
                     "publicIPAddress": {"id": "[resourceId('Microsoft.Network/publicIPAddresses', 'vm1PublicIP')]"}}}],
                 "networkSecurityGroup": {"id": "[resourceId('Microsoft.Network/networkSecurityGroups', 'vm1NSG')]"}}}
        ],
        "outputs": {}
    });
    let body =
        json!({"properties": {"template": template, "parameters": {}, "mode": "Incremental"}});
    let put = app.put_deployment(Some("rg"), "vm_deploy", body).await;
    assert!(put.status.is_success(), "{put:?}");
    let deployment = app.wait_for_deployment(&put, Some("rg"), "vm_deploy").await;
    assert_eq!(
        deployment.body["properties"]["provisioningState"],
        "Succeeded",
        "{deployment:?}: {:?}",
        app.list_deployment_operations(Some("rg"), "vm_deploy")
            .await
    );
    let nic = app.get_network_interface("rg", "vm1VMNic").await;
    assert_eq!(private_ip(&nic), "10.0.0.4");
    let ip = app.get_public_ip_address("rg", "vm1PublicIP").await;
    assert_eq!(ip.body["properties"]["ipAddress"], "192.0.2.1");
    assert!(ip.body["properties"]["ipConfiguration"]["id"]
        .as_str()
        .unwrap()
        .ends_with("/networkInterfaces/vm1VMNic/ipConfigurations/ipconfigvm1"));
    // What `az vm create` lists before it deploys, to reuse a network it finds.
    let networks = app.list_virtual_networks("rg").await;
    assert_eq!(names(&networks), ["vm1VNET"]);
}

/// A group holding what `az vm create` leaves: a security group `nsg` (tagged) on the subnet
/// `default` of the virtual network `vnet` and on the NIC `nic`, which has the public IP
/// address `ip`, and the VM `vm1` using the NIC.
async fn create_vm_with_network(app: &ManagementApp, group: &str) {
    app.put_group(group, "westeurope").await;
    let nsg = app
        .put_security_group(
            group,
            "nsg",
            json!({"location": "westeurope", "tags": {"role": "web"}}),
        )
        .await;
    assert_eq!(nsg.status, StatusCode::CREATED, "{nsg:?}");
    let nsg_id = nsg.body["id"].as_str().unwrap();
    let network = app
        .put_virtual_network(
            group,
            "vnet",
            json!({
                "location": "westeurope",
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [{"name": "default", "properties": {
                        "addressPrefix": "10.0.0.0/24",
                        "networkSecurityGroup": {"id": nsg_id}
                    }}]
                }
            }),
        )
        .await;
    assert_eq!(network.status, StatusCode::CREATED, "{network:?}");
    let ip = app
        .put_public_ip_address(group, "ip", json!({"location": "westeurope"}))
        .await;
    assert_eq!(ip.status, StatusCode::CREATED, "{ip:?}");
    let mut nic_body = nic_body(
        network.body["properties"]["subnets"][0]["id"]
            .as_str()
            .unwrap(),
    );
    nic_body["properties"]["networkSecurityGroup"] = json!({"id": nsg_id});
    nic_body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] =
        json!({"id": ip.body["id"]});
    let nic = app.put_network_interface(group, "nic", nic_body).await;
    assert_eq!(nic.status, StatusCode::CREATED, "{nic:?}");
    let mut vm_body = ManagementApp::vm_body("Linux", "westeurope", &[]);
    vm_body["properties"]["networkProfile"] =
        json!({"networkInterfaces": [{"id": nic.body["id"]}]});
    let vm = app.put_vm(group, "vm1", vm_body).await;
    assert!(vm.status.is_success(), "{vm:?}");
}

/// `az resource list` shows the tracked network resources, subnets left out as Azure leaves
/// them out.
async fn the_generic_resource_list_holds_the_network_resources(app: ManagementApp) {
    create_vm_with_network(&app, "rg").await;
    create_network(&app, "rg-two").await;
    let listed = |list: &ArmResponse| -> Vec<(String, String)> {
        assert_eq!(list.status, StatusCode::OK, "{list:?}");
        list.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().to_owned(),
                    r["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let entry = |group: &str, resource_type: &str, name: &str| {
        let collection = resource_type.split_once('/').unwrap().1;
        (
            resource_type.to_owned(),
            app.network_path(group, collection, Some(name)),
        )
    };
    let in_group = app.list_resources(Some("rg"), None).await;
    assert_eq!(
        listed(&in_group),
        [
            (
                "Microsoft.Compute/virtualMachines".to_owned(),
                app.vm_path("rg", "vm1")
            ),
            entry("rg", "Microsoft.Network/networkInterfaces", "nic"),
            entry("rg", "Microsoft.Network/networkSecurityGroups", "nsg"),
            entry("rg", "Microsoft.Network/publicIPAddresses", "ip"),
            entry("rg", "Microsoft.Network/virtualNetworks", "vnet"),
            (
                "Microsoft.Storage/storageAccounts".to_owned(),
                format!(
                    "{}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
                    app.group_path("rg")
                )
            ),
        ]
    );
    let nsg = &in_group.body["value"][2];
    assert_eq!(nsg["name"], "nsg");
    assert_eq!(nsg["location"], "westeurope");
    assert_eq!(nsg["tags"], json!({"role": "web"}));
    let networks = app
        .list_resources(
            None,
            Some("resourceType eq 'microsoft.network/virtualnetworks'"),
        )
        .await;
    // By id in lower case, where `rg-two/` comes before `rg/`.
    assert_eq!(
        listed(&networks),
        [
            entry("rg-two", "Microsoft.Network/virtualNetworks", "vnet"),
            entry("rg", "Microsoft.Network/virtualNetworks", "vnet"),
        ]
    );
    let in_other_group = app
        .list_resources(None, Some("resourceGroup eq 'RG-TWO'"))
        .await;
    assert_eq!(listed(&in_other_group).len(), 2, "{in_other_group:?}");
}

/// A complete-mode deployment naming nothing deletes the VM and its network, each after
/// what uses it (the NIC after its VM, the security group after the NIC and the subnet).
async fn complete_mode_deletes_a_vm_and_its_network(app: ManagementApp) {
    create_vm_with_network(&app, "rg").await;
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": []
    });
    let body = json!({"properties": {"template": template, "mode": "Complete"}});
    let put = app.put_deployment(Some("rg"), "empty", body).await;
    assert!(put.status.is_success(), "{put:?}");
    let deployment = app.wait_for_deployment(&put, Some("rg"), "empty").await;
    let operations = app.list_deployment_operations(Some("rg"), "empty").await;
    assert_eq!(
        deployment.body["properties"]["provisioningState"], "Succeeded",
        "{deployment:?}: {operations:?}"
    );
    let deleted: Vec<&str> = operations.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["properties"]["provisioningOperation"], "Delete", "{o}");
            assert_eq!(o["properties"]["provisioningState"], "Succeeded", "{o}");
            o["properties"]["targetResource"]["resourceName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(deleted, ["vm1", "nic", "vnet", "nsg", "ip"]);
    assert_eq!(app.get_vm("rg", "vm1").await.status, StatusCode::NOT_FOUND);
    for (collection, name) in [
        ("networkInterfaces", "nic"),
        ("publicIPAddresses", "ip"),
        ("networkSecurityGroups", "nsg"),
        ("virtualNetworks", "vnet"),
    ] {
        let path = app.network_path("rg", collection, Some(name));
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let left = app.list_resources(Some("rg"), None).await;
    assert_eq!(
        left.body["value"][0]["type"], "Microsoft.Storage/storageAccounts",
        "{left:?}"
    );
    assert_eq!(left.body["value"].as_array().unwrap().len(), 1, "{left:?}");
}

/// Every member of a JSON text's objects appears once.
fn assert_no_duplicate_keys(text: &str) {
    serde_json::from_str::<UniqueKeys>(text).unwrap_or_else(|e| panic!("{e}: {text}"));
}

/// Deserializes any JSON, failing on an object that names a member twice.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("the member {key} appears twice")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

/// `body` with every `etag` removed, at any depth.
fn without_etags(body: Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| key != "etag")
                .map(|(key, value)| (key, without_etags(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_etags).collect()),
        other => other,
    }
}

crate::on_both_backends!(
    a_virtual_network_shows_its_subnets_with_their_ids,
    subnets_are_written_alone_and_their_network_shows_them,
    nics_get_the_first_free_hosts_and_in_use_subnets_stay,
    a_slash_29_subnet_holds_three_nics,
    addresses_created_at_once_are_distinct,
    static_public_ips_get_stable_addresses_and_stay_while_used,
    security_groups_have_azures_default_rules_and_stay_while_used,
    lists_cover_a_group_and_the_subscription,
    a_get_put_back_is_an_update_that_keeps_what_was_given,
    a_nic_a_vm_uses_cannot_be_deleted,
    deletes_answer_200_once_and_204_after,
    a_deployment_creates_the_network_az_vm_create_needs,
    the_generic_resource_list_holds_the_network_resources,
    complete_mode_deletes_a_vm_and_its_network,
);
