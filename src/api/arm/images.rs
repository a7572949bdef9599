//! Microsoft.Compute platform images: the publishers, offers, SKUs and versions of the
//! catalogue (`resources::images`), as `az vm image list|show` and `az vm create --image`
//! read them, and `az`'s image alias document.

use axum::http::StatusCode;
use serde::Serialize;

use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::spec;
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::resources::images::{self, ResolvedImage, VERSIONS};
use crate::resources::lookup::OsType;

/// One entry of an image listing (`VirtualMachineImageResource`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachineImageResource {
    pub id: String,
    pub name: String,
    pub location: String,
}

/// One image version (`VirtualMachineImage`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VirtualMachineImage {
    pub id: String,
    pub name: String,
    pub location: String,
    pub properties: VirtualMachineImageProperties,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineImageProperties {
    pub hyper_v_generation: &'static str,
    pub architecture: &'static str,
    pub os_disk_image: OsDiskImage,
    pub data_disk_images: Vec<OsDiskImage>,
    pub automatic_os_upgrade_properties: AutomaticOsUpgrade,
    pub features: Vec<ImageFeature>,
    pub image_deprecation_status: ImageDeprecationStatus,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsDiskImage {
    pub operating_system: &'static str,
    pub size_in_gb: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomaticOsUpgrade {
    #[serde(rename = "automaticOSUpgradeSupported")]
    pub automatic_os_upgrade_supported: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImageFeature {
    pub name: &'static str,
    pub value: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageDeprecationStatus {
    pub image_state: &'static str,
}

/// The id prefix Azure writes for images: capitalised segments, as the service returns them.
fn image_root(subscription: &str, location: &str) -> String {
    format!("/Subscriptions/{subscription}/Providers/Microsoft.Compute/Locations/{location}")
}

fn listing(names: Vec<&str>, location: &str, id: impl Fn(&str) -> String) -> ArmResult {
    let body: Vec<VirtualMachineImageResource> = names
        .into_iter()
        .map(|name| VirtualMachineImageResource {
            id: id(name),
            name: name.to_owned(),
            location: location.to_owned(),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &body))
}

#[utoipa::path(
    get,
    path = spec::ListVmImagePublishers.path,
    operation_id = spec::ListVmImagePublishers.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "Any region: the catalogue is the same in each."),
        ApiVersion,
    ),
    responses((status = 200, description = "The publishers.", body = Vec<VirtualMachineImageResource>))
)]
pub async fn list_publishers(
    _state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
    location: &str,
) -> ArmResult {
    let root = image_root(subscription, location);
    listing(images::publishers(), location, |name| {
        format!("{root}/Publishers/{name}")
    })
}

#[utoipa::path(
    get,
    path = spec::ListVmImageOffers.path,
    operation_id = spec::ListVmImageOffers.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "Any region."),
        ("publisherName" = String, Path, description = "Matched in any case."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The publisher's offers.", body = Vec<VirtualMachineImageResource>),
        (status = 404, description = "`NotFound`: no such publisher.", body = ErrorResponse),
    )
)]
pub async fn list_offers(
    _state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
    location: &str,
    publisher: &str,
) -> ArmResult {
    let root = image_root(subscription, location);
    listing(images::offers(publisher)?, location, |name| {
        format!("{root}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{name}")
    })
}

#[utoipa::path(
    get,
    path = spec::ListVmImageSkus.path,
    operation_id = spec::ListVmImageSkus.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "Any region."),
        ("publisherName" = String, Path, description = "Matched in any case."),
        ("offer" = String, Path, description = "Matched in any case."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The offer's SKUs.", body = Vec<VirtualMachineImageResource>),
        (status = 404, description = "`NotFound`: no such offer.", body = ErrorResponse),
    )
)]
pub async fn list_skus(
    _state: &ApiState,
    _request: &ArmRequest,
    subscription: &str,
    location: &str,
    publisher: &str,
    offer: &str,
) -> ArmResult {
    let root = image_root(subscription, location);
    listing(images::skus(publisher, offer)?, location, |name| {
        format!("{root}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{name}")
    })
}

#[utoipa::path(
    get,
    path = spec::ListVmImageVersions.path,
    operation_id = spec::ListVmImageVersions.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "Any region."),
        ("publisherName" = String, Path, description = "Matched in any case."),
        ("offer" = String, Path, description = "Matched in any case."),
        ("skus" = String, Path, description = "Matched in any case."),
        ("$orderby" = Option<String>, Query, description = "`name` or `name desc` (what `az vm create` asks for)."),
        ("$top" = Option<usize>, Query, description = "At most this many."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The SKU's versions.", body = Vec<VirtualMachineImageResource>),
        (status = 404, description = "`NotFound`: no such SKU.", body = ErrorResponse),
    )
)]
pub async fn list_versions(
    _state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
    location: &str,
    publisher: &str,
    offer: &str,
    sku: &str,
) -> ArmResult {
    images::image(publisher, offer, sku)?;
    let mut versions: Vec<&str> = VERSIONS.to_vec();
    let descending = request
        .query
        .get("$orderby")
        .is_some_and(|order| order.trim().to_ascii_lowercase().ends_with("desc"));
    if descending {
        versions.reverse();
    }
    if let Some(top) = request
        .query
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
    {
        versions.truncate(top);
    }
    let root = image_root(subscription, location);
    listing(versions, location, |name| {
        format!(
            "{root}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}\
             /Versions/{name}"
        )
    })
}

#[utoipa::path(
    get,
    path = spec::GetVmImage.path,
    operation_id = spec::GetVmImage.operation_id,
    tag = "Microsoft.Compute",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("location" = String, Path, description = "Any region."),
        ("publisherName" = String, Path, description = "Matched in any case."),
        ("offer" = String, Path, description = "Matched in any case."),
        ("skus" = String, Path, description = "Matched in any case."),
        ("version" = String, Path, description = "An exact version."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The image: OS, generation, features.", body = VirtualMachineImage),
        (status = 404, description = "`NotFound`: no such image version.", body = ErrorResponse),
    )
)]
pub async fn get_image(
    _state: &ApiState,
    _request: &ArmRequest,
    path: ImageVersionPath<'_>,
) -> ArmResult {
    let resolved = images::version(path.publisher, path.offer, path.sku, path.version)?;
    let id = format!(
        "{}/Publishers/{}/ArtifactTypes/VMImage/Offers/{}/Skus/{}/Versions/{}",
        image_root(path.subscription, path.location),
        path.publisher,
        path.offer,
        path.sku,
        resolved.exact_version
    );
    Ok(json_response(
        StatusCode::OK,
        &image_body(id, path.location, &resolved),
    ))
}

/// The segments of one image version's path.
pub struct ImageVersionPath<'a> {
    pub subscription: &'a str,
    pub location: &'a str,
    pub publisher: &'a str,
    pub offer: &'a str,
    pub sku: &'a str,
    pub version: &'a str,
}

fn image_body(id: String, location: &str, resolved: &ResolvedImage) -> VirtualMachineImage {
    let image = resolved.image;
    let mut features = vec![ImageFeature {
        name: "IsAcceleratedNetworkSupported",
        value: "True",
    }];
    // Generation 2 images support Trusted Launch: `az vm create` then asks for it.
    if image.hyper_v_generation == "V2" {
        features.push(ImageFeature {
            name: "SecurityType",
            value: "TrustedLaunchSupported",
        });
        features.push(ImageFeature {
            name: "DiskControllerTypes",
            value: "SCSI, NVMe",
        });
    }
    VirtualMachineImage {
        id,
        name: resolved.exact_version.to_owned(),
        location: location.to_owned(),
        properties: VirtualMachineImageProperties {
            hyper_v_generation: image.hyper_v_generation,
            architecture: image.architecture,
            os_disk_image: OsDiskImage {
                operating_system: match image.os_type {
                    OsType::Linux => "Linux",
                    OsType::Windows => "Windows",
                },
                size_in_gb: image.os_disk_gib,
            },
            data_disk_images: Vec::new(),
            automatic_os_upgrade_properties: AutomaticOsUpgrade {
                automatic_os_upgrade_supported: false,
            },
            features,
            image_deprecation_status: ImageDeprecationStatus {
                image_state: "Active",
            },
        },
    }
}

#[utoipa::path(
    get,
    path = spec::GetVmImageAliases.path,
    operation_id = spec::GetVmImageAliases.operation_id,
    tag = "basics",
    security(()),
    responses((status = 200, description = "`az`'s image alias document (the `vmImageAliasDoc` of the metadata endpoints); no token needed.", body = Object))
)]
pub fn image_aliases() -> ArmResult {
    Ok(json_response(StatusCode::OK, &images::alias_document()))
}

/// The image operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_publishers,
        list_offers,
        list_skus,
        list_versions,
        get_image,
        image_aliases
    ),
    components(schemas(
        VirtualMachineImageResource,
        VirtualMachineImage,
        VirtualMachineImageProperties,
        OsDiskImage,
        AutomaticOsUpgrade,
        ImageFeature,
        ImageDeprecationStatus
    ))
)]
pub struct ImagesApi;
