-- Protection lists page through a vault's protected items in item-key order (keyset on
-- `item_key`), so each filter the lists take has an index ending in the key: by policy
-- (`$filter=policyName eq ..`) and by the VM's name (`friendlyName eq ..`, matched
-- case-insensitively).
create index protected_item_by_policy_page on protected_item (vault_id, policy_key, item_key);
create index protected_item_by_friendly_name on protected_item (vault_id, lower(vm_name), item_key);

-- Job lists filtered by operation or status (`az backup job list --status InProgress`) walk
-- these newest first instead of every job of the vault.
create index backup_job_by_operation on backup_job (vault_id, operation, start_time, job_id);
create index backup_job_by_status on backup_job (vault_id, status, start_time, job_id);
