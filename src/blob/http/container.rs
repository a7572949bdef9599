//! Account and container operations: list containers, account info, create, delete,
//! properties, metadata, ACL (stored access policies) and List Blobs.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;

use crate::blob::engine::{
    ContainerInfo, ListBlobsQuery, ListItem, ListMarker, PublicAccess, Timestamp,
};
use crate::origin::request_origin;

use super::error::BlobApiError;
use super::headers::{self, put};
use super::xml::{element, escape, parse_signed_identifiers, XML_DECLARATION};
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
    let mut body = format!("{XML_DECLARATION}<SignedIdentifiers>");
    for si in &info.identifiers {
        body.push_str("<SignedIdentifier>");
        element(&mut body, "Id", &si.id);
        body.push_str("<AccessPolicy>");
        for (name, value) in [
            ("Start", &si.start),
            ("Expiry", &si.expiry),
            ("Permission", &si.permission),
        ] {
            if let Some(value) = value {
                element(&mut body, name, value);
            }
        }
        body.push_str("</AccessPolicy></SignedIdentifier>");
    }
    body.push_str("</SignedIdentifiers>");
    let mut response = xml_response(body);
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
    let mut body = format!(
        "{XML_DECLARATION}<EnumerationResults ServiceEndpoint=\"{}\">",
        escape(&service_endpoint(&request))
    );
    element(&mut body, "Prefix", prefix);
    element(&mut body, "Marker", marker.unwrap_or_default());
    element(&mut body, "MaxResults", &max.to_string());
    body.push_str("<Containers>");
    for c in &containers {
        body.push_str("<Container>");
        element(&mut body, "Name", &c.name);
        body.push_str("<Properties>");
        element(&mut body, "Last-Modified", &c.modified.to_http_date());
        element(&mut body, "Etag", &c.etag.to_string());
        element(&mut body, "LeaseStatus", "unlocked");
        element(&mut body, "LeaseState", "available");
        if let Some(access) = c.public_access {
            element(&mut body, "PublicAccess", access_name(access));
        }
        element(&mut body, "HasImmutabilityPolicy", "false");
        element(&mut body, "HasLegalHold", "false");
        body.push_str("</Properties>");
        if include_metadata {
            write_metadata_xml(&mut body, &c.metadata);
        }
        body.push_str("</Container>");
    }
    body.push_str("</Containers>");
    element(&mut body, "NextMarker", next.as_deref().unwrap_or_default());
    body.push_str("</EnumerationResults>");
    Ok(xml_response(body))
}

fn write_metadata_xml(body: &mut String, metadata: &[(String, String)]) {
    body.push_str("<Metadata>");
    for (k, v) in metadata {
        element(body, k, v);
    }
    body.push_str("</Metadata>");
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
    let mut body = format!(
        "{XML_DECLARATION}<EnumerationResults ServiceEndpoint=\"{}\" ContainerName=\"{}\">",
        escape(&service_endpoint(&request)),
        escape(request.container())
    );
    element(&mut body, "Prefix", &prefix);
    element(&mut body, "Marker", raw_marker.unwrap_or_default());
    element(&mut body, "MaxResults", &max.to_string());
    if let Some(d) = &delimiter {
        element(&mut body, "Delimiter", d);
    }
    body.push_str("<Blobs>");
    for item in &page.items {
        match item {
            ListItem::Prefix(p) => {
                body.push_str("<BlobPrefix>");
                element(&mut body, "Name", p);
                body.push_str("</BlobPrefix>");
            }
            ListItem::Blob {
                name,
                snapshot,
                properties,
            } => {
                body.push_str("<Blob>");
                element(&mut body, "Name", name);
                if let Some(s) = snapshot {
                    element(&mut body, "Snapshot", &s.to_snapshot_id());
                }
                body.push_str("<Properties>");
                element(
                    &mut body,
                    "Creation-Time",
                    &properties.created.to_http_date(),
                );
                element(
                    &mut body,
                    "Last-Modified",
                    &properties.modified.to_http_date(),
                );
                element(&mut body, "Etag", &properties.etag.to_string());
                element(
                    &mut body,
                    "Content-Length",
                    &properties.content_length.to_string(),
                );
                let c = &properties.content;
                element(
                    &mut body,
                    "Content-Type",
                    c.content_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                );
                element(
                    &mut body,
                    "Content-Encoding",
                    c.content_encoding.as_deref().unwrap_or_default(),
                );
                element(
                    &mut body,
                    "Content-Language",
                    c.content_language.as_deref().unwrap_or_default(),
                );
                let md5 = c
                    .content_md5
                    .as_ref()
                    .map(|m| base64::engine::general_purpose::STANDARD.encode(m))
                    .unwrap_or_default();
                element(&mut body, "Content-MD5", &md5);
                element(
                    &mut body,
                    "Content-Disposition",
                    c.content_disposition.as_deref().unwrap_or_default(),
                );
                element(
                    &mut body,
                    "Cache-Control",
                    c.cache_control.as_deref().unwrap_or_default(),
                );
                if let Some(sequence_number) = properties.sequence_number {
                    element(
                        &mut body,
                        "x-ms-blob-sequence-number",
                        &sequence_number.to_string(),
                    );
                }
                element(&mut body, "BlobType", properties.blob_type);
                element(&mut body, "LeaseStatus", "unlocked");
                element(&mut body, "LeaseState", "available");
                element(&mut body, "ServerEncrypted", "true");
                body.push_str("</Properties>");
                if include.contains(&"metadata") {
                    write_metadata_xml(&mut body, &properties.metadata);
                }
                body.push_str("</Blob>");
            }
        }
    }
    body.push_str("</Blobs>");
    element(
        &mut body,
        "NextMarker",
        &page
            .next_marker
            .as_ref()
            .map(encode_marker)
            .unwrap_or_default(),
    );
    body.push_str("</EnumerationResults>");
    Ok(xml_response(body))
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
