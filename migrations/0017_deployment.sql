-- ARM template deployments (Microsoft.Resources/deployments). A deployment lives at a
-- resource group's scope (scope_key: the group's name_key) or at the subscription's
-- (scope_key ''). Its state is a column, since a PUT must refuse to replace a deployment
-- that is still running and a cancel must reach the engine that runs it (it reads the
-- state before each resource); everything else ARM answers about it (template,
-- parameters without their secure values, outputs, error) is one JSON document.
create table deployment (
    subscription_id text not null references subscription (subscription_id),
    scope_key text not null,
    name_key text not null,
    state text not null,
    operation_id text not null,
    document text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (subscription_id, scope_key, name_key)
);

-- One provisioning operation of a deployment: a resource it created, updated or deleted,
-- in the order they started (seq), with the status its provider answered.
create table deployment_operation (
    subscription_id text not null,
    scope_key text not null,
    name_key text not null,
    seq bigint not null,
    operation_id text not null,
    document text not null,
    primary key (subscription_id, scope_key, name_key, seq),
    foreign key (subscription_id, scope_key, name_key)
        references deployment (subscription_id, scope_key, name_key) on delete cascade
);
