//! A template expanded into the resources it deploys: copy loops unrolled, conditions
//! applied, child resources given their full type and name, each resource's id computed
//! and its dependencies resolved (explicit `dependsOn`, a child's parent, and the resources
//! its `reference()` calls read), cycles refused. The bodies themselves are evaluated only
//! when their turn comes, since they may read resources deployed before them.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::DeploymentError;
use super::expression::{self, ExpressionError};
use super::locate::Step;
use super::scope::{EvalScope, Evaluation, References};
use super::template::{DeploymentRequest, TemplateResource};

/// Template keys that say how to deploy a resource rather than what it is: never sent to
/// the resource's provider.
const TEMPLATE_KEYS: [&str; 12] = [
    "type",
    "name",
    "apiVersion",
    "dependsOn",
    "copy",
    "condition",
    "comments",
    "resources",
    "scope",
    "resourceGroup",
    "subscriptionId",
    "existing",
];

/// One resource the deployment creates or updates.
#[derive(Debug, Clone)]
pub struct PlannedResource {
    pub resource_type: String,
    /// The full name (`vault/Azure/container/item` for a nested type).
    pub name: String,
    pub id: String,
    pub api_version: String,
    /// The template's definition, unevaluated (its body is evaluated when it deploys).
    pub definition: Map<String, Value>,
    /// The copy loops it was expanded in, outermost first, with its index in each.
    pub copy: Vec<(String, i64)>,
    /// The copy loop it belongs to, if any.
    pub loop_name: Option<String>,
    /// Its symbolic name (`languageVersion` 2.0), naming every instance of its loop.
    pub symbolic_name: Option<String>,
    /// Its path in the request body, for messages.
    pub path: Vec<Step>,
    /// Indexes into [`Plan::resources`].
    pub depends_on: Vec<usize>,
}

impl PlannedResource {
    /// The scope its expressions are evaluated in.
    pub fn scope<'e, 'a>(&self, evaluation: &'e Evaluation<'a>) -> EvalScope<'e, 'a> {
        self.copy
            .iter()
            .fold(evaluation.scope(), |scope, (name, index)| {
                scope.in_loop(name, *index)
            })
    }

    /// The body its provider receives: the definition without the template's own keys,
    /// every expression evaluated.
    pub fn body(&self, scope: &EvalScope<'_, '_>) -> Result<Value, ExpressionError> {
        let body: Map<String, Value> = self
            .definition
            .iter()
            .filter(|(key, _)| !TEMPLATE_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        scope.evaluate(&Value::Object(body))
    }

    /// The expressions naming the resources its body reads with `reference()`/`list*()`.
    pub fn referenced(&self) -> Vec<expression::Expr> {
        let body: Map<String, Value> = self
            .definition
            .iter()
            .filter(|(key, _)| !TEMPLATE_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        expression::referenced_resources_in(&Value::Object(body))
    }
}

/// The resources of a deployment, in template order, and the names `reference()` may use.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub resources: Vec<PlannedResource>,
    /// The ids of the template's `existing` resources by lower-cased symbolic name: read,
    /// never deployed.
    pub existing: HashMap<String, String>,
}

impl Plan {
    /// Expands `request`'s template with `evaluation`'s parameters and variables.
    pub fn expand(
        request: &DeploymentRequest,
        evaluation: &Evaluation<'_>,
    ) -> Result<Self, DeploymentError> {
        let mut expansion = Expansion {
            request,
            evaluation,
            resources: Vec::new(),
            parents: Vec::new(),
            skipped: HashSet::new(),
            loops: HashSet::new(),
            existing: HashMap::new(),
        };
        expansion.expand_all(&request.template.resources, None)?;
        let Expansion {
            mut resources,
            parents,
            skipped,
            loops,
            existing,
            ..
        } = expansion;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, resource) in resources.iter().enumerate() {
            if seen
                .insert(resource.id.to_ascii_lowercase(), index)
                .is_some()
            {
                return Err(DeploymentError::invalid_template_at(
                    &format!("resource '{}'", resource.name),
                    request.position(&resource.path),
                    &format!(
                        "the resource '{}' is defined multiple times in the template",
                        resource.id
                    ),
                ));
            }
        }
        let dependencies: Vec<Vec<usize>> = (0..resources.len())
            .map(|index| {
                resolve_dependencies(
                    index, &resources, &parents, &skipped, &loops, request, evaluation,
                )
            })
            .collect::<Result<_, _>>()?;
        for (resource, depends_on) in resources.iter_mut().zip(dependencies) {
            resource.depends_on = depends_on;
        }
        let plan = Self {
            resources,
            existing,
        };
        plan.refuse_cycles(request)?;
        Ok(plan)
    }

    /// The names and ids `reference()` resolves a bare name against.
    pub fn references(&self) -> References {
        let mut references = References::default();
        for resource in &self.resources {
            references
                .ids_by_name
                .insert(resource.name.to_ascii_lowercase(), resource.id.clone());
            // A symbolic name names one resource unless it names a copy loop's instances.
            if let (Some(symbolic), None) = (&resource.symbolic_name, &resource.loop_name) {
                references
                    .ids_by_name
                    .insert(symbolic.to_ascii_lowercase(), resource.id.clone());
            }
        }
        references.ids_by_name.extend(self.existing.clone());
        references
    }

    fn refuse_cycles(&self, request: &DeploymentRequest) -> Result<(), DeploymentError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Visiting,
            Done,
        }
        fn visit(
            plan: &Plan,
            index: usize,
            marks: &mut [Mark],
            request: &DeploymentRequest,
        ) -> Result<(), DeploymentError> {
            match marks[index] {
                Mark::Done => return Ok(()),
                Mark::Visiting => {
                    let resource = &plan.resources[index];
                    return Err(DeploymentError::invalid_template_at(
                        &format!("resource '{}'", resource.name),
                        request.position(&resource.path),
                        &format!(
                            "Circular dependency detected on resource: '{}'",
                            resource.id
                        ),
                    ));
                }
                Mark::New => {}
            }
            marks[index] = Mark::Visiting;
            for &dependency in &plan.resources[index].depends_on {
                visit(plan, dependency, marks, request)?;
            }
            marks[index] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.resources.len()];
        for index in 0..self.resources.len() {
            visit(self, index, &mut marks, request)?;
        }
        Ok(())
    }
}

/// The spellings a `dependsOn` entry may name a resource by, lower-cased: its id, its
/// `Namespace/type/name` form and its name.
fn names(resource: &PlannedResource) -> Vec<String> {
    let id = resource.id.to_ascii_lowercase();
    let provider_form = id
        .split_once("/providers/")
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default();
    vec![id, provider_form, resource.name.to_ascii_lowercase()]
}

struct Expansion<'r, 'e, 'a> {
    request: &'r DeploymentRequest,
    evaluation: &'e Evaluation<'a>,
    resources: Vec<PlannedResource>,
    /// For each planned resource, the index of the parent it is nested in.
    parents: Vec<Option<usize>>,
    /// Lower-cased spellings of resources whose condition is false: depending on one is
    /// allowed and means nothing.
    skipped: HashSet<String>,
    /// Lower-cased copy loop names.
    loops: HashSet<String>,
    /// See [`Plan::existing`].
    existing: HashMap<String, String>,
}

impl Expansion<'_, '_, '_> {
    fn expand_all(
        &mut self,
        resources: &[TemplateResource],
        parent: Option<usize>,
    ) -> Result<(), DeploymentError> {
        for resource in resources {
            self.expand(resource, parent)?;
        }
        Ok(())
    }

    fn expand(
        &mut self,
        resource: &TemplateResource,
        parent: Option<usize>,
    ) -> Result<(), DeploymentError> {
        let invalid = |reason: String| {
            DeploymentError::invalid_template_at(
                "resource",
                self.request.position(&resource.path),
                &reason,
            )
        };
        let base = match parent {
            Some(parent) => self.resources[parent].scope(self.evaluation),
            None => self.evaluation.scope(),
        };
        let instances: Vec<(Option<String>, EvalScope<'_, '_>)> =
            match resource.definition.get("copy") {
                None => vec![(None, base)],
                Some(copy) => {
                    let name = copy
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid("the copy loop's 'name' is missing".to_owned()))?
                        .to_owned();
                    let count = base
                        .count(copy.get("count").unwrap_or(&Value::Null), &name)
                        .map_err(|e| invalid(e.to_string()))?;
                    self.loops.insert(name.to_ascii_lowercase());
                    (0..count)
                        .map(|index| (Some(name.clone()), base.in_loop(&name, index)))
                        .collect()
                }
            };
        let serial_batch = serial_batch_size(resource.definition.get("copy"));
        let mut loop_members = Vec::new();
        for (loop_name, scope) in instances {
            let text = |key: &str| -> Result<String, DeploymentError> {
                let value = resource.definition.get(key).unwrap_or(&Value::Null);
                match scope.evaluate(value) {
                    Ok(Value::String(text)) => Ok(text),
                    Ok(other) => Err(invalid(format!("'{key}' must be a string; it is {other}"))),
                    Err(e) => Err(invalid(format!("its '{key}' could not be evaluated: {e}"))),
                }
            };
            let mut resource_type = text("type")?;
            let mut name = text("name")?;
            if let Some(parent) = parent {
                let parent = &self.resources[parent];
                if !resource_type.contains('/') {
                    resource_type = format!("{}/{resource_type}", parent.resource_type);
                    name = format!("{}/{name}", parent.name);
                }
            }
            let condition = match resource.definition.get("condition") {
                None => true,
                Some(condition) => match scope.evaluate(condition) {
                    Ok(Value::Bool(b)) => b,
                    Ok(other) => {
                        return Err(invalid(format!(
                            "its 'condition' must be a boolean; it is {other}"
                        )))
                    }
                    Err(e) => {
                        return Err(invalid(format!(
                            "its 'condition' could not be evaluated: {e}"
                        )))
                    }
                },
            };
            let type_segments = resource_type.split('/').count();
            let name_segments = name.split('/').count();
            if type_segments != name_segments + 1 {
                return Err(invalid(format!(
                    "the resource '{name}' for type '{resource_type}' has incorrect segment \
                     lengths. A nested resource type must have identical number of segments as \
                     its resource name. A root resource type must have segment length one \
                     greater than its resource name"
                )));
            }
            let group_override = match resource.definition.get("resourceGroup") {
                Some(group) => Some(
                    scope
                        .evaluate(group)
                        .ok()
                        .and_then(|g| g.as_str().map(str::to_owned))
                        .ok_or_else(|| {
                            invalid("its 'resourceGroup' must be a string".to_owned())
                        })?,
                ),
                None => None,
            };
            let id = resource_id(
                self.evaluation,
                group_override.as_deref(),
                &resource_type,
                &name,
            )
            .map_err(invalid)?;
            let existing = resource.definition.get("existing") == Some(&Value::Bool(true));
            if !condition || existing {
                // Depending on a skipped or existing resource is allowed and means nothing.
                self.skipped.insert(id.to_ascii_lowercase());
                self.skipped.insert(name.to_ascii_lowercase());
                if let Some(symbolic) = &resource.symbolic_name {
                    self.skipped.insert(symbolic.to_ascii_lowercase());
                    if existing {
                        self.existing
                            .insert(symbolic.to_ascii_lowercase(), id.clone());
                    }
                }
                continue;
            }
            let api_version = text("apiVersion").map_err(|_| {
                invalid(format!(
                    "the resource '{name}' must have a string 'apiVersion'"
                ))
            })?;
            let mut definition = resource.definition.clone();
            if let Some(group) = &group_override {
                definition.insert("resourceGroup".to_owned(), Value::String(group.clone()));
            }
            let index = self.resources.len();
            let mut depends_on = Vec::new();
            if let Some(batch) = serial_batch {
                // Serial loops deploy in batches: each waits for the whole batch before it.
                let position = loop_members.len();
                if position >= batch {
                    let start = (position / batch - 1) * batch;
                    depends_on.extend(&loop_members[start..start + batch]);
                }
            }
            loop_members.push(index);
            self.resources.push(PlannedResource {
                resource_type,
                name,
                id,
                api_version,
                definition,
                copy: scope.copy_indexes().to_vec(),
                loop_name,
                symbolic_name: resource.symbolic_name.clone(),
                path: resource.path.clone(),
                depends_on,
            });
            self.parents.push(parent);
            self.expand_all(&resource.children, Some(index))?;
        }
        Ok(())
    }
}

/// `copy.mode: serial` deploys `batchSize` (default 1) at a time.
fn serial_batch_size(copy: Option<&Value>) -> Option<usize> {
    let copy = copy?;
    let serial = copy
        .get("mode")
        .and_then(Value::as_str)
        .is_some_and(|mode| mode.eq_ignore_ascii_case("serial"));
    serial.then(|| {
        copy.get("batchSize")
            .and_then(Value::as_u64)
            .map_or(1, |n| n.max(1) as usize)
    })
}

/// The id of a resource of the deployment's scope: `Microsoft.Resources/resourceGroups`
/// at subscription scope is `/subscriptions/{s}/resourceGroups/{name}`; every other type
/// is `{scope}/providers/{Namespace}/{type}/{name}/{childType}/{childName}...`.
pub fn resource_id(
    evaluation: &Evaluation<'_>,
    group_override: Option<&str>,
    resource_type: &str,
    name: &str,
) -> Result<String, String> {
    let context = evaluation.context;
    let subscription = format!("/subscriptions/{}", context.subscription_id);
    if resource_type.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        return Ok(format!("{subscription}/resourceGroups/{name}"));
    }
    let scope = match (group_override, &context.group) {
        (Some(group), _) => format!("{subscription}/resourceGroups/{group}"),
        (None, Some(group)) => format!("{subscription}/resourceGroups/{}", group.name),
        (None, None) => subscription,
    };
    let mut types = resource_type.split('/');
    let namespace = types.next().unwrap_or_default();
    let mut id = format!("{scope}/providers/{namespace}");
    for (segment_type, segment_name) in types.zip(name.split('/')) {
        if segment_name.is_empty() {
            return Err(format!("the resource name '{name}' has an empty segment"));
        }
        id.push('/');
        id.push_str(segment_type);
        id.push('/');
        id.push_str(segment_name);
    }
    Ok(id)
}

fn resolve_dependencies(
    index: usize,
    resources: &[PlannedResource],
    parents: &[Option<usize>],
    skipped: &HashSet<String>,
    loops: &HashSet<String>,
    request: &DeploymentRequest,
    evaluation: &Evaluation<'_>,
) -> Result<Vec<usize>, DeploymentError> {
    let resource = &resources[index];
    let find = |target: &str| -> Vec<usize> {
        let wanted = target.trim().to_ascii_lowercase();
        let by_symbol: Vec<usize> = resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.symbolic_name.as_deref().map(str::to_ascii_lowercase) == Some(wanted.clone())
            })
            .map(|(i, _)| i)
            .collect();
        if !by_symbol.is_empty() {
            return by_symbol;
        }
        if loops.contains(&wanted) {
            return resources
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.loop_name.as_deref().map(str::to_ascii_lowercase) == Some(wanted.clone())
                })
                .map(|(i, _)| i)
                .collect();
        }
        resources
            .iter()
            .enumerate()
            .filter(|(_, r)| names(r).contains(&wanted))
            .map(|(i, _)| i)
            .collect()
    };
    let scope = resource.scope(evaluation);
    let mut depends_on: Vec<usize> = resource.depends_on.clone();
    if let Some(parent) = parents[index] {
        depends_on.push(parent);
    }
    if let Some(entries) = resource.definition.get("dependsOn") {
        let Value::Array(entries) = entries else {
            return Err(DeploymentError::invalid_template_at(
                &format!("resource '{}'", resource.name),
                request.position(&resource.path),
                "'dependsOn' must be an array",
            ));
        };
        for entry in entries {
            let target = match scope.evaluate(entry) {
                Ok(Value::String(target)) => target,
                Ok(other) => other.to_string(),
                Err(e) => {
                    return Err(DeploymentError::invalid_template_at(
                        &format!("resource '{}'", resource.name),
                        request.position(&resource.path),
                        &format!("a 'dependsOn' entry could not be evaluated: {e}"),
                    ))
                }
            };
            let found = find(&target);
            if found.is_empty() && !skipped.contains(&target.trim().to_ascii_lowercase()) {
                return Err(DeploymentError::invalid_template_at(
                    &format!("resource '{}'", resource.name),
                    request.position(&resource.path),
                    &format!("The resource '{target}' is not defined in the template"),
                ));
            }
            depends_on.extend(found);
        }
    }
    // reference()/list*() of a resource of the template waits for it, as in ARM.
    for referenced in resource.referenced() {
        if let Ok(Value::String(target)) = expression::evaluate(&referenced, &scope) {
            depends_on.extend(find(&target));
        }
    }
    depends_on.retain(|&dependency| dependency != index);
    depends_on.sort_unstable();
    depends_on.dedup();
    Ok(depends_on)
}
