-- Vault settings (publicNetworkAccess, securitySettings, monitoringSettings,
-- redundancySettings, restoreSettings) as the vault's `properties` JSON shows them: the
-- defaults a new vault has, overlaid with what clients set. Existing rows get none and
-- show the defaults.
alter table vault add column settings text not null default '{}';
