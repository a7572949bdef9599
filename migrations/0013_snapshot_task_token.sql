-- The SHA-256 (hex) of the task's `snapshotTaskToken`: a random secret minted with the
-- task and handed to the extension in the public objectStr. The wire server's
-- presnapshot/dosnapshot calls carry no credential (Azure's host knows the VM by its
-- address, which vaultsim cannot), so the token is what lets a call act on the task: the
-- taskId alone shows in job details. Null for tasks minted before: their calls need none.
alter table backup_task add column snapshot_task_token_sha256 text;
