//! Microsoft.Resources deployments, at a resource group's scope and at the subscription's:
//! create (asynchronous, `Azure-AsyncOperation`), get, list, delete, validate, what-if,
//! cancel, export the template, and the provisioning operations. The template language
//! and the engine are `crate::deployments`; this module parses requests and renders ARM's
//! bodies.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

use super::deployment_provider::ArmProvider;
use super::error::ErrorResponse;
use super::params::ApiVersion;
use super::route::{spec, GroupPath};
use super::{json_response, ArmRequest, ArmResult};
use crate::api::ApiState;
use crate::deployments::runner::{self, Prepared, ResourceProvider};
use crate::deployments::scope::{Context, GroupFacts};
use crate::deployments::store::{self, DeploymentKey, DeploymentRecord, DeploymentState, Saved};
use crate::deployments::template::DeploymentRequest;
use crate::deployments::what_if;
use crate::deployments::{DeploymentError, ErrorDetail};
use crate::resources::lookup;

/// A deployment as ARM answers it (`DeploymentExtended`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    /// Always `Microsoft.Resources/deployments`.
    #[serde(rename = "type")]
    pub resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub tags: serde_json::Map<String, Value>,
    /// `templateHash`, `parameters`, `mode`, `provisioningState`, `timestamp`, `duration`,
    /// `correlationId`, `providers`, `dependencies`, `outputs`, `outputResources`, `error`.
    #[schema(value_type = Object)]
    pub properties: Value,
}

/// ARM's list body of deployments or operations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentList {
    #[schema(value_type = Vec<Object>)]
    pub value: Vec<Value>,
}

impl From<&DeploymentRecord> for Deployment {
    fn from(record: &DeploymentRecord) -> Self {
        let document = &record.document;
        let end = document.ended_at.unwrap_or_else(chrono::Utc::now);
        let mut properties = json!({
            "templateHash": document.template_hash,
            "parameters": document.parameters,
            "mode": document.mode,
            "provisioningState": record.state.as_ref(),
            "timestamp": document.ended_at.unwrap_or(document.started_at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "duration": duration(end - document.started_at),
            "correlationId": document.correlation_id,
            "providers": document.providers,
            "dependencies": document.dependencies,
        });
        if let Some(outputs) = &document.outputs {
            properties["outputs"] = outputs.clone();
        }
        if record.state == DeploymentState::Succeeded {
            properties["outputResources"] = Value::Array(
                document
                    .output_resources
                    .iter()
                    .map(|id| json!({ "id": id }))
                    .collect(),
            );
        }
        if let Some(error) = &document.error {
            properties["error"] = json!(error);
        }
        Self {
            id: record.key.id(),
            name: record.key.name.clone(),
            resource_type: "Microsoft.Resources/deployments",
            location: document.location.clone(),
            tags: document.tags.clone(),
            properties,
        }
    }
}

/// ISO 8601 duration, as ARM writes `duration` (`PT1.2345678S`).
fn duration(elapsed: chrono::Duration) -> String {
    let micros = elapsed.num_microseconds().unwrap_or(0).max(0);
    format!("PT{}.{:06}S", micros / 1_000_000, micros % 1_000_000)
}

fn error_response(status: StatusCode, error: &DeploymentError) -> Response {
    json_response(status, &json!({ "error": error.detail() }))
}

impl IntoResponse for DeploymentError {
    fn into_response(self) -> Response {
        if let Self::Resource(error) = self {
            return super::ArmError::Resource(error).into_response();
        }
        let status = match &self {
            Self::InvalidTemplate { .. }
            | Self::InvalidTemplateDeployment { .. }
            | Self::InvalidRequestContent(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Active(..) | Self::CannotBeCancelled(..) => StatusCode::CONFLICT,
            Self::Resource(_) => unreachable!("answered above"),
        };
        error_response(status, &self)
    }
}

type DeploymentResult = Result<Response, DeploymentError>;

/// The context a deployment's expressions see: its group (which must exist), the caller's
/// tenant, the management URL.
async fn context(
    state: &ApiState,
    request: &ArmRequest,
    key: &DeploymentKey,
    location: Option<String>,
) -> Result<Context, DeploymentError> {
    let group = match &key.group {
        Some(group) => {
            let group = lookup::group(&state.db, &key.subscription, group).await?;
            Some(GroupFacts {
                name: group.name,
                location: group.location,
            })
        }
        None => None,
    };
    Ok(Context {
        subscription_id: key.subscription.clone(),
        tenant_id: request.principal.tenant_id.clone(),
        group,
        deployment_name: key.name.clone(),
        location,
        now: state.clock.now(),
        management_url: request.base_url.clone(),
    })
}

fn provider(state: &ApiState, request: &ArmRequest) -> ArmProvider {
    ArmProvider {
        state: state.clone(),
        principal: request.principal.clone(),
        base_url: request.base_url.clone(),
    }
}

/// Parses and checks a deployment body as `validate` does: the template, its parameters,
/// the plan, and that every resource's type is served (`InvalidTemplateDeployment`).
async fn prepare(
    state: &ApiState,
    request: &ArmRequest,
    key: &DeploymentKey,
) -> Result<Prepared, DeploymentError> {
    let parsed = DeploymentRequest::parse(&request.body)?;
    if key.group.is_none() && parsed.location.is_none() {
        return Err(DeploymentError::InvalidRequestContent(
            "The 'location' property must be specified for a deployment at subscription scope."
                .to_owned(),
        ));
    }
    let context = context(state, request, key, parsed.location.clone()).await?;
    let prepared = runner::prepare(parsed, context)?;
    let provider = provider(state, request);
    let unserved: Vec<ErrorDetail> = prepared
        .plan
        .resources
        .iter()
        .filter_map(|resource| provider.check_type(&resource.id).err())
        .collect();
    if !unserved.is_empty() {
        return Err(DeploymentError::InvalidTemplateDeployment {
            deployment: key.name.clone(),
            details: unserved,
        });
    }
    Ok(prepared)
}

/// The `Azure-AsyncOperation` URL of a deployment's run.
fn operation_status_url(request: &ArmRequest, key: &DeploymentKey, operation: &str) -> String {
    format!(
        "{}{}/operationStatuses/{operation}?api-version={}",
        request.base_url,
        key.id(),
        request.api_version()
    )
}

async fn put(state: &ApiState, request: &ArmRequest, key: DeploymentKey) -> DeploymentResult {
    let prepared = prepare(state, request, &key).await?;
    let now = state.clock.now();
    let record = DeploymentRecord {
        key: key.clone(),
        state: DeploymentState::Accepted,
        operation_id: runner::operation_id(),
        document: prepared.document(uuid::Uuid::new_v4().to_string(), now),
    };
    let saved = store::start(&state.db, &record, now).await?;
    let mut response = json_response(
        match saved {
            Saved::Created => StatusCode::CREATED,
            Saved::Replaced => StatusCode::OK,
        },
        &Deployment::from(&record),
    );
    response.headers_mut().insert(
        HeaderName::from_static("azure-asyncoperation"),
        HeaderValue::from_str(&operation_status_url(request, &key, &record.operation_id))
            .expect("operation URLs are ASCII"),
    );
    let provider: Arc<dyn ResourceProvider> = Arc::new(provider(state, request));
    let (db, clock) = (state.db.clone(), state.clock.clone());
    tokio::spawn(async move {
        if let Err(error) = runner::run(db, clock, provider, prepared, record).await {
            tracing::error!(deployment = %key.id(), ?error, "the deployment could not be recorded to its end");
        }
    });
    Ok(response)
}

async fn get(state: &ApiState, key: DeploymentKey) -> DeploymentResult {
    let record = store::get(&state.db, &key).await?;
    Ok(json_response(StatusCode::OK, &Deployment::from(&record)))
}

async fn list(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
    group: Option<&str>,
) -> DeploymentResult {
    if let Some(group) = group {
        lookup::group(&state.db, subscription, group).await?;
    }
    let top = request
        .query
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok());
    let wanted_state = request.query.get("$filter").and_then(|filter| {
        filter
            .split_once("eq")
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("provisioningState"))
            .map(|(_, value)| value.trim().trim_matches('\'').to_owned())
    });
    let value = store::list(&state.db, subscription, group)
        .await?
        .iter()
        .filter(|record| {
            wanted_state
                .as_deref()
                .is_none_or(|s| record.state.as_ref().eq_ignore_ascii_case(s))
        })
        .take(top.unwrap_or(usize::MAX))
        .map(|record| {
            serde_json::to_value(Deployment::from(record)).expect("deployments serialize")
        })
        .collect();
    Ok(json_response(StatusCode::OK, &DeploymentList { value }))
}

async fn delete(state: &ApiState, key: DeploymentKey) -> DeploymentResult {
    match store::get(&state.db, &key).await {
        Ok(record) if record.state.is_active() => {
            return Err(DeploymentError::Active(
                key.name.clone(),
                key.scope_id(),
                record.state.as_ref().to_owned(),
            ))
        }
        Ok(_) => {
            store::delete(&state.db, &key).await?;
        }
        Err(DeploymentError::NotFound(_)) => {}
        Err(error) => return Err(error),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn validate(state: &ApiState, request: &ArmRequest, key: DeploymentKey) -> DeploymentResult {
    let prepared = match prepare(state, request, &key).await {
        Ok(prepared) => prepared,
        Err(error @ (DeploymentError::NotFound(_) | DeploymentError::Resource(_))) => {
            return Err(error)
        }
        // ARM answers a failed validation as a validation result with its error.
        Err(error) => return Ok(error_response(StatusCode::BAD_REQUEST, &error)),
    };
    let now = state.clock.now();
    let record = DeploymentRecord {
        key: key.clone(),
        state: DeploymentState::Succeeded,
        operation_id: String::new(),
        document: prepared.document(uuid::Uuid::new_v4().to_string(), now),
    };
    let mut body = serde_json::to_value(Deployment::from(&record)).expect("deployments serialize");
    body["properties"]["validatedResources"] = Value::Array(
        prepared
            .plan
            .resources
            .iter()
            .map(|r| json!({ "id": r.id }))
            .collect(),
    );
    Ok(json_response(StatusCode::OK, &body))
}

async fn what_if(state: &ApiState, request: &ArmRequest, key: DeploymentKey) -> DeploymentResult {
    let prepared = match prepare(state, request, &key).await {
        Ok(prepared) => prepared,
        Err(error @ (DeploymentError::NotFound(_) | DeploymentError::Resource(_))) => {
            return Err(error)
        }
        Err(error) => {
            return Ok(json_response(
                StatusCode::OK,
                &json!({"status": "Failed", "error": error.detail()}),
            ))
        }
    };
    let provider = provider(state, request);
    let changes = what_if::changes(&provider, &prepared).await;
    Ok(json_response(
        StatusCode::OK,
        &json!({"status": "Succeeded", "properties": {"changes": changes}}),
    ))
}

async fn cancel(state: &ApiState, key: DeploymentKey) -> DeploymentResult {
    store::cancel(&state.db, &key, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn export_template(state: &ApiState, key: DeploymentKey) -> DeploymentResult {
    let record = store::get(&state.db, &key).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "template": record.document.template }),
    ))
}

fn operation_body(key: &DeploymentKey, operation: &store::OperationDocument) -> Value {
    let mut properties = json!({
        "provisioningOperation": operation.provisioning_operation,
        "provisioningState": operation.provisioning_state,
        "timestamp": operation.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "duration": duration(chrono::Duration::milliseconds(operation.duration_ms)),
        "trackingId": operation.operation_id,
        "statusCode": operation.status_code,
        "targetResource": {
            "id": operation.target_id,
            "resourceType": operation.target_type,
            "resourceName": operation.target_name,
            "apiVersion": operation.api_version,
        },
    });
    if let Some(message) = &operation.status_message {
        properties["statusMessage"] =
            json!({"status": operation.provisioning_state, "error": message.get("error")});
    }
    json!({
        "id": format!("{}/operations/{}", key.id(), operation.operation_id),
        "operationId": operation.operation_id,
        "properties": properties,
    })
}

async fn list_operations(state: &ApiState, key: DeploymentKey) -> DeploymentResult {
    let value = store::operations(&state.db, &key)
        .await?
        .iter()
        .map(|operation| operation_body(&key, operation))
        .collect();
    Ok(json_response(StatusCode::OK, &DeploymentList { value }))
}

async fn get_operation(
    state: &ApiState,
    key: DeploymentKey,
    operation_id: &str,
) -> DeploymentResult {
    let operation = store::operations(&state.db, &key)
        .await?
        .into_iter()
        .find(|operation| operation.operation_id.eq_ignore_ascii_case(operation_id))
        .ok_or_else(|| {
            DeploymentError::NotFound(format!("{}/operations/{operation_id}", key.name))
        })?;
    Ok(json_response(
        StatusCode::OK,
        &operation_body(&key, &operation),
    ))
}

/// A deployment run's status: `Running` until it ends, then its end with its error.
async fn get_operation_status(
    state: &ApiState,
    key: DeploymentKey,
    _operation: &str,
) -> DeploymentResult {
    let record = store::get(&state.db, &key).await?;
    let status = match &record.state {
        DeploymentState::Accepted | DeploymentState::Running => "Running",
        other => other.as_ref(),
    };
    let mut body = json!({ "status": status });
    if let Some(error) = &record.document.error {
        body["error"] = json!(error);
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn group_key(path: &GroupPath, name: &str) -> DeploymentKey {
    DeploymentKey {
        subscription: path.subscription.clone(),
        group: Some(path.group.clone()),
        name: name.to_owned(),
    }
}

fn subscription_key(subscription: &str, name: &str) -> DeploymentKey {
    DeploymentKey {
        subscription: subscription.to_owned(),
        group: None,
        name: name.to_owned(),
    }
}

fn respond(result: DeploymentResult) -> ArmResult {
    Ok(result.unwrap_or_else(IntoResponse::into_response))
}

/// Declares, for each operation on one deployment, its two routes' handlers (resource
/// group and subscription scope) with their OpenAPI annotations; both serve `$call`.
macro_rules! deployment_routes {
    ($(
        $group_fn:ident / $subscription_fn:ident:
        $method:ident $group_spec:ident / $subscription_spec:ident,
        $summary:literal,
        $code:literal $(=> $body:ty)?,
        |$state:ident, $request:ident, $key:ident $(, $operation:ident)?| $call:expr
    );* $(;)?) => {
        $(
            #[utoipa::path(
                $method,
                path = spec::$group_spec.path,
                operation_id = spec::$group_spec.operation_id,
                tag = "Microsoft.Resources",
                description = $summary,
                params(
                    ("subscriptionId" = String, Path, description = "The subscription id."),
                    ("resourceGroupName" = String, Path, description = "The resource group."),
                    ("deploymentName" = String, Path, description = "The deployment's name."),
                    $(("operationId" = String, Path, description = concat!("The ", stringify!($operation), "'s id.")),)?
                    ApiVersion,
                ),
                responses(
                    (status = $code, description = "Success." $(, body = $body)?),
                    (status = 400, description = "`InvalidTemplate`, `InvalidTemplateDeployment`, `InvalidRequestContent`.", body = ErrorResponse),
                    (status = 404, description = "`DeploymentNotFound`, `ResourceGroupNotFound`.", body = ErrorResponse),
                    (status = 409, description = "`DeploymentActive`, `DeploymentCannotBeCancelled`.", body = ErrorResponse),
                )
            )]
            pub async fn $group_fn(
                $state: &ApiState,
                $request: &ArmRequest,
                path: &GroupPath,
                name: &str,
                $($operation: &str,)?
            ) -> ArmResult {
                // Not every operation reads the request.
                let _ = &$request;
                let $key = group_key(path, name);
                respond($call.await)
            }

            #[utoipa::path(
                $method,
                path = spec::$subscription_spec.path,
                operation_id = spec::$subscription_spec.operation_id,
                tag = "Microsoft.Resources",
                description = $summary,
                params(
                    ("subscriptionId" = String, Path, description = "The subscription id."),
                    ("deploymentName" = String, Path, description = "The deployment's name."),
                    $(("operationId" = String, Path, description = concat!("The ", stringify!($operation), "'s id.")),)?
                    ApiVersion,
                ),
                responses(
                    (status = $code, description = "Success." $(, body = $body)?),
                    (status = 400, description = "`InvalidTemplate`, `InvalidTemplateDeployment`, `InvalidRequestContent`.", body = ErrorResponse),
                    (status = 404, description = "`DeploymentNotFound`.", body = ErrorResponse),
                    (status = 409, description = "`DeploymentActive`, `DeploymentCannotBeCancelled`.", body = ErrorResponse),
                )
            )]
            pub async fn $subscription_fn(
                $state: &ApiState,
                $request: &ArmRequest,
                subscription: &str,
                name: &str,
                $($operation: &str,)?
            ) -> ArmResult {
                let _ = &$request;
                let $key = subscription_key(subscription, name);
                respond($call.await)
            }
        )*
    };
}

/// `{"status":"Succeeded","properties":{"changes":[...]}}` or `{"status":"Failed","error"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhatIfResult {
    pub status: String,
    #[schema(value_type = Object)]
    pub properties: Value,
}

/// `{"template":{...}}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedTemplate {
    #[schema(value_type = Object)]
    pub template: Value,
}

/// A provisioning operation: `{"id","operationId","properties":{...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentOperation {
    pub id: String,
    #[serde(rename = "operationId")]
    pub operation_id: String,
    #[schema(value_type = Object)]
    pub properties: Value,
}

/// `{"status":"Running"|"Succeeded"|"Failed"|"Canceled","error"?}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperationStatus {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub error: Option<Value>,
}

deployment_routes! {
    put_deployment / put_subscription_deployment:
        put PutDeployment / PutDeploymentAtSubscriptionScope,
        "Validates the template and starts deploying it (201, or 200 when it replaces a finished deployment of the same name); `Azure-AsyncOperation` follows the run.",
        201 => Deployment,
        |state, request, key| put(state, request, key);
    get_deployment / get_subscription_deployment:
        get GetDeployment / GetDeploymentAtSubscriptionScope,
        "The deployment: its state, parameters, outputs and error.",
        200 => Deployment,
        |state, request, key| get(state, key);
    delete_deployment / delete_subscription_deployment:
        delete DeleteDeployment / DeleteDeploymentAtSubscriptionScope,
        "Deletes the deployment's record (not the resources it deployed).",
        204,
        |state, request, key| delete(state, key);
    validate_deployment / validate_subscription_deployment:
        post ValidateDeployment / ValidateDeploymentAtSubscriptionScope,
        "Checks the template, its parameters and that every resource type is served, without deploying.",
        200 => Deployment,
        |state, request, key| validate(state, request, key);
    what_if_deployment / what_if_subscription_deployment:
        post WhatIfDeployment / WhatIfDeploymentAtSubscriptionScope,
        "The changes the deployment would make: each resource created, modified, unchanged, deleted (complete mode) or ignored.",
        200 => WhatIfResult,
        |state, request, key| what_if(state, request, key);
    cancel_deployment / cancel_subscription_deployment:
        post CancelDeployment / CancelDeploymentAtSubscriptionScope,
        "Cancels a running deployment: resources not yet started are not deployed.",
        204,
        |state, request, key| cancel(state, key);
    export_deployment_template / export_subscription_deployment_template:
        post ExportDeploymentTemplate / ExportDeploymentTemplateAtSubscriptionScope,
        "The template the deployment ran.",
        200 => ExportedTemplate,
        |state, request, key| export_template(state, key);
    list_deployment_operations / list_subscription_deployment_operations:
        get ListDeploymentOperations / ListDeploymentOperationsAtSubscriptionScope,
        "The deployment's provisioning operations: each resource created, updated or deleted, with its provider's status.",
        200 => DeploymentList,
        |state, request, key| list_operations(state, key);
    get_deployment_operation / get_subscription_deployment_operation:
        get GetDeploymentOperation / GetDeploymentOperationAtSubscriptionScope,
        "One provisioning operation.",
        200 => DeploymentOperation,
        |state, request, key, operation| get_operation(state, key, operation);
    get_deployment_operation_status / get_subscription_deployment_operation_status:
        get GetDeploymentOperationStatus / GetDeploymentOperationStatusAtSubscriptionScope,
        "The status of the deployment's run (its `Azure-AsyncOperation`).",
        200 => OperationStatus,
        |state, request, key, run| get_operation_status(state, key, run);
}

#[utoipa::path(
    get,
    path = spec::ListDeployments.path,
    operation_id = spec::ListDeployments.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("resourceGroupName" = String, Path, description = "The resource group."),
        ("$filter" = Option<String>, Query, description = "`provisioningState eq '{state}'`."),
        ("$top" = Option<usize>, Query, description = "At most this many."),
        ApiVersion,
    ),
    responses(
        (status = 200, description = "The group's deployments.", body = DeploymentList),
        (status = 404, description = "`ResourceGroupNotFound`.", body = ErrorResponse),
    )
)]
pub async fn list_deployments(
    state: &ApiState,
    request: &ArmRequest,
    path: &GroupPath,
) -> ArmResult {
    respond(list(state, request, &path.subscription, Some(&path.group)).await)
}

#[utoipa::path(
    get,
    path = spec::ListDeploymentsAtSubscriptionScope.path,
    operation_id = spec::ListDeploymentsAtSubscriptionScope.operation_id,
    tag = "Microsoft.Resources",
    params(
        ("subscriptionId" = String, Path, description = "The subscription id."),
        ("$filter" = Option<String>, Query, description = "`provisioningState eq '{state}'`."),
        ("$top" = Option<usize>, Query, description = "At most this many."),
        ApiVersion,
    ),
    responses((status = 200, description = "The subscription's deployments.", body = DeploymentList))
)]
pub async fn list_subscription_deployments(
    state: &ApiState,
    request: &ArmRequest,
    subscription: &str,
) -> ArmResult {
    respond(list(state, request, subscription, None).await)
}

/// The deployment operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        put_deployment,
        put_subscription_deployment,
        get_deployment,
        get_subscription_deployment,
        delete_deployment,
        delete_subscription_deployment,
        validate_deployment,
        validate_subscription_deployment,
        what_if_deployment,
        what_if_subscription_deployment,
        cancel_deployment,
        cancel_subscription_deployment,
        export_deployment_template,
        export_subscription_deployment_template,
        list_deployment_operations,
        list_subscription_deployment_operations,
        get_deployment_operation,
        get_subscription_deployment_operation,
        get_deployment_operation_status,
        get_subscription_deployment_operation_status,
        list_deployments,
        list_subscription_deployments
    ),
    components(schemas(
        Deployment,
        DeploymentList,
        WhatIfResult,
        ExportedTemplate,
        DeploymentOperation,
        OperationStatus
    ))
)]
pub struct DeploymentsApi;
