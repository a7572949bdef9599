//! The resource providers the simulator serves, as ARM's `providers` routes list them.
//! `az resource show|list|create` without `--api-version` reads these to pick the first
//! non-preview api-version of a type, so each type lists the versions newest first, and
//! only versions this service accepts (it accepts any) and Azure clients send.

use super::ResourceError;

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderResourceType {
    pub resource_type: &'static str,
    /// Newest first.
    pub api_versions: &'static [&'static str],
}

/// One served provider namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    pub namespace: &'static str,
    pub resource_types: &'static [ProviderResourceType],
}

/// The regions listed for every type. ARM requests may name any region; clients that
/// check a location against this list find the common ones, and guest registrations must
/// name one of them ([`region`]).
pub const LOCATIONS: [&str; 12] = [
    "East US",
    "East US 2",
    "West US",
    "West US 2",
    "Central US",
    "North Europe",
    "West Europe",
    "UK South",
    "France Central",
    "Southeast Asia",
    "Japan East",
    "Australia East",
];

/// The region `location` names, in ARM's normalized form (`West Europe` and `westeurope`
/// are `westeurope`); `None` when it is not one of [`LOCATIONS`].
pub fn region(location: &str) -> Option<String> {
    let normalized = |name: &str| name.replace(' ', "").to_ascii_lowercase();
    let wanted = normalized(location.trim());
    LOCATIONS
        .iter()
        .map(|name| normalized(name))
        .find(|name| *name == wanted)
}

const RESOURCES_VERSIONS: &[&str] = &["2024-11-01", "2024-03-01", "2022-12-01", "2021-04-01"];
const COMPUTE_VERSIONS: &[&str] = &[
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-09-01",
    "2023-03-01",
    "2022-03-01",
];
const RECOVERY_SERVICES_VERSIONS: &[&str] = &[
    "2026-07-01",
    "2025-08-01",
    "2025-02-01",
    "2024-04-01",
    "2023-04-01",
    "2021-03-01",
    "2016-06-01",
];
const NETWORK_VERSIONS: &[&str] = &[
    "2024-05-01",
    "2024-01-01",
    "2023-11-01",
    "2023-09-01",
    "2023-05-01",
    "2022-11-01",
];
const STORAGE_VERSIONS: &[&str] = &[
    "2024-01-01",
    "2023-05-01",
    "2023-01-01",
    "2022-09-01",
    "2021-09-01",
    "2016-01-01",
];

const fn served(
    resource_type: &'static str,
    api_versions: &'static [&'static str],
) -> ProviderResourceType {
    ProviderResourceType {
        resource_type,
        api_versions,
    }
}

/// Every namespace the management API serves routes of, with the served types.
pub const PROVIDERS: [Provider; 5] = [
    Provider {
        namespace: "Microsoft.Resources",
        resource_types: &[
            served("tenants", RESOURCES_VERSIONS),
            served("subscriptions", RESOURCES_VERSIONS),
            served("resourceGroups", RESOURCES_VERSIONS),
            served("providers", RESOURCES_VERSIONS),
            served("deployments", RESOURCES_VERSIONS),
            served("deployments/operations", RESOURCES_VERSIONS),
            served("deploymentOperations", RESOURCES_VERSIONS),
        ],
    },
    Provider {
        namespace: "Microsoft.Compute",
        resource_types: &[
            served("virtualMachines", COMPUTE_VERSIONS),
            served("virtualMachines/extensions", COMPUTE_VERSIONS),
            served("locations", COMPUTE_VERSIONS),
        ],
    },
    Provider {
        namespace: "Microsoft.Network",
        resource_types: &[
            served("virtualNetworks", NETWORK_VERSIONS),
            served("virtualNetworks/subnets", NETWORK_VERSIONS),
            served("networkSecurityGroups", NETWORK_VERSIONS),
            served("publicIPAddresses", NETWORK_VERSIONS),
            served("networkInterfaces", NETWORK_VERSIONS),
        ],
    },
    Provider {
        namespace: "Microsoft.RecoveryServices",
        resource_types: &[
            served("vaults", RECOVERY_SERVICES_VERSIONS),
            served("vaults/backupPolicies", RECOVERY_SERVICES_VERSIONS),
            served(
                "vaults/backupFabrics/protectionContainers/protectedItems",
                RECOVERY_SERVICES_VERSIONS,
            ),
            served("locations", RECOVERY_SERVICES_VERSIONS),
            served("locations/backupStatus", RECOVERY_SERVICES_VERSIONS),
        ],
    },
    Provider {
        namespace: "Microsoft.Storage",
        resource_types: &[served("storageAccounts", STORAGE_VERSIONS)],
    },
];

/// A served namespace, matched in any case. 404 `InvalidResourceNamespace`, as ARM
/// answers, for a namespace not served.
pub fn get(namespace: &str) -> Result<&'static Provider, ResourceError> {
    PROVIDERS
        .iter()
        .find(|p| p.namespace.eq_ignore_ascii_case(namespace))
        .ok_or_else(|| {
            ResourceError::not_found(
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            )
        })
}

/// The newest api-version of a served namespace (of its first type), for reading a
/// resource whose api-version nobody gave; Microsoft.Resources' for a namespace not served.
pub fn newest_api_version(namespace: &str) -> &'static str {
    let provider = get(namespace).unwrap_or(&PROVIDERS[0]);
    provider.resource_types[0].api_versions[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_one_of_the_locations_in_any_spelling() {
        assert_eq!(region("West Europe").as_deref(), Some("westeurope"));
        assert_eq!(region(" EASTUS2 ").as_deref(), Some("eastus2"));
        for unknown in ["mars", "", "west-europe", &"x".repeat(100_000)] {
            assert_eq!(region(unknown), None, "{unknown:.20}");
        }
    }

    #[test]
    fn namespaces_match_in_any_case() {
        assert_eq!(
            get("microsoft.COMPUTE").unwrap().namespace,
            "Microsoft.Compute"
        );
        assert_eq!(
            get("microsoft.network").unwrap().namespace,
            "Microsoft.Network"
        );
        assert!(get("Microsoft.Web").is_err());
    }

    #[test]
    fn api_versions_are_listed_newest_first() {
        for provider in PROVIDERS {
            for t in provider.resource_types {
                assert!(
                    t.api_versions.windows(2).all(|w| w[0] > w[1]),
                    "{}/{}",
                    provider.namespace,
                    t.resource_type
                );
            }
        }
    }
}
