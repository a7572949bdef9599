//! Parsing a request line into what it addresses and which operation it is, from the
//! verb, the path-style URL and the `restype`/`comp` query parameters.

use axum::http::{HeaderMap, Method, StatusCode};

use super::error::BlobApiError;

/// What a path-style URL `/{account}[/{container}[/{blob}]]` names (decoded).
#[derive(Debug, Clone)]
pub struct Target {
    pub account: String,
    pub container: Option<String>,
    pub blob: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ListContainers,
    GetAccountInfo,
    CreateContainer,
    DeleteContainer,
    GetContainerProperties,
    SetContainerMetadata,
    GetContainerAcl,
    SetContainerAcl,
    ListBlobs,
    PutBlob,
    PutBlock,
    PutBlockList,
    GetBlockList,
    PutPage,
    GetPageRanges,
    SnapshotBlob,
    SetBlobProperties,
    SetBlobMetadata,
    GetBlobMetadata,
    GetBlob,
    GetBlobProperties,
    DeleteBlob,
    /// Recognized so that a token is checked for it like any write; vaultsim does not
    /// implement it.
    LeaseBlob,
    /// As `LeaseBlob`.
    IncrementalCopy,
}

impl Operation {
    /// The operation's name in Azure Storage analytics logs, which is how faults name it
    /// (`crate::faults::BLOB_OPERATIONS`). Two names depend on more than the operation:
    /// a Put Page that clears is `ClearPage`, and container metadata is read apart from
    /// the container's properties.
    pub fn analytics_name(self, query: &Query, headers: &HeaderMap) -> &'static str {
        use Operation as Op;
        match self {
            Op::ListContainers => "ListContainers",
            Op::GetAccountInfo => "GetAccountInformation",
            Op::CreateContainer => "CreateContainer",
            Op::DeleteContainer => "DeleteContainer",
            Op::GetContainerProperties if query.get("comp") == Some("metadata") => {
                "GetContainerMetadata"
            }
            Op::GetContainerProperties => "GetContainerProperties",
            Op::SetContainerMetadata => "SetContainerMetadata",
            Op::GetContainerAcl => "GetContainerACL",
            Op::SetContainerAcl => "SetContainerACL",
            Op::ListBlobs => "ListBlobs",
            Op::PutBlob => "PutBlob",
            Op::PutBlock => "PutBlock",
            Op::PutBlockList => "PutBlockList",
            Op::GetBlockList => "GetBlockList",
            Op::PutPage
                if headers
                    .get("x-ms-page-write")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"clear")) =>
            {
                "ClearPage"
            }
            Op::PutPage => "PutPage",
            Op::GetPageRanges => "GetPageRegions",
            Op::SnapshotBlob => "SnapshotBlob",
            Op::SetBlobProperties => "SetBlobProperties",
            Op::SetBlobMetadata => "SetBlobMetadata",
            Op::GetBlobMetadata => "GetBlobMetadata",
            Op::GetBlob => "GetBlob",
            Op::GetBlobProperties => "GetBlobProperties",
            Op::DeleteBlob => "DeleteBlob",
            Op::LeaseBlob => "LeaseBlob",
            Op::IncrementalCopy => "IncrementalCopyBlob",
        }
    }
}

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode_query(k), decode_query(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn decode_query(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn parse_target(path: &str) -> Result<Target, BlobApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let mut parts = trimmed.splitn(3, '/');
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid_uri())
    };
    let account = decode(parts.next().unwrap_or_default())?;
    if account.is_empty() {
        return Err(invalid_uri());
    }
    let container = parts
        .next()
        .filter(|c| !c.is_empty())
        .map(decode)
        .transpose()?;
    let blob = parts
        .next()
        .filter(|b| !b.is_empty())
        .map(decode)
        .transpose()?;
    Ok(Target {
        account,
        container,
        blob,
    })
}

fn invalid_uri() -> BlobApiError {
    BlobApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidUri",
        "The requested URI does not represent any resource on the server.",
    )
}

pub fn parse_operation(
    method: &Method,
    target: &Target,
    query: &Query,
) -> Result<Operation, BlobApiError> {
    use Operation as Op;
    let comp = query.get("comp");
    let restype = query.get("restype");
    let verb = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => return Err(unsupported_verb()),
    };
    let bad_comp = || {
        BlobApiError::invalid_query(
            "comp",
            comp.unwrap_or(""),
            "The comp value is not supported for this resource.",
        )
    };
    match (&target.container, &target.blob) {
        (None, _) => match (verb, restype, comp) {
            ("GET", None, Some("list")) => Ok(Op::ListContainers),
            ("GET" | "HEAD", Some("account"), Some("properties")) => Ok(Op::GetAccountInfo),
            (_, _, Some(_)) => Err(bad_comp()),
            _ => Err(unsupported_verb()),
        },
        (Some(_), None) => match (verb, restype, comp) {
            ("GET" | "HEAD", Some("account"), Some("properties")) => Ok(Op::GetAccountInfo),
            (_, Some("container"), _) => match (verb, comp) {
                ("PUT", None) => Ok(Op::CreateContainer),
                ("DELETE", None) => Ok(Op::DeleteContainer),
                ("GET" | "HEAD", None | Some("metadata")) => Ok(Op::GetContainerProperties),
                ("PUT", Some("metadata")) => Ok(Op::SetContainerMetadata),
                ("GET" | "HEAD", Some("acl")) => Ok(Op::GetContainerAcl),
                ("PUT", Some("acl")) => Ok(Op::SetContainerAcl),
                ("GET", Some("list")) => Ok(Op::ListBlobs),
                (_, Some(_)) => Err(bad_comp()),
                _ => Err(unsupported_verb()),
            },
            (_, Some(other), _) => Err(BlobApiError::invalid_query(
                "restype",
                other,
                "The restype value is not supported.",
            )),
            // A blob name without a container path: Azure treats this as the $root container,
            // which vaultsim does not have.
            _ => Err(invalid_uri()),
        },
        (Some(_), Some(_)) => match (verb, comp) {
            ("PUT", None) => Ok(Op::PutBlob),
            ("PUT", Some("block")) => Ok(Op::PutBlock),
            ("PUT", Some("blocklist")) => Ok(Op::PutBlockList),
            ("GET", Some("blocklist")) => Ok(Op::GetBlockList),
            ("PUT", Some("page")) => Ok(Op::PutPage),
            ("GET", Some("pagelist")) => Ok(Op::GetPageRanges),
            ("PUT", Some("snapshot")) => Ok(Op::SnapshotBlob),
            ("PUT", Some("properties")) => Ok(Op::SetBlobProperties),
            ("PUT", Some("metadata")) => Ok(Op::SetBlobMetadata),
            ("GET" | "HEAD", Some("metadata")) => Ok(Op::GetBlobMetadata),
            ("GET", None) => Ok(Op::GetBlob),
            ("HEAD", None) => Ok(Op::GetBlobProperties),
            ("DELETE", None) => Ok(Op::DeleteBlob),
            ("PUT", Some("lease")) => Ok(Op::LeaseBlob),
            ("PUT", Some("incrementalcopy")) => Ok(Op::IncrementalCopy),
            (_, Some(_)) => Err(bad_comp()),
            _ => Err(unsupported_verb()),
        },
    }
}

fn unsupported_verb() -> BlobApiError {
    BlobApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UnsupportedHttpVerb",
        "The resource doesn't support the specified HTTP verb.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str, query: &str) -> Result<Operation, String> {
        let target = parse_target(path).map_err(|e| e.code.into_owned())?;
        parse_operation(&method, &target, &Query::parse(query)).map_err(|e| e.code.into_owned())
    }

    #[test]
    fn analytics_names_are_the_ones_faults_know_and_cover_them() {
        let requests = [
            (Method::GET, "/a", "comp=list"),
            (Method::GET, "/a", "restype=account&comp=properties"),
            (Method::PUT, "/a/c", "restype=container"),
            (Method::DELETE, "/a/c", "restype=container"),
            (Method::GET, "/a/c", "restype=container"),
            (Method::GET, "/a/c", "restype=container&comp=metadata"),
            (Method::PUT, "/a/c", "restype=container&comp=metadata"),
            (Method::GET, "/a/c", "restype=container&comp=acl"),
            (Method::PUT, "/a/c", "restype=container&comp=acl"),
            (Method::GET, "/a/c", "restype=container&comp=list"),
            (Method::PUT, "/a/c/b", ""),
            (Method::PUT, "/a/c/b", "comp=block"),
            (Method::PUT, "/a/c/b", "comp=blocklist"),
            (Method::GET, "/a/c/b", "comp=blocklist"),
            (Method::PUT, "/a/c/b", "comp=page"),
            (Method::GET, "/a/c/b", "comp=pagelist"),
            (Method::PUT, "/a/c/b", "comp=snapshot"),
            (Method::PUT, "/a/c/b", "comp=properties"),
            (Method::PUT, "/a/c/b", "comp=metadata"),
            (Method::GET, "/a/c/b", "comp=metadata"),
            (Method::GET, "/a/c/b", ""),
            (Method::HEAD, "/a/c/b", ""),
            (Method::DELETE, "/a/c/b", ""),
            (Method::PUT, "/a/c/b", "comp=lease"),
            (Method::PUT, "/a/c/b", "comp=incrementalcopy"),
        ];
        let mut clear = HeaderMap::new();
        clear.insert("x-ms-page-write", "Clear".parse().unwrap());
        let mut named = std::collections::BTreeSet::new();
        for (method, path, query) in requests {
            let operation = op(method, path, query).unwrap();
            let query = Query::parse(query);
            named.insert(operation.analytics_name(&query, &HeaderMap::new()));
            named.insert(operation.analytics_name(&query, &clear));
        }
        let known: std::collections::BTreeSet<_> =
            crate::faults::BLOB_OPERATIONS.iter().copied().collect();
        assert_eq!(named, known);
    }

    #[test]
    fn operations_follow_verb_restype_and_comp() {
        assert_eq!(
            op(Method::PUT, "/acct/c", "restype=container"),
            Ok(Operation::CreateContainer)
        );
        assert_eq!(
            op(Method::GET, "/acct/c", "restype=container&comp=list"),
            Ok(Operation::ListBlobs)
        );
        assert_eq!(
            op(Method::PUT, "/acct/c/a/b.vhd", "comp=page"),
            Ok(Operation::PutPage)
        );
        assert_eq!(
            op(Method::GET, "/acct/c/b", "comp=pagelist&snapshot=x"),
            Ok(Operation::GetPageRanges)
        );
        assert_eq!(
            op(Method::HEAD, "/acct/c/b", ""),
            Ok(Operation::GetBlobProperties)
        );
        assert_eq!(
            op(Method::GET, "/acct", "comp=list"),
            Ok(Operation::ListContainers)
        );
        assert_eq!(
            op(Method::PUT, "/acct/c/b", "comp=lease"),
            Ok(Operation::LeaseBlob)
        );
        assert_eq!(
            op(Method::PUT, "/acct/c/b", "comp=incrementalcopy"),
            Ok(Operation::IncrementalCopy)
        );
    }

    #[test]
    fn unknown_comp_and_verbs_are_refused_with_azure_codes() {
        assert_eq!(
            op(Method::PUT, "/acct/c/b", "comp=bogus"),
            Err("InvalidQueryParameterValue".to_owned())
        );
        assert_eq!(
            op(Method::POST, "/acct/c/b", ""),
            Err("UnsupportedHttpVerb".to_owned())
        );
        assert_eq!(op(Method::GET, "/", ""), Err("InvalidUri".to_owned()));
    }

    #[test]
    fn blob_names_keep_slashes_and_are_decoded() {
        let t = parse_target("/acct/c/dir%20a/b%2Bc.vhd").unwrap();
        assert_eq!(t.container.as_deref(), Some("c"));
        assert_eq!(t.blob.as_deref(), Some("dir a/b+c.vhd"));
    }

    #[test]
    fn query_values_are_decoded() {
        let q = Query::parse("sig=a%2Bb%3D&se=2030-01-01T00%3A00%3A00Z&prefix=a+b");
        assert_eq!(q.get("sig"), Some("a+b="));
        assert_eq!(q.get("se"), Some("2030-01-01T00:00:00Z"));
        assert_eq!(q.get("prefix"), Some("a b"));
    }
}
