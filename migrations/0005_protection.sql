-- Protection lists page through a vault's protected items in item-key order (keyset on
-- `item_key`), so each filter the lists take has an index ending in the key: by policy
-- (`$filter=policyName eq ..`) and by the VM's name (`friendlyName eq ..`, matched
-- case-insensitively).
create index protected_item_by_policy_page on protected_item (vault_id, policy_key, item_key);
create index protected_item_by_friendly_name on protected_item (vault_id, lower(vm_name), item_key);
