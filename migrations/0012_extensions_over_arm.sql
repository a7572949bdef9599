-- Extensions installed over ARM (Microsoft.Compute/virtualMachines/extensions PUT, PATCH,
-- DELETE) beside the ones the backup engine installs.
--
-- handler_state is what the goal state tells the guest agent to do with the handler:
-- 'enabled', or 'uninstall' once the extension is being deleted (its row goes when the
-- agent says the handler is uninstalled). protected_settings_sha256 is the SHA-256 of the
-- protected settings as last put (lower-case hex; null: none), so that an identical PUT is
-- told from a changed one without keeping them in clear: the goal state holds them only
-- encrypted to the VM's certificate. force_update_tag, suppress_failures and
-- enable_automatic_upgrade are the ARM properties of those names.
alter table vm_extension add column handler_state text not null default 'enabled';
alter table vm_extension add column protected_settings_sha256 text;
alter table vm_extension add column force_update_tag text;
alter table vm_extension add column suppress_failures bigint not null default 0;
alter table vm_extension add column enable_automatic_upgrade bigint not null default 0;

-- Compute's asynchronous operations on extensions, polled at
-- /subscriptions/{s}/providers/Microsoft.Compute/locations/{location}/operations/{id}.
-- Until settled, their status is read from the extension they track: kind 'put' waits for
-- the status the agent reports for sequence_number, kind 'delete' for the row to go. Once
-- an operation has ended, or a later write preempts it, its outcome is written (status
-- Succeeded, Failed or Canceled, the error, ended_at) and never changes.
create table vm_extension_operation (
    operation_id text primary key,
    subscription_id text not null,
    vm_id text not null,
    name_key text not null,
    name text not null,
    kind text not null,
    sequence_number bigint not null,
    started_at bigint not null,
    status text,
    error_code text,
    error_message text,
    ended_at bigint
);
create index vm_extension_operation_by_extension on vm_extension_operation (vm_id, name_key);
