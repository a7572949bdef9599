//! Who a request is (Shared Key owner, a service SAS, or anonymous) and whether that may
//! perform the operation, checked the way Azure Storage checks it.

use std::net::IpAddr;

use axum::http::{request::Parts, StatusCode};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretSlice};
use vaultsim_protocol::sas::{
    GrantedSas, Permission, SasError, SasRequest, ServiceSas, SignedResource, StoredPolicy,
};
use vaultsim_protocol::shared_key::{self, SignedRequest};

use crate::blob::engine::{BlobStore, PublicAccess};
use crate::faults::Faults;

use super::error::BlobApiError;
use super::router::{Operation, Query, Target};

/// The storage account the endpoint serves, with its keys (base64-decoded; key2 optional,
/// for rotation).
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub keys: Vec<SecretSlice<u8>>,
}

/// Where and when a request comes from.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    /// The request came over TLS (what `spr=https` asks for).
    pub https: bool,
    pub now: DateTime<Utc>,
}

#[derive(Debug)]
pub enum Principal {
    /// Shared Key: the account owner, allowed everything.
    Owner,
    Sas(GrantedSas),
    Anonymous,
}

pub fn authenticate(
    account: &Account,
    parts: &Parts,
    target: &Target,
    query: &Query,
    store: &BlobStore,
    client: Client,
    faults: &Faults,
) -> Result<Principal, BlobApiError> {
    if target.account != account.name {
        return Err(BlobApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The account {} does not exist on this endpoint.",
                target.account
            ),
        ));
    }
    let keys: Vec<&[u8]> = account.keys.iter().map(|k| k.expose_secret()).collect();
    if let Some(authorization) = parts.headers.get("authorization") {
        let authorization = authorization.to_str().unwrap_or_default();
        if parts.headers.get("x-ms-date").is_none() && parts.headers.get("date").is_none() {
            return Err(BlobApiError::authentication_failed(
                "Request date header not specified.".into(),
            ));
        }
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let request = SignedRequest {
            method: parts.method.as_str(),
            headers: &headers,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
        };
        return match shared_key::check(authorization, &account.name, &request, &keys) {
            Ok(()) => Ok(Principal::Owner),
            Err(error) if error.error_code() == "InvalidAuthenticationInfo" => Err(
                BlobApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidAuthenticationInfo",
                    "Authentication information is not given in the correct format. Check the value of Authorization header.",
                )
                .with_detail("AuthenticationErrorDetail", error.authentication_error_detail()),
            ),
            Err(error) => Err(BlobApiError::authentication_failed(
                error.authentication_error_detail(),
            )),
        };
    }
    let Some(token) = ServiceSas::from_query(query.pairs()) else {
        return Ok(Principal::Anonymous);
    };
    let token =
        token.map_err(|e| BlobApiError::authentication_failed(e.authentication_error_detail()))?;
    let Some(container) = target.container.as_deref() else {
        // A service SAS always names a container; account-level calls need Shared Key.
        return Err(BlobApiError::permission_mismatch());
    };
    let request = SasRequest {
        account: &account.name,
        container,
        blob: target.blob.as_deref(),
        snapshot: query.get("snapshot"),
        https: client.https,
        client_ip: client.ip,
        now: client.now,
    };
    let policy = |id: &str| {
        let container = store.container(container).ok()?;
        let found = container.identifiers.into_iter().find(|i| i.id == id)?;
        Some(StoredPolicy {
            start: found.start,
            expiry: found.expiry,
            permission: found.permission,
        })
    };
    match token.check(&request, &keys, policy) {
        Ok(granted) => match faults.sas_expired(granted.start) {
            // Refused as a token past its expiry is, with the cutoff as its expiry.
            Some(cutoff) => Err(BlobApiError::authentication_failed(
                SasError::OutsideTimeWindow {
                    start: granted.start,
                    expiry: cutoff,
                    now: client.now,
                }
                .authentication_error_detail(),
            )),
            None => Ok(Principal::Sas(granted)),
        },
        Err(error) if error.error_code() == "AuthenticationFailed" => Err(
            BlobApiError::authentication_failed(error.authentication_error_detail()),
        ),
        Err(error) => Err(BlobApiError::new(
            StatusCode::FORBIDDEN,
            error.error_code(),
            error.to_string(),
        )),
    }
}

/// What a service SAS must grant for an operation: any one of the permissions, and
/// whether the operation is on the container (so only `sr=c` tokens reach it).
struct SasNeed {
    any_of: &'static [Permission],
    container_level: bool,
}

fn sas_need(op: Operation) -> Option<SasNeed> {
    use Operation as Op;
    use Permission::*;
    let blob = |any_of| {
        Some(SasNeed {
            any_of,
            container_level: false,
        })
    };
    match op {
        Op::GetBlob
        | Op::GetBlobProperties
        | Op::GetBlobMetadata
        | Op::GetPageRanges
        | Op::GetBlockList => blob(&[Read]),
        Op::PutBlob | Op::PutBlock | Op::PutBlockList | Op::SnapshotBlob | Op::IncrementalCopy => {
            blob(&[Create, Write])
        }
        // Breaking a lease also takes `d`; vaultsim serves no lease action either way.
        Op::PutPage | Op::SetBlobProperties | Op::SetBlobMetadata | Op::LeaseBlob => blob(&[Write]),
        Op::DeleteBlob => blob(&[Delete, PermanentDelete]),
        Op::ListBlobs => Some(SasNeed {
            any_of: &[List],
            container_level: true,
        }),
        Op::GetContainerProperties => Some(SasNeed {
            any_of: &[Read],
            container_level: true,
        }),
        // A service SAS can never manage containers or the account.
        Op::ListContainers
        | Op::GetAccountInfo
        | Op::CreateContainer
        | Op::DeleteContainer
        | Op::SetContainerMetadata
        | Op::GetContainerAcl
        | Op::SetContainerAcl => None,
    }
}

/// Whether `principal` may perform `op` on `target`. `blob_exists` is asked only when the
/// answer depends on it (a create-type SAS write over an existing blob needs `w`).
pub fn authorize(
    principal: &Principal,
    op: Operation,
    target: &Target,
    store: &BlobStore,
    blob_exists: impl FnOnce() -> bool,
) -> Result<(), BlobApiError> {
    match principal {
        Principal::Owner => Ok(()),
        Principal::Sas(granted) => {
            let need = sas_need(op).ok_or_else(BlobApiError::permission_mismatch)?;
            if need.container_level && granted.resource != SignedResource::Container {
                return Err(BlobApiError::new(
                    StatusCode::FORBIDDEN,
                    "AuthorizationResourceTypeMismatch",
                    "This request is not authorized to perform this operation using this resource type.",
                ));
            }
            if !granted.permissions.allows_any(need.any_of) {
                return Err(BlobApiError::permission_mismatch());
            }
            // `c` creates a blob and never writes over one (a disk that exists, say).
            let creates = matches!(
                op,
                Operation::PutBlob
                    | Operation::PutBlock
                    | Operation::PutBlockList
                    | Operation::IncrementalCopy
            );
            if creates && !granted.permissions.contains(Permission::Write) && blob_exists() {
                return Err(BlobApiError::permission_mismatch());
            }
            Ok(())
        }
        Principal::Anonymous => {
            let access = target
                .container
                .as_deref()
                .and_then(|c| store.container(c).ok())
                .and_then(|c| c.public_access);
            let readable = match op {
                Operation::GetBlob
                | Operation::GetBlobProperties
                | Operation::GetBlobMetadata
                | Operation::GetBlockList
                | Operation::GetPageRanges => access.is_some(),
                Operation::ListBlobs | Operation::GetContainerProperties => {
                    access == Some(PublicAccess::Container)
                }
                _ => false,
            };
            if readable {
                Ok(())
            } else if is_read(op) {
                Err(BlobApiError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "The specified resource does not exist.",
                ))
            } else {
                Err(BlobApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "NoAuthenticationInformation",
                    "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
                ))
            }
        }
    }
}

fn is_read(op: Operation) -> bool {
    use Operation as Op;
    matches!(
        op,
        Op::GetBlob
            | Op::GetBlobProperties
            | Op::GetBlobMetadata
            | Op::GetBlockList
            | Op::GetPageRanges
            | Op::ListBlobs
            | Op::GetContainerProperties
            | Op::GetContainerAcl
            | Op::ListContainers
            | Op::GetAccountInfo
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_account_key() {
        let account = Account {
            name: "devstoreaccount1".to_owned(),
            keys: vec![b"key-one".to_vec().into(), b"key-two".to_vec().into()],
        };
        let shown = format!("{account:?}");
        assert!(shown.contains("devstoreaccount1"), "{shown}");
        for byte_list in ["107, 101, 121", "key-"] {
            assert!(!shown.contains(byte_list), "{shown}");
        }
    }
}
