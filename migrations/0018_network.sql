-- Microsoft.Network resources as ARM stores them (virtual networks and their subnets,
-- network security groups, public IP addresses, network interfaces); nothing forwards
-- packets. One table holds every type. A row is one resource: its ARM id as created (`id`)
-- and lower-cased (`id_key`, what lookups and references use), a subnet's row naming its
-- virtual network's key (`parent_key`; '' for the others), and everything ARM shows besides
-- the envelope as one JSON document.
create table network_resource (
    subscription_id text not null,
    resource_group_key text not null,
    id_key text not null,
    id text not null,
    resource_type text not null,
    parent_key text not null,
    name text not null,
    location text not null,
    tags text not null,
    document text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (subscription_id, resource_group_key, id_key),
    foreign key (subscription_id, resource_group_key)
        references resource_group (subscription_id, name_key)
);

-- The lists: one type in a group, or in the whole subscription.
create index network_resource_by_type on network_resource
    (subscription_id, resource_type, resource_group_key, id_key);

-- A virtual network's subnets.
create index network_resource_by_parent on network_resource (subscription_id, parent_key);

-- Which resource refers to which: a NIC's IP configuration to its subnet and public IP
-- address, a NIC or a subnet to its network security group. The row that holds the
-- reference (`holder_key`) rewrites its references with itself; `source_id` is what Azure
-- names as the user (an IP configuration's id, say). Read by target: a resource cannot be
-- deleted while anything refers to it, and its GET lists who does.
create table network_reference (
    subscription_id text not null,
    holder_key text not null,
    source_id text not null,
    source_type text not null,
    target_key text not null,
    target_type text not null,
    primary key (subscription_id, holder_key, source_id, target_key)
);

create index network_reference_by_target on network_reference (subscription_id, target_key);

create index network_reference_by_target_type on network_reference
    (subscription_id, target_type);

-- The addresses handed out: private ones per subnet (`pool_key` the subnet's id_key), public
-- ones per subscription (`pool_key` 'publicIPAddresses'); IPv4 addresses as integers. The
-- primary key makes allocation race-free: a writer claims the first free address with an
-- insert that does nothing on conflict, and tries the next one when it did nothing.
create table network_address (
    subscription_id text not null,
    pool_key text not null,
    address bigint not null,
    holder_key text not null,
    owner_id text not null,
    primary key (subscription_id, pool_key, address)
);

create index network_address_by_holder on network_address (subscription_id, holder_key);

-- One row per subscription that has had a network write. Each network write updates its
-- subscription's row first, so that on PostgreSQL the network writes of a subscription run
-- one at a time (SQLite's writes always do): nothing a write read (the subnet a NIC joins,
-- the users of a subnet it deletes) can change before it commits.
create table network_writer (
    subscription_id text primary key references subscription (subscription_id),
    writes bigint not null
);
