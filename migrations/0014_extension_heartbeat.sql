-- The heartbeat the VM's guest agent last reported for an extension whose handler manifest
-- sets reportHeartbeat (WALinuxAgent reads the handler's heartbeat file and makes it the
-- handler's status): JSON text {"status","code","message"}, null before any. Compute shows
-- it as the handler's status in the VM's instance view (vmAgent.extensionHandlers).
alter table vm_extension add column handler_heartbeat text;
