//! Account and container operations: list containers, account info, create, delete,
//! properties, metadata, ACL (stored access policies) and List Blobs.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use vaultsim_protocol::blob_xml::{self, BlobListItem};

use crate::blob::engine::{
    BlobProperties, ContainerInfo, ListBlobsQuery, ListItem, ListMarker, PublicAccess, Timestamp,
};
use crate::origin::request_origin;

use super::error::BlobApiError;
use super::headers::{self, put};
use super::xml::parse_signed_identifiers;
use super::{empty, small_body, xml_response, BlobRequest};

const DEFAULT_MAX_RESULTS: usize = 5000;
const MAX_ACL_BODY: usize = 64 << 10;

pub fn account_info() -> Response {
    let mut response = empty(StatusCode::OK);
    let h = response.headers_mut();
    put(h, "x-ms-sku-name", "Standard_LRS");
    put(h, "x-ms-account-kind", "StorageV2");
    put(h, "x-ms-is-hns-enabled", "false");
    response
}

/// Azure's container naming rules: 3-63 characters, lower-case letters, digits and
/// single hyphens, starting and ending with a letter or digit.
fn validate_container_name(name: &str) -> Result<(), BlobApiError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(BlobApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            "The specified resource name contains invalid characters.",
        ))
    }
}

fn public_access(request: &BlobRequest) -> Result<Option<PublicAccess>, BlobApiError> {
    match headers::text(request.headers(), "x-ms-blob-public-access")? {
        None => Ok(None),
        Some("container") => Ok(Some(PublicAccess::Container)),
        Some("blob") => Ok(Some(PublicAccess::Blob)),
        Some(other) => Err(BlobApiError::invalid_header(
            "x-ms-blob-public-access",
            other,
            "Expected container or blob.",
        )),
    }
}

fn container_headers(response: &mut Response, info: &ContainerInfo) {
    headers::write_ack(response.headers_mut(), info.etag, info.modified);
}

pub fn create(request: BlobRequest) -> Result<Response, BlobApiError> {
    validate_container_name(request.container())?;
    let metadata = request.metadata()?;
    let access = public_access(&request)?;
    let info = request
        .store
        .create_container(request.container(), metadata, access)?;
    let mut response = empty(StatusCode::CREATED);
    container_headers(&mut response, &info);
    Ok(response)
}

pub fn delete(request: BlobRequest) -> Result<Response, BlobApiError> {
    let conditions = headers::conditions(request.headers())?;
    request
        .store
        .delete_container(request.container(), &conditions)?;
    Ok(empty(StatusCode::ACCEPTED))
}

pub fn properties(request: BlobRequest) -> Result<Response, BlobApiError> {
    let info = request.store.container(request.container())?;
    let mut response = empty(StatusCode::OK);
    let h = response.headers_mut();
    put(h, "etag", info.etag.to_string());
    put(h, "last-modified", info.modified.to_http_date());
    put(h, "x-ms-lease-state", "available");
    put(h, "x-ms-lease-status", "unlocked");
    put(h, "x-ms-has-immutability-policy", "false");
    put(h, "x-ms-has-legal-hold", "false");
    if let Some(access) = info.public_access {
        put(h, "x-ms-blob-public-access", access_name(access));
    }
    headers::write_metadata(&mut response, &info.metadata);
    Ok(response)
}

fn access_name(access: PublicAccess) -> &'static str {
    match access {
        PublicAccess::Blob => "blob",
        PublicAccess::Container => "container",
    }
}

pub fn set_metadata(request: BlobRequest) -> Result<Response, BlobApiError> {
    let metadata = request.metadata()?;
    let conditions = headers::conditions(request.headers())?;
    let info = request
        .store
        .set_container_metadata(request.container(), metadata, &conditions)?;
    let mut response = empty(StatusCode::OK);
    container_headers(&mut response, &info);
    Ok(response)
}

pub fn get_acl(request: BlobRequest) -> Result<Response, BlobApiError> {
    let info = request.store.container(request.container())?;
    let document = blob_xml::SignedIdentifiers {
        items: info
            .identifiers
            .iter()
            .map(|si| blob_xml::SignedIdentifier {
                id: si.id.clone(),
                access_policy: blob_xml::AccessPolicy {
                    start: si.start.clone(),
                    expiry: si.expiry.clone(),
                    permission: si.permission.clone(),
                },
            })
            .collect(),
    };
    let mut response = xml_response(&document)?;
    let h = response.headers_mut();
    put(h, "etag", info.etag.to_string());
    put(h, "last-modified", info.modified.to_http_date());
    if let Some(access) = info.public_access {
        put(h, "x-ms-blob-public-access", access_name(access));
    }
    Ok(response)
}

pub async fn set_acl(request: BlobRequest) -> Result<Response, BlobApiError> {
    let access = public_access(&request)?;
    let conditions = headers::conditions(request.headers())?;
    let container = request.container().to_owned();
    let store = request.store.clone();
    let body = small_body(request.body, MAX_ACL_BODY).await?;
    let identifiers = parse_signed_identifiers(&body)?;
    let info = store.set_container_acl(&container, access, identifiers, &conditions)?;
    let mut response = empty(StatusCode::OK);
    container_headers(&mut response, &info);
    Ok(response)
}

fn max_results(request: &BlobRequest) -> Result<usize, BlobApiError> {
    match request.query.get("maxresults") {
        None => Ok(DEFAULT_MAX_RESULTS),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=DEFAULT_MAX_RESULTS).contains(n))
            .ok_or_else(|| BlobApiError::invalid_query("maxresults", v, "Expected 1 to 5000.")),
    }
}

fn service_endpoint(request: &BlobRequest) -> String {
    let origin = request_origin(&request.parts, None);
    format!("{origin}/{}/", request.target.account)
}

pub fn list_containers(request: BlobRequest) -> Result<Response, BlobApiError> {
    let prefix = request.query.get("prefix").unwrap_or_default();
    let marker = request.query.get("marker").filter(|m| !m.is_empty());
    let max = max_results(&request)?;
    let include_metadata = request
        .query
        .get("include")
        .is_some_and(|i| i.split(',').any(|x| x == "metadata"));
    let (containers, next) = request.store.list_containers(prefix, marker, max);
    let items = containers
        .into_iter()
        .map(|c| blob_xml::ContainerItem {
            properties: blob_xml::ContainerProperties {
                last_modified: c.modified.to_http_date(),
                etag: c.etag.to_string(),
                lease_status: "unlocked".into(),
                lease_state: "available".into(),
                public_access: c.public_access.map(|a| access_name(a).into()),
                has_immutability_policy: false,
                has_legal_hold: false,
            },
            metadata: include_metadata.then_some(blob_xml::Metadata(c.metadata)),
            name: c.name,
        })
        .collect();
    xml_response(&blob_xml::ContainerList {
        service_endpoint: service_endpoint(&request),
        prefix: prefix.to_owned(),
        marker: marker.unwrap_or_default().to_owned(),
        max_results: max,
        containers: blob_xml::Containers { items },
        next_marker: next.unwrap_or_default(),
    })
}

/// List markers are opaque to clients: base64 of the blob name and snapshot time.
fn encode_marker(marker: &ListMarker) -> String {
    let snapshot = marker.snapshot.map(|s| s.0.to_string()).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\n{snapshot}", marker.name))
}

fn decode_marker(text: &str) -> Option<ListMarker> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (name, snapshot) = raw.rsplit_once('\n')?;
    let snapshot = match snapshot {
        "" => None,
        s => Some(Timestamp(s.parse().ok()?)),
    };
    Some(ListMarker {
        name: name.to_owned(),
        snapshot,
    })
}

pub fn list_blobs(request: BlobRequest) -> Result<Response, BlobApiError> {
    let prefix = request.query.get("prefix").unwrap_or_default().to_owned();
    let delimiter = request.query.get("delimiter").map(str::to_owned);
    let raw_marker = request.query.get("marker").filter(|m| !m.is_empty());
    let marker = raw_marker
        .map(|m| {
            decode_marker(m).ok_or_else(|| {
                BlobApiError::invalid_query(
                    "marker",
                    m,
                    "The marker is not one this service issued.",
                )
            })
        })
        .transpose()?;
    let include: Vec<&str> = request
        .query
        .get("include")
        .map(|i| i.split(',').collect())
        .unwrap_or_default();
    let max = max_results(&request)?;
    let query = ListBlobsQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        marker,
        max_results: max,
        include_snapshots: include.contains(&"snapshots"),
    };
    let page = request.store.list_blobs(request.container(), &query)?;
    let include_metadata = include.contains(&"metadata");
    let items = page
        .items
        .into_iter()
        .map(|item| match item {
            ListItem::Prefix(name) => BlobListItem::BlobPrefix(blob_xml::BlobPrefix { name }),
            ListItem::Blob {
                name,
                snapshot,
                properties,
            } => BlobListItem::Blob(Box::new(blob_xml::BlobItem {
                name,
                snapshot: snapshot.map(|s| s.to_snapshot_id()),
                metadata: include_metadata.then(|| blob_xml::Metadata(properties.metadata.clone())),
                properties: listed_properties(*properties),
            })),
        })
        .collect();
    xml_response(&blob_xml::BlobList {
        service_endpoint: service_endpoint(&request),
        container_name: request.container().to_owned(),
        prefix,
        marker: raw_marker.unwrap_or_default().to_owned(),
        max_results: max,
        delimiter,
        blobs: blob_xml::Blobs { items },
        next_marker: page
            .next_marker
            .as_ref()
            .map(encode_marker)
            .unwrap_or_default(),
    })
}

/// A blob's `<Properties>` in a listing: every content property, empty when unset.
fn listed_properties(properties: BlobProperties) -> blob_xml::BlobProperties {
    let c = properties.content;
    blob_xml::BlobProperties {
        creation_time: properties.created.to_http_date(),
        last_modified: properties.modified.to_http_date(),
        etag: properties.etag.to_string(),
        content_length: properties.content_length,
        content_type: c
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        content_encoding: c.content_encoding.unwrap_or_default(),
        content_language: c.content_language.unwrap_or_default(),
        content_md5: c
            .content_md5
            .map(|m| base64::engine::general_purpose::STANDARD.encode(m))
            .unwrap_or_default(),
        content_disposition: c.content_disposition.unwrap_or_default(),
        cache_control: c.cache_control.unwrap_or_default(),
        sequence_number: properties.sequence_number,
        blob_type: properties.blob_type.into(),
        lease_status: "unlocked".into(),
        lease_state: "available".into(),
        server_encrypted: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_follow_azure_rules() {
        for good in ["abc", "vm-disks-1", "bcdrextensionlogs-0a1b"] {
            assert!(validate_container_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Upper", "a--b", "-ab", "ab-", "a_b", &"a".repeat(64)] {
            assert!(validate_container_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_markers_round_trip() {
        let marker = ListMarker {
            name: "dir/a\nb".into(),
            snapshot: Some(Timestamp(42)),
        };
        assert_eq!(decode_marker(&encode_marker(&marker)), Some(marker));
        assert_eq!(decode_marker("not-a-marker!"), None);
    }
}
