-- Who runs a transfer or a restore, and until when: several engine processes share one
-- database, and one that dies mid-transfer must leave its work to the others without two
-- of them running it at once. The owner is an engine instance's id; the lease is renewed
-- while the work runs and, once it lapses (real time, microseconds since the epoch, not
-- the simulated clock, which can jump), any engine may take the work over.
alter table backup_task add column lease_owner text;
alter table backup_task add column lease_until bigint;
alter table restore_task add column lease_owner text;
alter table restore_task add column lease_until bigint;
