-- The task's account skew: the storage account's time less the service clock's when the
-- task was dispatched, in whole seconds, by which its SAS windows were signed and its
-- snapshots are judged. Measured once, at dispatch: when the simulated clock is pinned
-- and the account keeps real time, the skew grows with every real second, and a skew
-- measured later would make a snapshot taken after the task look older than it. Zero for
-- tasks dispatched before: every account then was vaultsim's own, which follows the
-- simulated clock.
alter table backup_task add column account_skew_seconds bigint not null default 0;
