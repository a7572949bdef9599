-- A VM's power state as Compute reports it (PowerState/running, /stopped, /deallocated):
-- changed by start, powerOff, deallocate and restart. A VM that is not running has no guest
-- agent to reach, so its backups are taken host-side (crash-consistent) instead.
alter table virtual_machine add column power_state text not null default 'running';
