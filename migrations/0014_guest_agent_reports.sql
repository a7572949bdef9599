-- What the VM's guest agent reports beyond status files.
--
-- handler_heartbeat: the heartbeat the agent last reported for an extension whose handler
-- manifest sets reportHeartbeat (WALinuxAgent reads the handler's heartbeat file and makes
-- it the handler's status): JSON text {"status","code","message"}, null before any.
-- Compute shows it as the handler's status in the VM's instance view
-- (vmAgent.extensionHandlers).
alter table vm_extension add column handler_heartbeat text;

-- agent_version: the version the agent registered with, the instance view's
-- vmAgentVersion (null: it gave none, shown as Unknown).
alter table vm_guest add column agent_version text;
