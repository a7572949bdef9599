-- task_revision: counts the changes to what a backup task is minted from (the VM's disks
-- and its agent's certificate). The engine mints a batch's tasks before the transaction
-- that writes them and, in that transaction, compares each VM's revision with the one it
-- minted from: one integer per VM instead of its disks and certificate read again.
alter table virtual_machine add column task_revision bigint not null default 0;
