-- The management API's metadata. One history for SQLite and PostgreSQL, so the SQL is the
-- portable subset: text and bigint columns, no serials, no dialect-specific defaults.
-- Conventions:
--   * times are microseconds since the Unix epoch, UTC (bigint);
--   * JSON documents are text, written and read only by the service;
--   * ARM matches names case-insensitively but returns them as created, so a name is stored
--     as given (`name`) and lower-cased (`name_key`), and lookups use the key;
--   * booleans are bigint 0/1 (SQLite has no boolean type).
-- Applied migrations are never edited; changes come as new numbered files.

create table tenant (
    tenant_id text primary key,
    display_name text not null,
    created_at bigint not null
);

create table subscription (
    subscription_id text primary key,
    tenant_id text not null references tenant (tenant_id),
    display_name text not null,
    state text not null,
    created_at bigint not null
);

-- A client (service principal) that obtains tokens with the client-credentials grant.
-- Secrets are random 256-bit values, so a plain SHA-256 is enough to store them.
create table principal (
    client_id text primary key,
    tenant_id text not null references tenant (tenant_id),
    display_name text not null,
    secret_sha256 text not null,
    is_admin bigint not null,
    created_at bigint not null
);

create table subscription_grant (
    client_id text not null references principal (client_id) on delete cascade,
    subscription_id text not null references subscription (subscription_id) on delete cascade,
    primary key (client_id, subscription_id)
);

create table resource_group (
    subscription_id text not null references subscription (subscription_id),
    name_key text not null,
    name text not null,
    location text not null,
    tags text not null,
    created_at bigint not null,
    primary key (subscription_id, name_key)
);

-- A virtual machine, created with ARM PUT (origin 'arm') or by an agent registering
-- through the guest API (origin 'guest').
create table virtual_machine (
    vm_id text primary key,
    subscription_id text not null,
    resource_group_key text not null,
    name_key text not null,
    name text not null,
    location text not null,
    os_type text not null,
    vm_size text not null,
    tags text not null,
    origin text not null,
    created_at bigint not null,
    foreign key (subscription_id, resource_group_key)
        references resource_group (subscription_id, name_key),
    unique (subscription_id, resource_group_key, name_key)
);

-- Every disk is a page blob in the blob store. The OS disk has lun -1, as the snapshot
-- extension numbers it.
create table vm_disk (
    vm_id text not null references virtual_machine (vm_id) on delete cascade,
    lun bigint not null,
    name text not null,
    size_bytes bigint not null,
    blob_container text not null,
    blob_name text not null,
    primary key (vm_id, lun)
);

create table vm_extension (
    vm_id text not null references virtual_machine (vm_id) on delete cascade,
    name_key text not null,
    name text not null,
    publisher text not null,
    extension_type text not null,
    type_handler_version text not null,
    auto_upgrade_minor_version bigint not null,
    provisioning_state text not null,
    settings text not null,
    updated_at bigint not null,
    primary key (vm_id, name_key)
);

create table vault (
    vault_id text primary key,
    subscription_id text not null,
    resource_group_key text not null,
    name_key text not null,
    name text not null,
    location text not null,
    sku_name text not null,
    tags text not null,
    etag text not null,
    -- When protectable items were last discovered (refreshContainers); null before.
    last_refresh_at bigint,
    created_at bigint not null,
    foreign key (subscription_id, resource_group_key)
        references resource_group (subscription_id, name_key),
    unique (subscription_id, resource_group_key, name_key)
);

-- `properties` is the validated AzureIaaSVMProtectionPolicy document as the service
-- returns it, without `protectedItemsCount`, which is counted.
create table backup_policy (
    vault_id text not null references vault (vault_id) on delete cascade,
    name_key text not null,
    name text not null,
    properties text not null,
    created_at bigint not null,
    primary key (vault_id, name_key)
);

-- A protected VM. `vm_id` is not a foreign key: a VM can be deleted while its backups
-- stay in the vault.
create table protected_item (
    vault_id text not null references vault (vault_id),
    item_key text not null,
    vm_id text not null,
    vm_name text not null,
    vm_resource_group text not null,
    source_resource_id text not null,
    policy_key text,
    protection_state text not null,
    health_status text not null,
    last_backup_status text not null,
    last_backup_time bigint,
    last_recovery_point bigint,
    protected_item_data_id bigint not null,
    extended_properties text not null,
    created_at bigint not null,
    primary key (vault_id, item_key)
);
-- A VM is protected by one vault at most.
create unique index protected_item_by_vm on protected_item (vm_id);
create index protected_item_by_policy on protected_item (vault_id, policy_key);

create table backup_job (
    job_id text primary key,
    vault_id text not null references vault (vault_id) on delete cascade,
    item_key text,
    entity_friendly_name text not null,
    container_name text not null,
    operation text not null,
    status text not null,
    start_time bigint not null,
    end_time bigint,
    is_user_triggered bigint not null,
    activity_id text not null,
    error_details text not null,
    extended_info text not null
);
create index backup_job_by_time on backup_job (vault_id, start_time, job_id);

-- An asynchronous operation a client polls (backupOperations, operationsStatus,
-- operationResults).
create table backup_operation (
    operation_id text primary key,
    vault_id text not null references vault (vault_id) on delete cascade,
    item_key text,
    kind text not null,
    status text not null,
    job_id text,
    error text,
    start_time bigint not null,
    end_time bigint
);

create table recovery_point (
    vault_id text not null references vault (vault_id) on delete cascade,
    item_key text not null,
    recovery_point_id text not null,
    recovery_point_time bigint not null,
    recovery_point_type text not null,
    tier_details text not null,
    properties text not null,
    primary key (vault_id, item_key, recovery_point_id)
);
create index recovery_point_by_time on recovery_point (vault_id, item_key, recovery_point_time);
