//! The resource operations a deployment runs, served by the same routes a direct request
//! reaches: a template's resource is PUT through its route's handler, as the deploying
//! principal (whose grant on the resource's subscription is checked, as for a direct
//! request), and an asynchronous operation is followed to its end as a client would.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};

use super::query::ArmQuery;
use super::route::{self, Route};
use super::{ArmError, ArmRequest};
use crate::api::ApiState;
use crate::auth::Principal;
use crate::deployments::runner::{ProviderReply, ResourceProvider};
use crate::deployments::ErrorDetail;

/// How long a resource's asynchronous operation is followed before the deployment gives
/// up on it (ARM's own limit for a resource operation is hours; the simulator's operations
/// end in seconds unless they wait for a VM agent).
const OPERATION_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Characters escaped in a path segment built from a resource id: what would otherwise end
/// the path or be decoded as an escape.
const SEGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'?').add(b'#');

/// The management API as one deployment's principal reaches it.
pub struct ArmProvider {
    pub state: ApiState,
    pub principal: Principal,
    /// `scheme://host` of the deployment's own request: the base of the URLs handlers write.
    pub base_url: String,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl ArmProvider {
    /// The route a resource id names for `method`, or the error ARM answers for a type
    /// nothing serves.
    pub fn route(method: &Method, id: &str) -> Result<Route, ErrorDetail> {
        route::parse(method, id).map_err(|_| unserved(id))
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<Reply, ProviderReply> {
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let route = Self::route(&method, path).map_err(|error| ProviderReply {
            status: 400,
            body: json!({ "error": error }),
        })?;
        if let Some(subscription) = route.subscription() {
            if let Err(error) = self
                .state
                .auth
                .authorize(&self.state.db, &self.principal, subscription)
                .await
            {
                return Err(error_reply(ArmError::from(error)).await);
            }
        }
        let request = ArmRequest {
            principal: self.principal.clone(),
            query: ArmQuery::parse(query),
            base_url: self.base_url.clone(),
            path: path.to_owned(),
            body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        };
        let response = match route.dispatch(&self.state, &request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(ProviderReply {
                status: reply.status.as_u16(),
                body: reply.body,
            })
        }
    }

    /// Follows the asynchronous operation a reply names (`Azure-AsyncOperation`, else a
    /// 202's `Location`) until it ends.
    async fn follow(&self, reply: &Reply) -> Result<(), ProviderReply> {
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|url| self.local(url))
        };
        let started = tokio::time::Instant::now();
        let mut interval = Duration::from_millis(50);
        if let Some(status_url) = header("azure-asyncoperation") {
            loop {
                let status = self.call(Method::GET, &status_url, None).await?;
                let state = status
                    .body
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                match state {
                    "Succeeded" => return Ok(()),
                    "Failed" | "Canceled" | "Cancelled" => {
                        return Err(ProviderReply {
                            status: 200,
                            body: json!({"error": status.body.get("error").cloned()
                                .unwrap_or_else(|| json!({"code": state, "message": format!("The operation ended {state}.")}))}),
                        })
                    }
                    _ => {}
                }
                interval = self.wait(started, interval).await?;
            }
        }
        if reply.status == StatusCode::ACCEPTED {
            if let Some(location) = header(header::LOCATION.as_str()) {
                loop {
                    let result = self.call(Method::GET, &location, None).await?;
                    if result.status != StatusCode::ACCEPTED {
                        return Ok(());
                    }
                    interval = self.wait(started, interval).await?;
                }
            }
        }
        Ok(())
    }

    async fn wait(
        &self,
        started: tokio::time::Instant,
        interval: Duration,
    ) -> Result<Duration, ProviderReply> {
        if started.elapsed() > OPERATION_LIMIT {
            return Err(ProviderReply {
                status: 500,
                body: json!({"error": {"code": "ResourceDeploymentTimeout", "message":
                    "The resource's operation did not end within 30 minutes."}}),
            });
        }
        tokio::time::sleep(interval).await;
        Ok((interval * 2).min(Duration::from_secs(2)))
    }

    /// The path and query of a URL a handler wrote (absolute, on this service).
    fn local(&self, url: &str) -> String {
        url.strip_prefix(&self.base_url).map_or_else(
            || {
                url.split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|at| rest[at..].to_owned()))
                    .unwrap_or_else(|| url.to_owned())
            },
            str::to_owned,
        )
    }
}

/// A resource id as a request path.
fn encode(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

async fn error_reply(error: ArmError) -> ProviderReply {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    ProviderReply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// ARM's refusal of a type no provider serves: `NoRegisteredProviderFound` for a namespace
/// the simulator does not serve, `InvalidResourceType` for an unknown type of one it does.
fn unserved(id: &str) -> ErrorDetail {
    let (resource_type, _) = crate::deployments::runner::type_and_name(id);
    let namespace = resource_type.split('/').next().unwrap_or_default();
    let detail = match crate::resources::providers::get(namespace) {
        Ok(provider) => ErrorDetail::new(
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace '{}'.",
                resource_type.split_once('/').map_or("", |(_, t)| t),
                provider.namespace
            ),
        ),
        Err(_) => ErrorDetail::new(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location and API version for type \
                 '{resource_type}': the simulator serves the namespaces {}.",
                crate::resources::providers::PROVIDERS
                    .iter()
                    .map(|p| format!("'{}'", p.namespace))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    ErrorDetail {
        target: Some(id.to_owned()),
        ..detail
    }
}

#[async_trait::async_trait]
impl ResourceProvider for ArmProvider {
    fn check_type(&self, id: &str) -> Result<(), ErrorDetail> {
        Self::route(&Method::PUT, id).map(|_| ())
    }

    async fn put(
        &self,
        id: &str,
        api_version: &str,
        body: Value,
    ) -> Result<ProviderReply, ProviderReply> {
        let path = format!("{}?api-version={api_version}", encode(id));
        let reply = self.call(Method::PUT, &path, Some(body)).await?;
        self.follow(&reply).await?;
        let status = reply.status.as_u16();
        match self.get(id, api_version).await? {
            Some(body) => Ok(ProviderReply { status, body }),
            None => Ok(ProviderReply {
                status,
                body: reply.body,
            }),
        }
    }

    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ProviderReply> {
        let path = format!("{}?api-version={api_version}", encode(id));
        match self.call(Method::GET, &path, None).await {
            Ok(reply) => Ok(Some(reply.body)),
            Err(reply) if reply.status == 404 => Ok(None),
            Err(reply) => Err(reply),
        }
    }

    async fn delete(&self, id: &str, api_version: &str) -> Result<(), ProviderReply> {
        let reply = self
            .call(
                Method::DELETE,
                &format!("{}?api-version={api_version}", encode(id)),
                None,
            )
            .await?;
        self.follow(&reply).await
    }

    async fn group_resources(
        &self,
        subscription: &str,
        group: &str,
    ) -> Result<Vec<String>, ProviderReply> {
        let path = format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/resources?api-version=2024-11-01"
        );
        let reply = self.call(Method::GET, &path, None).await?;
        Ok(reply.body["value"]
            .as_array()
            .map(|resources| {
                resources
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
                    // The served storage account shows in every group; nothing deletes it.
                    .filter(|id| route::parse(&Method::DELETE, &encode(id)).is_ok())
                    .collect()
            })
            .unwrap_or_default())
    }
}
