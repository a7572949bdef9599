//! Running a deployment: checking it (parameters, variables, the plan), then deploying its
//! resources through their providers in dependency order, those whose dependencies are all
//! deployed at the same time, each recorded as a provisioning operation; then, in complete
//! mode, deleting what the template does not name, and evaluating the outputs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::{DeploymentError, ErrorDetail};
use super::expression::{self, ExpressionError};
use super::plan::Plan;
use super::scope::{Context, Evaluation, References};
use super::store::{self, DeploymentKey, DeploymentRecord, DeploymentState, OperationDocument};
use super::template::{DeploymentRequest, Mode, ParameterType};
use crate::clock::Clock;
use crate::store::Db;

/// How often a running deployment looks for its cancellation.
const CANCELLATION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// What a resource provider answered: the HTTP status and the body (the resource, or
/// ARM's `{"error":{...}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderReply {
    pub status: u16,
    pub body: Value,
}

impl ProviderReply {
    /// The error the reply carries, as ARM reports it for the resource.
    pub fn error(&self, target: &str) -> ErrorDetail {
        let error = self.body.get("error").unwrap_or(&self.body);
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
        ErrorDetail {
            target: Some(target.to_owned()),
            ..ErrorDetail::new(
                text("code").unwrap_or_else(|| status_name(self.status).to_owned()),
                text("message").unwrap_or_else(|| self.body.to_string()),
            )
        }
    }
}

/// The resource operations a deployment uses: the same ones a direct request reaches, so
/// a deployed resource is validated as a direct PUT of it is.
#[async_trait::async_trait]
pub trait ResourceProvider: Send + Sync {
    /// Whether some provider serves the resource's type: `NoRegisteredProviderFound` or
    /// `InvalidResourceType` when none does.
    fn check_type(&self, id: &str) -> Result<(), ErrorDetail>;
    /// Creates or updates the resource and waits for its asynchronous operation to end.
    async fn put(
        &self,
        id: &str,
        api_version: &str,
        body: Value,
    ) -> Result<ProviderReply, ProviderReply>;
    /// The resource, `None` when it does not exist.
    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ProviderReply>;
    /// Deletes the resource and waits for the deletion to end.
    async fn delete(&self, id: &str, api_version: &str) -> Result<(), ProviderReply>;
    /// The ids of a group's resources that a deployment in complete mode may delete.
    async fn group_resources(
        &self,
        subscription: &str,
        group: &str,
    ) -> Result<Vec<String>, ProviderReply>;
}

/// A deployment checked and expanded, ready to run.
pub struct Prepared {
    pub request: DeploymentRequest,
    pub context: Context,
    /// Every parameter's final value (defaults evaluated once, here).
    pub parameters: BTreeMap<String, Value>,
    pub plan: Plan,
}

/// Checks a deployment as `validate` does: parameters against their declarations,
/// variables, every resource's name, type, condition and dependencies.
pub fn prepare(request: DeploymentRequest, context: Context) -> Result<Prepared, DeploymentError> {
    let given = request
        .template
        .check_parameters(&request.parameters, &request)?;
    let (parameters, plan) = {
        let evaluation = Evaluation::new(&context, &request.template, given);
        let parameters = evaluation.parameter_values()?;
        evaluation.check_variables()?;
        let plan = Plan::expand(&request, &evaluation)?;
        (parameters, plan)
    };
    Ok(Prepared {
        request,
        context,
        parameters,
        plan,
    })
}

impl Prepared {
    /// The document a deployment starts with.
    pub fn document(
        &self,
        correlation_id: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> store::DeploymentDocument {
        store::DeploymentDocument {
            name: self.context.deployment_name.clone(),
            location: self.request.location.clone(),
            tags: self.request.tags.clone(),
            mode: self.request.mode.as_str().to_owned(),
            template: self.request.template.document.clone(),
            template_hash: template_hash(&self.request.template.document),
            parameters: self.wire_parameters(),
            outputs: None,
            output_resources: Vec::new(),
            providers: self.providers(),
            dependencies: self.dependencies(),
            correlation_id,
            error: None,
            started_at: now,
            ended_at: None,
        }
    }

    /// `{"name":{"type","value"}}`, secure values left out as ARM leaves them out.
    fn wire_parameters(&self) -> Value {
        let mut wire = Map::new();
        for (name, value) in &self.parameters {
            let parameter_type = self.request.template.parameters[name].parameter_type;
            let mut entry = json!({"type": parameter_type.wire_name()});
            if !parameter_type.is_secure() {
                entry["value"] = value.clone();
            }
            wire.insert(name.clone(), entry);
        }
        Value::Object(wire)
    }

    /// ARM's `providers`: each namespace, its types and their locations.
    fn providers(&self) -> Value {
        let mut namespaces: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for resource in &self.plan.resources {
            let (namespace, resource_type) = resource
                .resource_type
                .split_once('/')
                .unwrap_or((&resource.resource_type, ""));
            let locations = namespaces
                .entry(namespace.to_owned())
                .or_default()
                .entry(resource_type.to_owned())
                .or_default();
            if let Some(location) = resource.definition.get("location").and_then(|l| {
                self.evaluate_plain(l)
                    .ok()
                    .and_then(|l| l.as_str().map(str::to_owned))
            }) {
                if !locations.contains(&location) {
                    locations.push(location);
                }
            }
        }
        Value::Array(
            namespaces
                .into_iter()
                .map(|(namespace, types)| {
                    json!({
                        "namespace": namespace,
                        "resourceTypes": types.into_iter().map(|(resource_type, locations)| json!({
                            "resourceType": resource_type,
                            "locations": locations,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    }

    /// ARM's `dependencies`: each resource that depends on others, and those others.
    fn dependencies(&self) -> Value {
        let target = |index: usize| {
            let resource = &self.plan.resources[index];
            json!({
                "id": resource.id,
                "resourceType": resource.resource_type,
                "resourceName": resource.name,
            })
        };
        Value::Array(
            self.plan
                .resources
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.depends_on.is_empty())
                .map(|(index, r)| {
                    let mut entry = target(index);
                    entry["dependsOn"] =
                        Value::Array(r.depends_on.iter().map(|&d| target(d)).collect());
                    entry
                })
                .collect(),
        )
    }

    fn evaluation(&self) -> Evaluation<'_> {
        Evaluation::new(
            &self.context,
            &self.request.template,
            self.parameters.clone(),
        )
    }

    fn evaluate_plain(&self, value: &Value) -> Result<Value, ExpressionError> {
        self.evaluation().scope().evaluate(value)
    }

    /// The ids the resource at `index` (or the outputs, for `None`) reads with
    /// `reference()`, with the api-version to read each at.
    fn referenced_ids(&self, index: Option<usize>, names: &References) -> Vec<(String, String)> {
        let evaluation = self.evaluation();
        let (exprs, scope) = match index {
            Some(index) => {
                let resource = &self.plan.resources[index];
                (resource.referenced(), resource.scope(&evaluation))
            }
            None => (
                expression::referenced_resources_in(&Value::Object(
                    self.request.template.outputs.clone(),
                )),
                evaluation.scope(),
            ),
        };
        exprs
            .iter()
            .filter_map(|expr| match expression::evaluate(expr, &scope) {
                Ok(Value::String(target)) => Some(names.resolve(&target)),
                _ => None,
            })
            .map(|id| {
                let api_version = self
                    .plan
                    .resources
                    .iter()
                    .find(|r| r.id.eq_ignore_ascii_case(&id))
                    .map_or_else(|| default_api_version(&id), |r| r.api_version.clone());
                (id, api_version)
            })
            .collect()
    }

    /// The resource's body, every expression evaluated with the resources it reads.
    fn body(&self, index: usize, references: &References) -> Result<Value, ExpressionError> {
        let evaluation = self.evaluation();
        let resource = &self.plan.resources[index];
        let scope = resource.scope(&evaluation);
        resource.body(&scope.with_references(references))
    }

    /// The resource's body as what-if shows it: evaluated where the resources it reads
    /// exist, `None` where it reads one the deployment would create first.
    pub fn what_if_body(&self, index: usize, references: &References) -> Option<Value> {
        self.body(index, references).ok()
    }

    /// The outputs, as ARM answers them (`{"name":{"type","value"}}`, secure ones without
    /// their value).
    fn outputs(&self, references: &References) -> Result<Value, DeploymentError> {
        let evaluation = self.evaluation();
        let scope = evaluation.scope().with_references(references);
        let mut outputs = Map::new();
        for (name, output) in &self.request.template.outputs {
            let invalid = |reason: String| {
                DeploymentError::invalid_template(format!(
                    "The template output '{name}' is not valid: {reason}"
                ))
            };
            if let Some(condition) = output.get("condition") {
                if scope
                    .evaluate(condition)
                    .map_err(|e| invalid(e.to_string()))?
                    != Value::Bool(true)
                {
                    continue;
                }
            }
            let declared = output
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string");
            let output_type = ParameterType::parse(declared)
                .ok_or_else(|| invalid(format!("the type '{declared}' is not valid")))?;
            let value = match output.get("copy") {
                Some(copy) => {
                    let count = scope
                        .count(copy.get("count").unwrap_or(&Value::Null), name)
                        .map_err(|e| invalid(e.to_string()))?;
                    let input = copy.get("input").unwrap_or(&Value::Null);
                    Value::Array(
                        (0..count)
                            .map(|i| scope.in_loop(name, i).evaluate(input))
                            .collect::<Result<_, _>>()
                            .map_err(|e| invalid(e.to_string()))?,
                    )
                }
                None => scope
                    .evaluate(output.get("value").unwrap_or(&Value::Null))
                    .map_err(|e| invalid(e.to_string()))?,
            };
            let mut entry = json!({"type": output_type.wire_name()});
            if !output_type.is_secure() {
                entry["value"] = value;
            }
            outputs.insert(name.clone(), entry);
        }
        Ok(Value::Object(outputs))
    }
}

/// ARM's `templateHash`: a number derived from the template's text.
fn template_hash(template: &Value) -> String {
    let digest = Sha256::digest(template.to_string().as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes).to_string()
}

/// The api-version a resource outside the template is read at: the newest its provider
/// lists.
fn default_api_version(id: &str) -> String {
    let namespace = id
        .split_once("/providers/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or("Microsoft.Resources");
    crate::resources::providers::newest_api_version(namespace).to_owned()
}

/// ARM's name of an HTTP status, as a provisioning operation's `statusCode` gives it.
pub fn status_name(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Progress {
    Waiting,
    Deploying,
    Succeeded,
    Failed,
    /// Not started: a resource it depends on failed.
    NotStarted,
}

/// Runs a stored deployment to its end and records the result. Errors of the database
/// end the run where they happen (the deployment then stays as last written).
pub async fn run(
    db: Db,
    clock: Clock,
    provider: Arc<dyn ResourceProvider>,
    prepared: Prepared,
    mut record: DeploymentRecord,
) -> Result<(), DeploymentError> {
    record.state = DeploymentState::Running;
    if !store::update(&db, &record, clock.now()).await? {
        return Ok(());
    }
    let key = record.key.clone();
    let mut sequence = Sequence { next: 0 };
    let outcome = tokio::select! {
        outcome = deploy(&db, &clock, &provider, &prepared, &key, &mut sequence) => outcome?,
        // The run is no longer this process's to finish (cancelled, replaced, or judged
        // interrupted while this process stalled): operations in flight stop.
        () = keep_lease(&db, &key, &record.operation_id) => return Ok(()),
    };
    let now = clock.now();
    record.document.ended_at = Some(now);
    match outcome {
        Outcome::Cancelled => return Ok(()),
        Outcome::Failed(details) => {
            record.state = DeploymentState::Failed;
            record.document.error = Some(ErrorDetail::deployment_failed(details));
        }
        Outcome::Deployed(references) => {
            record.document.output_resources = prepared
                .plan
                .resources
                .iter()
                .map(|r| r.id.clone())
                .collect();
            let outputs = match references {
                Ok(references) => prepared.outputs(&references),
                Err(error) => Err(error),
            };
            match outputs {
                Ok(outputs) => {
                    record.state = DeploymentState::Succeeded;
                    record.document.outputs = Some(outputs);
                }
                Err(error) => {
                    record.state = DeploymentState::Failed;
                    record.document.error =
                        Some(ErrorDetail::deployment_failed(vec![error.detail()]));
                }
            }
        }
    }
    store::update(&db, &record, now).await?;
    Ok(())
}

/// Renews the run's lease until the run is no longer active; a failing renewal is retried
/// (the lease outlasts a few of them).
async fn keep_lease(db: &Db, key: &DeploymentKey, operation_id: &str) {
    loop {
        tokio::time::sleep(store::RUN_LEASE_RENEWAL).await;
        match store::renew_lease(db, key, operation_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(deployment = %key.id(), ?error, "renewing a deployment's lease failed");
            }
        }
    }
}

enum Outcome {
    /// Every resource deployed; the resources the outputs read (or why they could not be).
    Deployed(Result<References, DeploymentError>),
    Failed(Vec<ErrorDetail>),
    Cancelled,
}

struct Sequence {
    next: i64,
}

impl Sequence {
    fn take(&mut self) -> i64 {
        self.next += 1;
        self.next
    }
}

async fn deploy(
    db: &Db,
    clock: &Clock,
    provider: &Arc<dyn ResourceProvider>,
    prepared: &Prepared,
    key: &DeploymentKey,
    sequence: &mut Sequence,
) -> Result<Outcome, DeploymentError> {
    let resources = &prepared.plan.resources;
    let mut progress = vec![Progress::Waiting; resources.len()];
    let mut references = prepared.plan.references();
    let mut failures = Vec::new();
    let mut deploying = tokio::task::JoinSet::new();
    loop {
        if store::state(db, key).await? == DeploymentState::Canceled {
            // Operations in flight stop where they are, as ARM's cancel leaves them.
            deploying.abort_all();
            return Ok(Outcome::Cancelled);
        }
        for index in 0..resources.len() {
            if progress[index] != Progress::Waiting {
                continue;
            }
            let dependencies = resources[index].depends_on.iter().map(|&d| progress[d]);
            if dependencies
                .clone()
                .any(|p| matches!(p, Progress::Failed | Progress::NotStarted))
            {
                progress[index] = Progress::NotStarted;
            } else if dependencies.clone().all(|p| p == Progress::Succeeded) {
                progress[index] = Progress::Deploying;
                // Bodies are evaluated here, between awaits: the evaluation is not `Send`.
                let read =
                    read_references(provider.as_ref(), prepared, Some(index), &mut references)
                        .await;
                let body = read.and_then(|()| {
                    prepared.body(index, &references).map_err(|e| {
                        ErrorDetail::new("InvalidTemplate", format!(
                            "Unable to process template language expressions for resource '{}'. {e}",
                            resources[index].id
                        ))
                    })
                });
                let resource = &resources[index];
                let target = Target {
                    index,
                    id: resource.id.clone(),
                    api_version: resource.api_version.clone(),
                    resource_type: resource.resource_type.clone(),
                    name: resource.name.clone(),
                };
                // Each resource is its own task: a resource that holds a database write
                // (SQLite's one writer) must progress while the runner records another.
                deploying.spawn(deploy_one(provider.clone(), target, body, clock.now()));
            }
        }
        // A cancellation is seen within a second even while a resource's operation runs
        // for long (an extension waiting for its VM's agent).
        let joined = tokio::select! {
            joined = deploying.join_next() => joined,
            () = tokio::time::sleep(CANCELLATION_CHECK) => continue,
        };
        let Some(joined) = joined else {
            break;
        };
        let (index, operation, result) = joined.expect("a resource's deployment does not panic");
        store::record_operation(db, key, sequence.take(), &operation).await?;
        match result {
            Ok(resource) => {
                progress[index] = Progress::Succeeded;
                let mut resource = resource;
                if let Value::Object(fields) = &mut resource {
                    fields.insert("apiVersion".to_owned(), json!(resources[index].api_version));
                }
                references
                    .by_id
                    .insert(resources[index].id.to_ascii_lowercase(), resource);
            }
            Err(error) => {
                progress[index] = Progress::Failed;
                failures.push(error);
            }
        }
    }
    if store::state(db, key).await? == DeploymentState::Canceled {
        return Ok(Outcome::Cancelled);
    }
    if !failures.is_empty() {
        return Ok(Outcome::Failed(failures));
    }
    if prepared.request.mode == Mode::Complete {
        if let Some(group) = &prepared.context.group {
            let failures = delete_unnamed(
                db,
                provider.as_ref(),
                prepared,
                key,
                &group.name,
                sequence,
                clock,
            )
            .await?;
            if !failures.is_empty() {
                return Ok(Outcome::Failed(failures));
            }
        }
    }
    let outputs = read_references(provider.as_ref(), prepared, None, &mut references)
        .await
        .map(|()| references)
        .map_err(|detail| DeploymentError::invalid_template(detail.message));
    Ok(Outcome::Deployed(outputs))
}

/// Reads into `references` the resources `reference()` reads in the resource at `index`
/// (or the outputs), those not read yet.
async fn read_references(
    provider: &dyn ResourceProvider,
    prepared: &Prepared,
    index: Option<usize>,
    references: &mut References,
) -> Result<(), ErrorDetail> {
    for (id, api_version) in prepared.referenced_ids(index, references) {
        if references.by_id.contains_key(&id.to_ascii_lowercase()) {
            continue;
        }
        match provider.get(&id, &api_version).await {
            Ok(Some(mut resource)) => {
                if let Value::Object(fields) = &mut resource {
                    fields.insert("apiVersion".to_owned(), json!(api_version));
                }
                references.by_id.insert(id.to_ascii_lowercase(), resource);
            }
            Ok(None) => {
                return Err(ErrorDetail::new(
                    "ResourceNotFound",
                    format!(
                        "The Resource '{id}' was not found, and the template reads it with \
                         reference()."
                    ),
                ))
            }
            Err(reply) => return Err(reply.error(&id)),
        }
    }
    Ok(())
}

type Deployed = (usize, OperationDocument, Result<Value, ErrorDetail>);

/// What one resource's deployment needs, owned: it runs as its own task.
struct Target {
    index: usize,
    id: String,
    api_version: String,
    resource_type: String,
    name: String,
}

/// Deploys one resource whose body is evaluated (or could not be) and describes the
/// operation.
async fn deploy_one(
    provider: Arc<dyn ResourceProvider>,
    target: Target,
    body: Result<Value, ErrorDetail>,
    started: chrono::DateTime<chrono::Utc>,
) -> Deployed {
    let clock_start = Instant::now();
    let (status, result) = match body {
        Err(error) => (400, Err(error)),
        Ok(body) => match provider.put(&target.id, &target.api_version, body).await {
            Ok(reply) => (reply.status, Ok(reply.body)),
            Err(reply) => (reply.status, Err(reply.error(&target.id))),
        },
    };
    let operation = OperationDocument {
        operation_id: operation_id(),
        provisioning_operation: "Create".to_owned(),
        provisioning_state: if result.is_ok() {
            "Succeeded"
        } else {
            "Failed"
        }
        .to_owned(),
        timestamp: started,
        duration_ms: clock_start.elapsed().as_millis() as i64,
        status_code: status_name(status).to_owned(),
        status_message: match &result {
            Ok(_) => None,
            Err(error) => Some(json!({"error": error})),
        },
        target_id: target.id,
        target_type: target.resource_type,
        target_name: target.name,
        api_version: target.api_version,
    };
    (target.index, operation, result)
}

/// Complete mode: deletes the group's resources the template does not name.
async fn delete_unnamed(
    db: &Db,
    provider: &dyn ResourceProvider,
    prepared: &Prepared,
    key: &DeploymentKey,
    group: &str,
    sequence: &mut Sequence,
    clock: &Clock,
) -> Result<Vec<ErrorDetail>, DeploymentError> {
    let named: std::collections::HashSet<String> = prepared
        .plan
        .resources
        .iter()
        .map(|r| r.id.to_ascii_lowercase())
        .collect();
    let mut existing = match provider
        .group_resources(&prepared.context.subscription_id, group)
        .await
    {
        Ok(existing) => existing,
        Err(reply) => return Ok(vec![reply.error(group)]),
    };
    existing.sort_by_key(|id| deletion_stage(&type_and_name(id).0));
    let mut failures = Vec::new();
    for id in existing
        .into_iter()
        .filter(|id| !named.contains(&id.to_ascii_lowercase()))
    {
        let started = clock.now();
        let clock_start = Instant::now();
        let api_version = default_api_version(&id);
        let result = provider.delete(&id, &api_version).await;
        let (resource_type, name) = type_and_name(&id);
        let operation = OperationDocument {
            operation_id: operation_id(),
            provisioning_operation: "Delete".to_owned(),
            provisioning_state: if result.is_ok() {
                "Succeeded"
            } else {
                "Failed"
            }
            .to_owned(),
            timestamp: started,
            duration_ms: clock_start.elapsed().as_millis() as i64,
            status_code: match &result {
                Ok(()) => "OK".to_owned(),
                Err(reply) => status_name(reply.status).to_owned(),
            },
            status_message: result
                .as_ref()
                .err()
                .map(|reply| json!({"error": reply.error(&id)})),
            target_id: id.clone(),
            target_type: resource_type,
            target_name: name,
            api_version,
        };
        store::record_operation(db, key, sequence.take(), &operation).await?;
        if let Err(reply) = result {
            failures.push(reply.error(&id));
        }
    }
    Ok(failures)
}

/// When complete mode deletes a resource of `resource_type`, lowest first: after every
/// resource that may use it, as its provider refuses to delete what is in use. VMs (and
/// every other type) hold NICs; NICs use subnets, security groups and public IPs; subnets,
/// deleted with their virtual network, use security groups.
fn deletion_stage(resource_type: &str) -> u8 {
    match resource_type.to_ascii_lowercase().as_str() {
        "microsoft.network/networkinterfaces" => 1,
        "microsoft.network/virtualnetworks" => 2,
        "microsoft.network/networksecuritygroups" | "microsoft.network/publicipaddresses" => 3,
        _ => 0,
    }
}

/// `Namespace/type` and name of a provider resource id.
pub fn type_and_name(id: &str) -> (String, String) {
    let Some((_, rest)) = id.split_once("/providers/") else {
        return (
            "Microsoft.Resources/resourceGroups".to_owned(),
            id.rsplit('/').next().unwrap_or_default().to_owned(),
        );
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let mut types = vec![segments[0]];
    let mut names = Vec::new();
    for pair in segments[1..].chunks(2) {
        types.push(pair[0]);
        if let Some(name) = pair.get(1) {
            names.push(*name);
        }
    }
    (types.join("/"), names.join("/"))
}

/// An operation id as ARM writes them: 16 hex digits.
pub fn operation_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_mode_deletes_users_before_what_they_use() {
        let id = |resource_type: &str, name: &str| {
            format!("/subscriptions/s/resourceGroups/g/providers/{resource_type}/{name}")
        };
        let mut ids = [
            id("Microsoft.Network/networkInterfaces", "nic"),
            id("Microsoft.Network/networkSecurityGroups", "nsg"),
            id("Microsoft.Network/publicIPAddresses", "ip"),
            id("Microsoft.Network/virtualNetworks", "vnet"),
            id("Microsoft.RecoveryServices/vaults", "vault"),
            id("Microsoft.Compute/virtualMachines", "vm"),
        ];
        ids.sort_by_key(|id| deletion_stage(&type_and_name(id).0));
        let names: Vec<String> = ids.iter().map(|id| type_and_name(id).1).collect();
        assert_eq!(names, ["vault", "vm", "nic", "vnet", "nsg", "ip"]);
    }
}
