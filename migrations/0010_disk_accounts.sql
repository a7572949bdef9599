-- The storage account a VM disk's blob lives in, by name: the service may spread disks
-- over several accounts (blob nodes, or external accounts), as Azure does. Null for disks
-- created before there was a choice: they are in the primary account.
alter table vm_disk add column storage_account text;
