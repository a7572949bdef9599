-- What a VM PUT sets beyond what 0001 keeps, so that a VM GET returns it as ARM does.

-- `osProfile` without secrets (computerName, adminUsername, linux/windowsConfiguration) as
-- JSON; null when the VM was created without one.
alter table virtual_machine add column os_profile text;

-- A disk's createOption, caching and managedDisk.storageAccountType.
alter table vm_disk add column create_option text not null default 'Empty';
alter table vm_disk add column caching text not null default 'None';
alter table vm_disk add column storage_account_type text not null default 'Premium_LRS';
