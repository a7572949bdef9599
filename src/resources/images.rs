//! The platform image catalogue `az vm create --image <alias>` and templates read: the
//! publishers, offers, SKUs and versions of the images `az`'s aliases name, each with the
//! OS type a VM created from it gets. No image has bytes: a VM's disks are empty page
//! blobs, whatever its image.

use super::lookup::OsType;
use super::ResourceError;

/// One image SKU and what a VM made from it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformImage {
    /// The alias `az vm create --image` takes for it.
    pub alias: &'static str,
    pub publisher: &'static str,
    pub offer: &'static str,
    pub sku: &'static str,
    pub os_type: OsType,
    /// `V1` or `V2`.
    pub hyper_v_generation: &'static str,
    /// `x64` or `Arm64`.
    pub architecture: &'static str,
    /// The OS disk an image of it brings, GiB.
    pub os_disk_gib: u64,
}

/// The versions every image has, newest last (Azure's are `major.minor.build` dates).
pub const VERSIONS: [&str; 3] = ["2024.10.01", "2025.06.15", "2026.11.20"];

const fn linux(
    alias: &'static str,
    publisher: &'static str,
    offer: &'static str,
    sku: &'static str,
    hyper_v_generation: &'static str,
) -> PlatformImage {
    PlatformImage {
        alias,
        publisher,
        offer,
        sku,
        os_type: OsType::Linux,
        hyper_v_generation,
        architecture: "x64",
        os_disk_gib: 30,
    }
}

const fn windows(
    alias: &'static str,
    sku: &'static str,
    hyper_v_generation: &'static str,
) -> PlatformImage {
    PlatformImage {
        alias,
        publisher: "MicrosoftWindowsServer",
        offer: "WindowsServer",
        sku,
        os_type: OsType::Windows,
        hyper_v_generation,
        architecture: "x64",
        os_disk_gib: 127,
    }
}

/// The catalogue: the images of `az`'s alias list (its built-in copy and the current
/// document), under the publisher, offer and SKU names Azure gives them.
pub const CATALOGUE: [PlatformImage; 20] = [
    linux(
        "Ubuntu2204",
        "Canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts-gen2",
        "V2",
    ),
    linux(
        "Ubuntu2404",
        "Canonical",
        "ubuntu-24_04-lts",
        "server",
        "V2",
    ),
    linux(
        "Ubuntu2404Pro",
        "Canonical",
        "ubuntu-24_04-lts",
        "ubuntu-pro",
        "V2",
    ),
    linux("Debian11", "Debian", "debian-11", "11-backports-gen2", "V2"),
    linux("Debian12", "Debian", "debian-12", "12-gen2", "V2"),
    linux("CentOS85Gen2", "OpenLogic", "CentOS", "8_5-gen2", "V2"),
    linux(
        "FlatcarLinuxFreeGen2",
        "kinvolk",
        "flatcar-container-linux-free",
        "stable-gen2",
        "V2",
    ),
    linux(
        "OpenSuseLeap154Gen2",
        "SUSE",
        "openSUSE-leap-15-4",
        "gen2",
        "V2",
    ),
    linux("RHELRaw8LVMGen2", "RedHat", "RHEL", "8-lvm-gen2", "V2"),
    linux("SuseSles15SP3", "SUSE", "sles-15-sp3", "gen2", "V2"),
    linux("SuseSles15SP5", "SUSE", "sles-15-sp5", "gen2", "V2"),
    linux(
        "AzureLinux4",
        "microsoftazurelinux",
        "azurelinux-4",
        "4",
        "V2",
    ),
    linux(
        "AzureLinux4Gen1",
        "microsoftazurelinux",
        "azurelinux-4",
        "4-gen1",
        "V1",
    ),
    windows("Win2025Datacenter", "2025-datacenter-g2", "V2"),
    windows("Win2022Datacenter", "2022-datacenter-g2", "V2"),
    windows(
        "Win2022AzureEditionCore",
        "2022-datacenter-azure-edition-core",
        "V2",
    ),
    windows("Win2019Datacenter", "2019-datacenter-gensecond", "V2"),
    windows("Win2016Datacenter", "2016-datacenter-gensecond", "V2"),
    windows("Win2012R2Datacenter", "2012-R2-Datacenter", "V1"),
    windows("Win2012Datacenter", "2012-Datacenter", "V1"),
];

/// An image a VM names: `version` may be `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

/// The image a reference names, with its version resolved (`latest` is the newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    pub image: PlatformImage,
    pub exact_version: &'static str,
}

/// The publishers, in name order.
pub fn publishers() -> Vec<&'static str> {
    let mut names: Vec<&str> = CATALOGUE.iter().map(|i| i.publisher).collect();
    names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
}

/// The offers of a publisher; 404 when it has none here.
pub fn offers(publisher: &str) -> Result<Vec<&'static str>, ResourceError> {
    let mut names: Vec<&str> = CATALOGUE
        .iter()
        .filter(|i| i.publisher.eq_ignore_ascii_case(publisher))
        .map(|i| i.offer)
        .collect();
    names.dedup();
    non_empty(names)
}

/// The SKUs of an offer; 404 when it has none here.
pub fn skus(publisher: &str, offer: &str) -> Result<Vec<&'static str>, ResourceError> {
    non_empty(
        CATALOGUE
            .iter()
            .filter(|i| {
                i.publisher.eq_ignore_ascii_case(publisher) && i.offer.eq_ignore_ascii_case(offer)
            })
            .map(|i| i.sku)
            .collect(),
    )
}

/// The image of a SKU; 404 `NotFound` ("Artifact: VMImage was not found.") as Azure.
pub fn image(publisher: &str, offer: &str, sku: &str) -> Result<PlatformImage, ResourceError> {
    CATALOGUE
        .iter()
        .find(|i| {
            i.publisher.eq_ignore_ascii_case(publisher)
                && i.offer.eq_ignore_ascii_case(offer)
                && i.sku.eq_ignore_ascii_case(sku)
        })
        .copied()
        .ok_or_else(not_found)
}

/// One version of a SKU's image (`latest` is not a version here); 404 as Azure.
pub fn version(
    publisher: &str,
    offer: &str,
    sku: &str,
    version: &str,
) -> Result<ResolvedImage, ResourceError> {
    let image = image(publisher, offer, sku)?;
    let exact_version = VERSIONS
        .iter()
        .find(|v| **v == version)
        .ok_or_else(not_found)?;
    Ok(ResolvedImage {
        image,
        exact_version,
    })
}

/// The image a VM's `imageReference` names; 404 `PlatformImageNotFound` as Azure answers a
/// VM PUT naming an image it does not have.
pub fn resolve(reference: &ImageReference) -> Result<ResolvedImage, ResourceError> {
    let wanted = if reference.version.eq_ignore_ascii_case("latest") {
        VERSIONS[VERSIONS.len() - 1]
    } else {
        reference.version.as_str()
    };
    version(
        &reference.publisher,
        &reference.offer,
        &reference.sku,
        wanted,
    )
    .map_err(|_| {
        ResourceError::not_found(
            "PlatformImageNotFound",
            format!(
                "The platform image '{}:{}:{}:{}' is not available. Verify that all fields in \
                 the storage profile are correct. For more details about storage profile \
                 information, please refer to https://aka.ms/storageprofile",
                reference.publisher, reference.offer, reference.sku, reference.version
            ),
        )
    })
}

fn non_empty(names: Vec<&'static str>) -> Result<Vec<&'static str>, ResourceError> {
    if names.is_empty() {
        Err(not_found())
    } else {
        Ok(names)
    }
}

fn not_found() -> ResourceError {
    ResourceError::not_found("NotFound", "Artifact: VMImage was not found.")
}

/// `az`'s image alias document (`vmImageAliasDoc`), in the shape of Azure's: a template
/// whose `aliases` output maps `Linux` and `Windows` to `{alias: {publisher, offer, sku,
/// version, architecture}}`.
pub fn alias_document() -> serde_json::Value {
    let mut linux = serde_json::Map::new();
    let mut windows = serde_json::Map::new();
    for image in CATALOGUE {
        let entry = serde_json::json!({
            "publisher": image.publisher,
            "offer": image.offer,
            "sku": image.sku,
            "version": "latest",
            "architecture": image.architecture,
        });
        match image.os_type {
            OsType::Linux => linux.insert(image.alias.to_owned(), entry),
            OsType::Windows => windows.insert(image.alias.to_owned(), entry),
        };
    }
    serde_json::json!({
        "$schema": "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json",
        "contentVersion": "1.0.0.0",
        "parameters": {},
        "variables": {},
        "resources": [],
        "outputs": {"aliases": {"type": "object", "value": {"Linux": linux, "Windows": windows}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(publisher: &str, offer: &str, sku: &str, version: &str) -> ImageReference {
        ImageReference {
            publisher: publisher.into(),
            offer: offer.into(),
            sku: sku.into(),
            version: version.into(),
        }
    }

    #[test]
    fn the_aliases_az_names_resolve_to_their_os() {
        let ubuntu = resolve(&reference(
            "canonical",
            "0001-com-ubuntu-server-jammy",
            "22_04-LTS-gen2",
            "latest",
        ))
        .unwrap();
        assert_eq!(ubuntu.image.os_type, OsType::Linux);
        assert_eq!(ubuntu.exact_version, "2026.11.20");
        let windows = resolve(&reference(
            "MicrosoftWindowsServer",
            "WindowsServer",
            "2022-datacenter-g2",
            "2025.06.15",
        ))
        .unwrap();
        assert_eq!(windows.image.os_type, OsType::Windows);
        assert_eq!(windows.exact_version, "2025.06.15");
        for alias in ["Ubuntu2404", "Debian12", "Win2019Datacenter"] {
            assert!(CATALOGUE.iter().any(|i| i.alias == alias), "{alias}");
        }
    }

    #[test]
    fn an_unknown_image_or_version_is_not_found_as_azure_says() {
        let missing = resolve(&reference("Canonical", "no-such-offer", "x", "latest"));
        assert!(
            matches!(
                missing,
                Err(ResourceError::NotFound {
                    code: "PlatformImageNotFound",
                    ..
                })
            ),
            "{missing:?}"
        );
        let old = resolve(&reference("Debian", "debian-12", "12-gen2", "1.0.0"));
        assert!(old.is_err());
        assert!(matches!(
            offers("nobody"),
            Err(ResourceError::NotFound {
                code: "NotFound",
                ..
            })
        ));
    }

    #[test]
    fn listings_walk_publisher_offer_sku() {
        assert!(publishers().contains(&"Canonical"));
        assert_eq!(
            offers("Canonical").unwrap(),
            ["0001-com-ubuntu-server-jammy", "ubuntu-24_04-lts"]
        );
        assert_eq!(
            skus("canonical", "UBUNTU-24_04-LTS").unwrap(),
            ["server", "ubuntu-pro"]
        );
    }

    #[test]
    fn the_alias_document_has_every_image_under_its_os() {
        let document = alias_document();
        let aliases = &document["outputs"]["aliases"]["value"];
        assert_eq!(aliases["Linux"]["Ubuntu2204"]["sku"], "22_04-lts-gen2");
        assert_eq!(
            aliases["Windows"]["Win2022Datacenter"]["offer"],
            "WindowsServer"
        );
        let count = aliases["Linux"].as_object().unwrap().len()
            + aliases["Windows"].as_object().unwrap().len();
        assert_eq!(count, CATALOGUE.len());
    }
}
