-- The backup engine: simulated time, schedules, the guest API's registrations and goal
-- states, backup and restore tasks, and what a recovery point needs to be expired and
-- restored.

-- Simulated time, shared by every replica. One row (id 1) once the clock was set: pinned
-- at `pinned_at` (µs), or running at system time plus `offset_micros`. No row: system time.
create table sim_clock (
    id bigint primary key,
    pinned_at bigint,
    offset_micros bigint not null,
    updated_at bigint not null
);

-- The next instant (µs) a protected item's policy runs; null when it has no schedule
-- (protection stopped). A replica claims a run by moving this forward with a
-- compare-and-set, in the transaction that creates the run's job. The index walks due runs in
-- the order the scheduler takes them.
alter table protected_item add column next_backup_at bigint;
create index protected_item_by_next_backup on protected_item (next_backup_at, vault_id, item_key);

-- An agent registered for a VM through the guest API. The credential is a random 256-bit
-- value, stored as its SHA-256 like principal secrets. The certificate (PEM) is what
-- protected settings are encrypted to; its thumbprint is the SHA-1 of its DER, upper-case hex.
create table vm_guest (
    vm_id text primary key references virtual_machine (vm_id) on delete cascade,
    credential_sha256 text not null,
    certificate_pem text not null,
    certificate_thumbprint text not null,
    registered_at bigint not null,
    last_seen_at bigint not null
);

-- A VM's goal state: the incarnation grows with every change an agent must act on; each
-- extension carries its sequence number and the handlerSettings a handler finds in
-- config/<seq>.settings (JSON), and the last status the agent reported for it (JSON).
alter table virtual_machine add column goal_state_incarnation bigint not null default 0;
alter table vm_extension add column sequence_number bigint not null default 0;
alter table vm_extension add column handler_settings text;
alter table vm_extension add column handler_status text;

-- One attempt of a backup job: the task the snapshot extension receives. `task_id` is
-- `<job guid>_<attempt>`, the idempotency key from minting to the recovery point.
-- state: AwaitingSnapshot -> Transferring -> Completed | Failed.
create table backup_task (
    task_id text primary key,
    job_id text not null,
    attempt bigint not null,
    vault_id text not null,
    item_key text not null,
    vm_id text not null,
    trigger_kind text not null,
    scheduled_at bigint not null,
    rp_expires_at bigint,
    state text not null,
    deadline_at bigint not null,
    status_container text not null,
    status_blob text not null,
    logs_blob text not null,
    status_etag text,
    snapshot text,
    bytes_transferred bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
-- One scheduled run of an item is one job, however many replicas schedule.
create unique index backup_task_scheduled_once on backup_task (vault_id, item_key, scheduled_at, attempt)
    where trigger_kind = 'Scheduled';
create index backup_task_by_state on backup_task (state, deadline_at);
create index backup_task_by_item on backup_task (vault_id, item_key, scheduled_at);
create index backup_task_by_job on backup_task (job_id);

-- A restore in progress or done: one per Restore job.
create table restore_task (
    job_id text primary key,
    vault_id text not null,
    item_key text not null,
    recovery_point_id text not null,
    request text not null,
    state text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index restore_task_by_state on restore_task (state);

-- What retention and restore need of a recovery point: the task that made it (unique, so
-- a recovery point is never created twice), when it expires (null: never), when its
-- instant snapshots expire (null once deleted), and per disk where its data lives (JSON).
alter table recovery_point add column task_id text;
create unique index recovery_point_by_task on recovery_point (task_id);
alter table recovery_point add column expires_at bigint;
alter table recovery_point add column instant_expires_at bigint;
alter table recovery_point add column disks text;
create index recovery_point_by_expiry on recovery_point (expires_at);
create index recovery_point_by_instant_expiry on recovery_point (instant_expires_at);
