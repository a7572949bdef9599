-- A VM PUT checks that its disk names are free in the resource group by looking up each
-- name (case-insensitively) instead of reading every disk of the group.
create index vm_disk_by_name on vm_disk (lower(name));
