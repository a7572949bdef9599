//! Network interfaces (`Microsoft.Network/networkInterfaces`). Each IP configuration has an
//! address in an existing subnet: a dynamic one the subnet's first free host (its fifth
//! address, as the first four are Azure's), kept across updates while the configuration
//! stays in the subnet; a static one the address asked for, if it is a free host of the
//! subnet. The subnet, public IP address and security group a NIC names must exist in its
//! region. The VM that uses a NIC is not set by a PUT: Compute records it with
//! [`attach_virtual_machine`], and a NIC a VM uses cannot be deleted.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::addresses::Ipv4Cidr;
use super::ids::{Kind, NetworkId};
use super::store::{self, subnet_pool, Held, Reference, SourceKind, Stored};
use super::tracked::{
    new_etag, put_envelope, validate_name, with_defaults, without, Envelope, EnvelopeSpec, Tracked,
};
use super::virtual_networks::subnet_prefixes;
use super::{invalid_property_id, invalid_request, not_found, resolve};
use super::{AllocationMethod, Deletion};
use crate::resources::groups::Upserted;
use crate::resources::lookup;
use crate::resources::ResourceError;
use crate::store::Db;

/// A network interface.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInterface {
    pub tracked: Tracked,
    pub ip_configurations: Vec<IpConfiguration>,
    /// The security group's id, as created.
    pub network_security_group: Option<String>,
    /// The VM that uses the NIC, as Compute recorded it.
    pub virtual_machine: Option<String>,
    /// Given when a VM first uses the NIC.
    pub mac_address: Option<String>,
    /// The other members of `properties`, as given, with Azure's defaults where none was.
    pub properties: Map<String, Value>,
}

/// One IP configuration of a NIC.
#[derive(Debug, Clone, PartialEq)]
pub struct IpConfiguration {
    pub id: String,
    pub name: String,
    /// The NIC's.
    pub etag: String,
    pub primary: bool,
    /// The subnet's id, as created.
    pub subnet: String,
    pub private_ip_address: Ipv4Addr,
    pub private_ip_allocation_method: AllocationMethod,
    /// The public IP address's id, as created.
    pub public_ip_address: Option<String>,
    /// The other members of `properties`, as given, with Azure's defaults where none was.
    pub properties: Map<String, Value>,
}

/// What a NIC PUT asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutNetworkInterface {
    pub envelope: EnvelopeSpec,
    pub ip_configurations: Vec<IpConfigurationSpec>,
    /// `networkSecurityGroup.id`, as written.
    pub network_security_group: Option<String>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// One IP configuration of a NIC PUT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpConfigurationSpec {
    pub name: Option<String>,
    /// `subnet.id`, as written; required.
    pub subnet: Option<String>,
    /// `privateIPAddress`: the address a static configuration asks for. A dynamic one's is
    /// ignored (clients send back the address they read).
    pub private_ip_address: Option<String>,
    /// `privateIPAllocationMethod`: `Dynamic` when left out.
    pub private_ip_allocation_method: Option<String>,
    /// `publicIPAddress.id`, as written.
    pub public_ip_address: Option<String>,
    pub primary: Option<bool>,
    /// The other members of `properties`.
    pub properties: Map<String, Value>,
}

/// The members of a NIC's `properties` the service sets or models itself.
const NIC_MODELLED: [&str; 7] = [
    "provisioningState",
    "resourceGuid",
    "ipConfigurations",
    "networkSecurityGroup",
    "virtualMachine",
    "macAddress",
    "primary",
];

/// The members of an IP configuration's `properties` the service sets or models itself.
const CONFIGURATION_MODELLED: [&str; 7] = [
    "provisioningState",
    "primary",
    "subnet",
    "privateIPAddress",
    "privateIPAllocationMethod",
    "publicIPAddress",
    "privateIPAddressVersion",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceState {
    ip_configurations: Vec<StoredConfiguration>,
    network_security_group: Option<String>,
    virtual_machine: Option<String>,
    mac_address: Option<String>,
    properties: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredConfiguration {
    name: String,
    primary: bool,
    subnet: String,
    private_ip_address: Ipv4Addr,
    allocation_method: AllocationMethod,
    public_ip_address: Option<String>,
    properties: Map<String, Value>,
}

/// An IP configuration of a request, checked on its own.
struct ParsedConfiguration {
    name: String,
    primary: bool,
    subnet: NetworkId,
    /// `Some` for a static configuration.
    static_address: Option<Ipv4Addr>,
    public_ip_address: Option<NetworkId>,
    properties: Map<String, Value>,
}

/// Creates or replaces a NIC, handing out or keeping each IP configuration's address.
/// 400 `InvalidResourceReference` for a subnet, public IP address or security group that
/// does not exist in the NIC's region, `PublicIPAddressInUse` for a public IP address
/// another configuration uses, `SubnetIsFull`, or, for a static address,
/// `PrivateIPAddressNotInSubnet`, `PrivateIPAddressInReservedRange` or
/// `PrivateIPAddressIsAllocated`.
pub async fn put_network_interface(
    db: &Db,
    now: DateTime<Utc>,
    subscription: &str,
    group: &str,
    name: &str,
    command: PutNetworkInterface,
) -> Result<(NetworkInterface, Upserted), ResourceError> {
    validate_name(name)?;
    let group = lookup::group(db, subscription, group).await?;
    let id = NetworkId::new(subscription, &group.name, Kind::NetworkInterface, name);
    let configurations = parse_configurations(name, command.ip_configurations)?;
    let security_group = command
        .network_security_group
        .map(|group_id| {
            NetworkId::parse(&group_id, Kind::SecurityGroup)
                .ok_or_else(|| invalid_property_id(&group_id, "properties.networkSecurityGroup.id"))
        })
        .transpose()?;

    let mut tx = store::begin(db, subscription).await?;
    let existing = store::load(&mut tx, &id)
        .await?
        .map(|row| row.tracked::<InterfaceState>())
        .transpose()?;
    let (tracked, upserted) =
        put_envelope(&id, existing.as_ref().map(|(t, _)| t), command.envelope)?;
    let mut references = Vec::new();
    let security_group = match security_group {
        Some(group_id) => {
            let row = resolve(
                &mut tx,
                subscription,
                &group_id,
                &tracked.id,
                &tracked.location,
            )
            .await?;
            references.push(Reference {
                source_id: tracked.id.clone(),
                source_kind: SourceKind::NetworkInterface,
                target: group_id,
            });
            Some(row.id)
        }
        None => None,
    };
    // What each configuration refers to, checked before any address moves.
    let mut resolved = Vec::with_capacity(configurations.len());
    for configuration in &configurations {
        let configuration_id = format!("{}/ipConfigurations/{}", tracked.id, configuration.name);
        let subnet = resolve(
            &mut tx,
            subscription,
            &configuration.subnet,
            &tracked.id,
            &tracked.location,
        )
        .await?;
        references.push(Reference {
            source_id: configuration_id.clone(),
            source_kind: SourceKind::IpConfiguration,
            target: configuration.subnet.clone(),
        });
        let public_ip = match &configuration.public_ip_address {
            Some(address_id) => {
                let row = resolve(
                    &mut tx,
                    subscription,
                    address_id,
                    &tracked.id,
                    &tracked.location,
                )
                .await?;
                let users = store::users(&mut tx, address_id).await?;
                let elsewhere = users.iter().find(|user| user.holder_key != id.key());
                let twice = references
                    .iter()
                    .find(|r| r.target.key() == address_id.key());
                if let Some(user_id) = elsewhere
                    .map(|user| user.source_id.as_str())
                    .or(twice.map(|r| r.source_id.as_str()))
                {
                    return Err(ResourceError::invalid(
                        "PublicIPAddressInUse",
                        format!(
                            "Resource {configuration_id} is referencing public IP address {} \
                             that is already allocated to resource {user_id}.",
                            row.id
                        ),
                    ));
                }
                references.push(Reference {
                    source_id: configuration_id.clone(),
                    source_kind: SourceKind::IpConfiguration,
                    target: address_id.clone(),
                });
                Some(row.id)
            }
            None => None,
        };
        resolved.push((configuration_id, subnet, public_ip));
    }
    let addresses = assign_addresses(&mut tx, &id, &configurations, &resolved).await?;

    let previous = existing.map(|(_, state)| state);
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state: InterfaceState {
            ip_configurations: configurations
                .into_iter()
                .zip(resolved)
                .zip(addresses)
                .map(
                    |((configuration, (_, subnet, public_ip)), address)| StoredConfiguration {
                        name: configuration.name,
                        primary: configuration.primary,
                        subnet: subnet.id,
                        private_ip_address: address,
                        allocation_method: if configuration.static_address.is_some() {
                            AllocationMethod::Static
                        } else {
                            AllocationMethod::Dynamic
                        },
                        public_ip_address: public_ip,
                        properties: configuration.properties,
                    },
                )
                .collect(),
            network_security_group: security_group,
            virtual_machine: previous.as_ref().and_then(|p| p.virtual_machine.clone()),
            mac_address: previous.as_ref().and_then(|p| p.mac_address.clone()),
            properties: without(command.properties, &NIC_MODELLED),
        },
    };
    store::save_tracked(&mut tx, &id, &tracked, &document, now).await?;
    store::replace_references(&mut tx, &id, &references).await?;
    tx.commit().await?;
    let interface = get_network_interface(db, subscription, &group.name, name).await?;
    Ok((interface, upserted))
}

/// A NIC. 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub async fn get_network_interface(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<NetworkInterface, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::NetworkInterface, name);
    let mut conn = db.pool().acquire().await?;
    let Some(row) = store::load(&mut conn, &id).await? else {
        drop(conn);
        return Err(not_found(db, &id).await);
    };
    network_interface(&row)
}

/// The NICs of a group (404 `ResourceGroupNotFound`) or, with no group, of the
/// subscription.
pub async fn list_network_interfaces(
    db: &Db,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<NetworkInterface>, ResourceError> {
    if let Some(group) = group {
        lookup::group(db, subscription, group).await?;
    }
    let mut conn = db.pool().acquire().await?;
    let group_key = group.map(str::to_ascii_lowercase);
    store::list(
        &mut conn,
        subscription,
        group_key.as_deref(),
        Kind::NetworkInterface,
    )
    .await?
    .iter()
    .map(network_interface)
    .collect()
}

/// Deletes a NIC, releasing its addresses: 400 `NicInUse` while a VM uses it.
/// [`Deletion::Absent`] when there was none (404 `ResourceGroupNotFound` when the group is
/// missing too).
pub async fn delete_network_interface(
    db: &Db,
    subscription: &str,
    group: &str,
    name: &str,
) -> Result<Deletion, ResourceError> {
    let id = NetworkId::new(subscription, group, Kind::NetworkInterface, name);
    let mut tx = store::begin(db, subscription).await?;
    let Some(row) = store::load(&mut tx, &id).await? else {
        drop(tx);
        lookup::group(db, subscription, group).await?;
        return Ok(Deletion::Absent);
    };
    let (_, state) = row.tracked::<InterfaceState>()?;
    if let Some(vm) = state.virtual_machine {
        return Err(nic_in_use(&row.id, &vm));
    }
    store::delete(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// Whether the VM `vm_id` may use the NIC `nic_id`, read without writing: what
/// [`attach_virtual_machine`] checks, asked before the VM is written so that a VM naming a
/// missing or taken NIC is refused before anything is created.
pub async fn check_attachable(db: &Db, nic_id: &str, vm_id: &str) -> Result<(), ResourceError> {
    let id = NetworkId::parse(nic_id, Kind::NetworkInterface)
        .ok_or_else(|| invalid_property_id(nic_id, "networkProfile.networkInterfaces.id"))?;
    let mut conn = db.pool().acquire().await?;
    let Some(row) = store::load(&mut conn, &id).await? else {
        return Err(ResourceError::invalid(
            "InvalidResourceReference",
            format!(
                "Resource {nic_id} referenced by resource {vm_id} was not found. Please make \
                 sure that the referenced resource exists, and that both resources are in the \
                 same region."
            ),
        ));
    };
    let (_, state) = row.tracked::<InterfaceState>()?;
    match &state.virtual_machine {
        Some(current) if !current.eq_ignore_ascii_case(vm_id) => Err(nic_in_use(&row.id, current)),
        _ => Ok(()),
    }
}

/// Records that the VM `vm_id` uses the NIC `nic_id` (the NIC's `virtualMachine`), as Azure
/// does when a VM that lists the NIC is created, and gives the NIC a MAC address, kept from
/// then on. 400 `InvalidResourceReference` when there is no such NIC, `NicInUse` when another
/// VM uses it; nothing changes when `vm_id` already does.
pub async fn attach_virtual_machine(
    db: &Db,
    now: DateTime<Utc>,
    nic_id: &str,
    vm_id: &str,
) -> Result<(), ResourceError> {
    let id = NetworkId::parse(nic_id, Kind::NetworkInterface)
        .ok_or_else(|| invalid_property_id(nic_id, "networkProfile.networkInterfaces.id"))?;
    let missing = || {
        ResourceError::invalid(
            "InvalidResourceReference",
            format!(
                "Resource {nic_id} referenced by resource {vm_id} was not found. Please make \
                 sure that the referenced resource exists, and that both resources are in the \
                 same region."
            ),
        )
    };
    // Read first: an id naming a subscription that does not exist must not reach `begin`,
    // whose lock row belongs to an existing subscription.
    if !exists(db, &id).await? {
        return Err(missing());
    }
    let mut tx = store::begin(db, &id.subscription).await?;
    let Some(row) = store::load(&mut tx, &id).await? else {
        return Err(missing());
    };
    let (mut tracked, mut state) = row.tracked::<InterfaceState>()?;
    match &state.virtual_machine {
        Some(current) if current.eq_ignore_ascii_case(vm_id) => return Ok(()),
        Some(current) => return Err(nic_in_use(&row.id, current)),
        None => {}
    }
    state.virtual_machine = Some(vm_id.to_owned());
    state.mac_address.get_or_insert_with(mac_address);
    tracked.etag = new_etag();
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state,
    };
    store::save_tracked(&mut tx, &id, &tracked, &document, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Records that the VM `vm_id` no longer uses the NIC `nic_id`, as when the VM is deleted;
/// nothing changes when the NIC is gone or another VM (or none) uses it.
pub async fn detach_virtual_machine(
    db: &Db,
    now: DateTime<Utc>,
    nic_id: &str,
    vm_id: &str,
) -> Result<(), ResourceError> {
    let Some(id) = NetworkId::parse(nic_id, Kind::NetworkInterface) else {
        return Ok(());
    };
    if !exists(db, &id).await? {
        return Ok(());
    }
    let mut tx = store::begin(db, &id.subscription).await?;
    let Some(row) = store::load(&mut tx, &id).await? else {
        return Ok(());
    };
    let (mut tracked, mut state) = row.tracked::<InterfaceState>()?;
    if !state
        .virtual_machine
        .as_deref()
        .is_some_and(|current| current.eq_ignore_ascii_case(vm_id))
    {
        return Ok(());
    }
    state.virtual_machine = None;
    tracked.etag = new_etag();
    let document = Envelope {
        etag: tracked.etag.clone(),
        resource_guid: tracked.resource_guid.clone(),
        extra: tracked.extra.clone(),
        state,
    };
    store::save_tracked(&mut tx, &id, &tracked, &document, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the NIC `id` exists, read outside any write.
async fn exists(db: &Db, id: &NetworkId) -> Result<bool, ResourceError> {
    let mut conn = db.pool().acquire().await?;
    Ok(store::load(&mut conn, id).await?.is_some())
}

/// The IP configurations of a PUT, checked on their own: at least one (400
/// `InvalidIPConfigCount`), distinct names, exactly one primary when there are several (400
/// `NetworkInterfaceMustHaveOneOneIPConfigAsPrimary`), a subnet id each, and an address for
/// each static one.
fn parse_configurations(
    nic_name: &str,
    specs: Vec<IpConfigurationSpec>,
) -> Result<Vec<ParsedConfiguration>, ResourceError> {
    if specs.is_empty() {
        return Err(ResourceError::invalid(
            "InvalidIPConfigCount",
            format!("Network interface {nic_name} must have one or more IP configurations."),
        ));
    }
    let several = specs.len() > 1;
    let primaries = specs.iter().filter(|s| s.primary == Some(true)).count();
    if several && primaries != 1 {
        return Err(ResourceError::invalid(
            "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary",
            format!(
                "Network Interface {nic_name} specifies multiple IPConfigurations but {} of the \
                 IPConfigurations is specified as Primary.",
                if primaries == 0 {
                    "none"
                } else {
                    "more than one"
                }
            ),
        ));
    }
    let mut parsed: Vec<ParsedConfiguration> = Vec::with_capacity(specs.len());
    for (index, spec) in specs.into_iter().enumerate() {
        let name = spec.name.unwrap_or_default();
        validate_name(&name)?;
        if parsed.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
            return Err(invalid_request(format!(
                "the IP configuration name '{name}' is used twice."
            )));
        }
        let path = format!("properties.ipConfigurations[{index}].properties");
        let subnet_id = spec.subnet.ok_or_else(|| {
            invalid_request(format!(
                "IP configuration {name} names no subnet ({path}.subnet.id)."
            ))
        })?;
        let subnet = NetworkId::parse(&subnet_id, Kind::Subnet)
            .ok_or_else(|| invalid_property_id(&subnet_id, &format!("{path}.subnet.id")))?;
        let public_ip_address = spec
            .public_ip_address
            .map(|address_id| {
                NetworkId::parse(&address_id, Kind::PublicIpAddress).ok_or_else(|| {
                    invalid_property_id(&address_id, &format!("{path}.publicIPAddress.id"))
                })
            })
            .transpose()?;
        let method = match spec.private_ip_allocation_method.as_deref() {
            Some(method) => AllocationMethod::parse(method, "privateIPAllocationMethod")?,
            None => AllocationMethod::Dynamic,
        };
        let static_address = match method {
            AllocationMethod::Dynamic => None,
            AllocationMethod::Static => {
                let text = spec.private_ip_address.unwrap_or_default();
                Some(text.parse::<Ipv4Addr>().map_err(|_| {
                    invalid_request(format!(
                        "IP configuration {name} is static but its privateIPAddress '{text}' is \
                         no IPv4 address."
                    ))
                })?)
            }
        };
        parsed.push(ParsedConfiguration {
            name,
            primary: !several || spec.primary == Some(true),
            subnet,
            static_address,
            public_ip_address,
            properties: without(spec.properties, &CONFIGURATION_MODELLED),
        });
    }
    Ok(parsed)
}

/// Each configuration's private address, in order: the one it holds, if it may keep it
/// (a dynamic one in the same subnet, a static one asking for the same address); else a new
/// one. Addresses no configuration keeps are released first, so that a configuration may take
/// one another gave up.
async fn assign_addresses(
    conn: &mut AnyConnection,
    nic: &NetworkId,
    configurations: &[ParsedConfiguration],
    resolved: &[(String, Stored, Option<String>)],
) -> Result<Vec<Ipv4Addr>, ResourceError> {
    let held = store::held(conn, nic).await?;
    let kept: Vec<Option<&Held>> = configurations
        .iter()
        .zip(resolved)
        .map(|(configuration, (configuration_id, _, _))| {
            held.iter().find(|h| {
                h.owner_id.eq_ignore_ascii_case(configuration_id)
                    && h.pool == subnet_pool(&configuration.subnet)
                    && configuration
                        .static_address
                        .is_none_or(|wanted| wanted == h.address)
            })
        })
        .collect();
    for h in &held {
        if !kept.iter().flatten().any(|k| *k == h) {
            store::release(conn, nic, h).await?;
        }
    }
    let mut addresses = Vec::with_capacity(configurations.len());
    for ((configuration, (configuration_id, subnet_row, _)), kept) in
        configurations.iter().zip(resolved).zip(kept)
    {
        if let Some(kept) = kept {
            addresses.push(kept.address);
            continue;
        }
        let prefixes = subnet_prefixes(subnet_row)?;
        let pool = subnet_pool(&configuration.subnet);
        let address = match configuration.static_address {
            Some(wanted) => {
                claim_static(conn, nic, &pool, &prefixes, wanted, configuration_id).await?
            }
            None => {
                let hosts = prefixes.iter().flat_map(Ipv4Cidr::hosts);
                store::claim_first_free(conn, nic, &pool, hosts, configuration_id)
                    .await?
                    .ok_or_else(|| {
                        let prefixes: Vec<String> =
                            prefixes.iter().map(|p| p.to_string()).collect();
                        ResourceError::invalid(
                            "SubnetIsFull",
                            format!(
                                "Subnet {} with address prefix {} does not have enough capacity \
                                 for 1 IP addresses.",
                                subnet_row.name,
                                prefixes.join(", ")
                            ),
                        )
                    })?
            }
        };
        addresses.push(address);
    }
    Ok(addresses)
}

/// Claims the static address `wanted` of a subnet with `prefixes`, in Azure's words when it
/// cannot.
async fn claim_static(
    conn: &mut AnyConnection,
    nic: &NetworkId,
    pool: &str,
    prefixes: &[Ipv4Cidr],
    wanted: Ipv4Addr,
    configuration_id: &str,
) -> Result<Ipv4Addr, ResourceError> {
    let Some(prefix) = prefixes.iter().find(|p| p.contains_address(wanted)) else {
        let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
        return Err(ResourceError::invalid(
            "PrivateIPAddressNotInSubnet",
            format!(
                "IP configuration {configuration_id} private static IP address {wanted} does not \
                 belong to the range of subnet prefix {}.",
                prefixes.join(", ")
            ),
        ));
    };
    if prefix.is_reserved(wanted) {
        return Err(ResourceError::invalid(
            "PrivateIPAddressInReservedRange",
            format!(
                "Private static IP address {wanted} falls within reserved IP range of subnet \
                 prefix {prefix}."
            ),
        ));
    }
    if store::claim(conn, nic, pool, wanted, configuration_id).await? {
        return Ok(wanted);
    }
    let owner = store::owner_of(conn, &nic.subscription, pool, wanted)
        .await?
        .unwrap_or_default();
    Err(ResourceError::invalid(
        "PrivateIPAddressIsAllocated",
        format!(
            "IP configuration {configuration_id} is using the private IP address {wanted} which \
             is already allocated to resource {owner}."
        ),
    ))
}

fn nic_in_use(nic_id: &str, vm_id: &str) -> ResourceError {
    ResourceError::invalid(
        "NicInUse",
        format!(
            "Network Interface {nic_id} is used by existing resource {vm_id}. In order to \
             delete the network interface, it must be dissociated from the resource. To learn \
             more, see aka.ms/deletenic."
        ),
    )
}

/// A MAC address in the range Azure's NICs show (`00-0D-3A-…`).
fn mac_address() -> String {
    let random = uuid::Uuid::new_v4();
    let bytes = random.as_bytes();
    format!(
        "00-0D-3A-{:02X}-{:02X}-{:02X}",
        bytes[0], bytes[1], bytes[2]
    )
}

fn network_interface(row: &Stored) -> Result<NetworkInterface, ResourceError> {
    let (tracked, state) = row.tracked::<InterfaceState>()?;
    let ip_configurations = state
        .ip_configurations
        .into_iter()
        .map(|stored| IpConfiguration {
            id: format!("{}/ipConfigurations/{}", tracked.id, stored.name),
            name: stored.name,
            etag: tracked.etag.clone(),
            primary: stored.primary,
            subnet: stored.subnet,
            private_ip_address: stored.private_ip_address,
            private_ip_allocation_method: stored.allocation_method,
            public_ip_address: stored.public_ip_address,
            properties: with_defaults(
                stored.properties,
                [("privateIPAddressVersion", json!("IPv4"))],
            ),
        })
        .collect();
    Ok(NetworkInterface {
        ip_configurations,
        network_security_group: state.network_security_group,
        virtual_machine: state.virtual_machine,
        mac_address: state.mac_address,
        properties: with_defaults(
            state.properties,
            [
                (
                    "dnsSettings",
                    json!({"dnsServers": [], "appliedDnsServers": []}),
                ),
                ("enableAcceleratedNetworking", json!(false)),
                ("enableIPForwarding", json!(false)),
                ("disableTcpStateTracking", json!(false)),
                ("nicType", json!("Standard")),
                ("hostedWorkloads", json!([])),
                ("tapConfigurations", json!([])),
                ("vnetEncryptionSupported", json!(false)),
            ],
        ),
        tracked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBNET: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/d";

    fn spec(name: &str, primary: Option<bool>) -> IpConfigurationSpec {
        IpConfigurationSpec {
            name: Some(name.to_owned()),
            subnet: Some(SUBNET.to_owned()),
            primary,
            ..IpConfigurationSpec::default()
        }
    }

    fn code<T>(result: Result<T, ResourceError>) -> String {
        match result {
            Err(ResourceError::Invalid { code, .. }) => code.into_owned(),
            Err(other) => panic!("expected a validation error, got {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_lone_configuration_is_primary_and_dynamic() {
        let parsed = parse_configurations("nic", vec![spec("ipconfig1", None)]).unwrap();
        assert!(parsed[0].primary);
        assert_eq!(parsed[0].static_address, None);
        assert_eq!(parsed[0].subnet.name, "d");
    }

    #[test]
    fn configurations_are_checked_as_azure_checks_them() {
        assert_eq!(
            code(parse_configurations("nic", vec![])),
            "InvalidIPConfigCount"
        );
        assert_eq!(
            code(parse_configurations(
                "nic",
                vec![spec("a", None), spec("b", None)]
            )),
            "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary"
        );
        assert_eq!(
            code(parse_configurations(
                "nic",
                vec![spec("a", Some(true)), spec("b", Some(true))]
            )),
            "NetworkInterfaceMustHaveOneOneIPConfigAsPrimary"
        );
        let several = vec![spec("a", Some(true)), spec("b", Some(false))];
        assert!(parse_configurations("nic", several).is_ok());
        let twice = vec![spec("a", Some(true)), spec("A", None)];
        assert_eq!(
            code(parse_configurations("nic", twice)),
            "InvalidRequestFormat"
        );
        let no_subnet = IpConfigurationSpec {
            subnet: None,
            ..spec("a", None)
        };
        assert_eq!(
            code(parse_configurations("nic", vec![no_subnet])),
            "InvalidRequestFormat"
        );
        let bad_subnet = IpConfigurationSpec {
            subnet: Some("default".into()),
            ..spec("a", None)
        };
        assert_eq!(
            code(parse_configurations("nic", vec![bad_subnet])),
            "LinkedInvalidPropertyId"
        );
        let static_without_address = IpConfigurationSpec {
            private_ip_allocation_method: Some("static".into()),
            ..spec("a", None)
        };
        assert_eq!(
            code(parse_configurations("nic", vec![static_without_address])),
            "InvalidRequestFormat"
        );
        let static_address = IpConfigurationSpec {
            private_ip_allocation_method: Some("Static".into()),
            private_ip_address: Some("10.0.0.10".into()),
            ..spec("a", None)
        };
        let parsed = parse_configurations("nic", vec![static_address]).unwrap();
        assert_eq!(parsed[0].static_address, Some(Ipv4Addr::new(10, 0, 0, 10)));
    }

    #[test]
    fn mac_addresses_are_in_azures_range() {
        let mac = mac_address();
        assert!(mac.starts_with("00-0D-3A-"), "{mac}");
        assert_eq!(mac.len(), 17);
    }
}
