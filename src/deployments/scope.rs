//! What a template's expressions read: the deployment's context (subscription, resource
//! group, deployment), its parameters and variables (each evaluated once, on first use, so
//! a default or variable may use another), the indexes of the copy loops being expanded
//! and the resources `reference()` may read.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::DeploymentError;
use super::expression::{self, ExpressionError, Scope};
use super::template::Template;

/// Where a deployment runs.
#[derive(Debug, Clone)]
pub struct Context {
    pub subscription_id: String,
    pub tenant_id: String,
    /// `None` for a deployment at subscription scope.
    pub group: Option<GroupFacts>,
    pub deployment_name: String,
    /// The deployment's own location (subscription scope).
    pub location: Option<String>,
    /// `utcNow()` in parameter defaults.
    pub now: DateTime<Utc>,
    /// The management endpoint, for `environment()`.
    pub management_url: String,
}

#[derive(Debug, Clone)]
pub struct GroupFacts {
    pub name: String,
    pub location: String,
}

impl Context {
    pub fn group_id(&self) -> Option<String> {
        self.group.as_ref().map(|group| {
            format!(
                "/subscriptions/{}/resourceGroups/{}",
                self.subscription_id, group.name
            )
        })
    }
}

/// A value being evaluated, to tell a cycle from a value read twice.
enum Memo {
    InProgress,
    Done(Value),
}

/// The resources `reference()` may read: full resources by lower-cased id, and the ids of
/// the template's resources by name (a name alone may name a resource of the template).
#[derive(Debug, Default, Clone)]
pub struct References {
    pub by_id: HashMap<String, Value>,
    pub ids_by_name: HashMap<String, String>,
}

impl References {
    /// The id `resource` names: an id as given, or the id of the template's resource of
    /// that name.
    pub fn resolve(&self, resource: &str) -> String {
        if resource.starts_with('/') {
            resource.to_owned()
        } else {
            self.ids_by_name
                .get(&resource.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| resource.to_owned())
        }
    }
}

/// One deployment's parameters and variables.
pub struct Evaluation<'a> {
    pub context: &'a Context,
    pub template: &'a Template,
    given: BTreeMap<String, Value>,
    parameters: RefCell<HashMap<String, Memo>>,
    variables: RefCell<HashMap<String, Memo>>,
}

impl<'a> Evaluation<'a> {
    /// The template's parameters with the values given (already checked by
    /// [`Template::check_parameters`]); defaults are evaluated when first read.
    pub fn new(
        context: &'a Context,
        template: &'a Template,
        given: BTreeMap<String, Value>,
    ) -> Self {
        Self {
            context,
            template,
            given,
            parameters: RefCell::new(HashMap::new()),
            variables: RefCell::new(HashMap::new()),
        }
    }

    /// A scope outside any copy loop that cannot read resources.
    pub fn scope(&self) -> EvalScope<'_, 'a> {
        EvalScope {
            evaluation: self,
            copy: Vec::new(),
            references: None,
            in_parameter_default: false,
        }
    }

    /// Every parameter's final value, each checked against its declaration.
    pub fn parameter_values(&self) -> Result<BTreeMap<String, Value>, DeploymentError> {
        let scope = self.scope();
        let mut values = BTreeMap::new();
        for name in self.template.parameters.keys() {
            let value = scope.parameter(name).map_err(|e| {
                DeploymentError::invalid_template(format!(
                    "The template parameter '{name}' could not be evaluated: {e}"
                ))
            })?;
            self.template.check_value(name, &value)?;
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    /// Evaluates every variable, so that a faulty one is reported before anything deploys.
    pub fn check_variables(&self) -> Result<(), DeploymentError> {
        let scope = self.scope();
        let mut names: Vec<String> = self
            .template
            .variables
            .keys()
            .filter(|name| *name != "copy")
            .cloned()
            .collect();
        names.extend(copy_variable_names(&self.template.variables));
        for name in names {
            scope.variable(&name).map_err(|e| {
                DeploymentError::invalid_template(format!(
                    "The template variable '{name}' is not valid: {e}"
                ))
            })?;
        }
        Ok(())
    }

    fn declared_parameter(&self, name: &str) -> Option<&'a str> {
        self.template
            .parameters
            .keys()
            .find(|declared| declared.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }
}

/// The names a top-level variables `copy` array defines.
fn copy_variable_names(variables: &Map<String, Value>) -> Vec<String> {
    match variables.get("copy") {
        Some(Value::Array(entries)) => entries
            .iter()
            .filter_map(|entry| entry.get("name")?.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The scope one expression is evaluated in.
#[derive(Clone)]
pub struct EvalScope<'e, 'a> {
    evaluation: &'e Evaluation<'a>,
    /// The loops being expanded, outermost first: their names and current indexes.
    copy: Vec<(String, i64)>,
    references: Option<&'e References>,
    in_parameter_default: bool,
}

impl<'e, 'a> EvalScope<'e, 'a> {
    /// This scope inside the loop `name` at `index`.
    pub fn in_loop(&self, name: &str, index: i64) -> Self {
        let mut scope = self.clone();
        scope.copy.push((name.to_owned(), index));
        scope
    }

    /// This scope, able to read the resources in `references`.
    pub fn with_references(&self, references: &'e References) -> Self {
        Self {
            references: Some(references),
            ..self.clone()
        }
    }

    pub fn copy_indexes(&self) -> &[(String, i64)] {
        &self.copy
    }

    /// Evaluates a template value: strings that are expressions, arrays and objects member
    /// by member, and property `copy` arrays (`"copy":[{"name","count","input"}]`) into the
    /// arrays they define.
    pub fn evaluate(&self, value: &Value) -> Result<Value, ExpressionError> {
        match value {
            Value::String(text) => {
                let expr = expression::parse_template_string(text)?;
                expression::evaluate(&expr, self)
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.evaluate(item))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(members) => {
                let mut evaluated = Map::new();
                for (key, member) in members {
                    match (key.as_str(), member) {
                        ("copy", Value::Array(loops)) if loops.iter().all(is_property_loop) => {
                            for property_loop in loops {
                                let (name, items) = self.expand_loop(property_loop)?;
                                evaluated.insert(name, Value::Array(items));
                            }
                        }
                        _ => {
                            evaluated.insert(key.clone(), self.evaluate(member)?);
                        }
                    }
                }
                Ok(Value::Object(evaluated))
            }
            other => Ok(other.clone()),
        }
    }

    /// A `{"name","count","input"}` loop: its name and the inputs it yields.
    fn expand_loop(&self, property_loop: &Value) -> Result<(String, Vec<Value>), ExpressionError> {
        let name = property_loop["name"]
            .as_str()
            .ok_or_else(|| {
                ExpressionError::Evaluation("a copy loop's 'name' must be a string".into())
            })?
            .to_owned();
        let count = self.count(&property_loop["count"], &name)?;
        let items = (0..count)
            .map(|index| self.in_loop(&name, index).evaluate(&property_loop["input"]))
            .collect::<Result<_, _>>()?;
        Ok((name, items))
    }

    /// A copy loop's `count`: an integer from 0 to 800, as ARM allows.
    pub fn count(&self, count: &Value, loop_name: &str) -> Result<i64, ExpressionError> {
        let count = self.evaluate(count)?;
        match count.as_i64() {
            Some(n) if (0..=800).contains(&n) => Ok(n),
            _ => Err(ExpressionError::Evaluation(format!(
                "The copy count of loop '{loop_name}' must be an integer from 0 to 800; it is \
                 '{count}'."
            ))),
        }
    }
}

fn is_property_loop(value: &Value) -> bool {
    value.get("name").is_some_and(Value::is_string)
        && value.get("count").is_some()
        && value.get("input").is_some()
}

fn not_here(function: &str) -> ExpressionError {
    ExpressionError::Evaluation(format!(
        "The template function '{function}' is not expected at this location. Please see \
         https://aka.ms/arm-functions for usage details."
    ))
}

impl Scope for EvalScope<'_, '_> {
    fn parameter(&self, name: &str) -> Result<Value, ExpressionError> {
        let evaluation = self.evaluation;
        let Some(declared) = evaluation.declared_parameter(name) else {
            return Err(ExpressionError::Evaluation(format!(
                "The template parameter '{name}' is not found. Please see \
                 https://aka.ms/arm-syntax-parameters for usage details."
            )));
        };
        if let Some(value) = evaluation.given.get(declared) {
            return Ok(value.clone());
        }
        match evaluation.parameters.borrow().get(declared) {
            Some(Memo::Done(value)) => return Ok(value.clone()),
            Some(Memo::InProgress) => {
                return Err(ExpressionError::Evaluation(format!(
                    "The default value of parameter '{declared}' refers to itself."
                )))
            }
            None => {}
        }
        let default = evaluation.template.parameters[declared]
            .default_value
            .clone()
            .unwrap_or(Value::Null);
        evaluation
            .parameters
            .borrow_mut()
            .insert(declared.to_owned(), Memo::InProgress);
        let scope = EvalScope {
            evaluation,
            copy: Vec::new(),
            references: None,
            in_parameter_default: true,
        };
        let value = scope.evaluate(&default);
        let mut memo = evaluation.parameters.borrow_mut();
        match value {
            Ok(value) => {
                memo.insert(declared.to_owned(), Memo::Done(value.clone()));
                Ok(value)
            }
            Err(e) => {
                memo.remove(declared);
                Err(e)
            }
        }
    }

    fn variable(&self, name: &str) -> Result<Value, ExpressionError> {
        let evaluation = self.evaluation;
        let variables = &evaluation.template.variables;
        match evaluation.variables.borrow().get(name) {
            Some(Memo::Done(value)) => return Ok(value.clone()),
            Some(Memo::InProgress) => {
                return Err(ExpressionError::Evaluation(format!(
                    "The variable '{name}' refers to itself, directly or through other variables."
                )))
            }
            None => {}
        }
        let copy_loop = match variables.get("copy") {
            Some(Value::Array(loops)) => loops
                .iter()
                .find(|l| l.get("name").and_then(Value::as_str) == Some(name))
                .cloned(),
            _ => None,
        };
        let raw = variables.get(name).filter(|_| name != "copy").cloned();
        if raw.is_none() && copy_loop.is_none() {
            return Err(ExpressionError::Evaluation(format!(
                "The template variable '{name}' is not found. Please see \
                 https://aka.ms/arm-syntax-variables for usage details."
            )));
        }
        evaluation
            .variables
            .borrow_mut()
            .insert(name.to_owned(), Memo::InProgress);
        // Variables see parameters and other variables, never a resource's loop or resources.
        let scope = evaluation.scope();
        let value = match (raw, copy_loop) {
            (Some(raw), _) => scope.evaluate(&raw),
            (None, Some(copy_loop)) => scope
                .expand_loop(&copy_loop)
                .map(|(_, items)| Value::Array(items)),
            (None, None) => unreachable!("checked above"),
        };
        let mut memo = evaluation.variables.borrow_mut();
        match value {
            Ok(value) => {
                memo.insert(name.to_owned(), Memo::Done(value.clone()));
                Ok(value)
            }
            Err(e) => {
                memo.remove(name);
                Err(e)
            }
        }
    }

    fn copy_index(&self, loop_name: Option<&str>) -> Result<i64, ExpressionError> {
        let found = match loop_name {
            None => self.copy.last(),
            Some(wanted) => self
                .copy
                .iter()
                .rev()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted)),
        };
        found.map(|(_, index)| *index).ok_or_else(|| {
            ExpressionError::Evaluation(match loop_name {
                None => "The template function 'copyIndex' is not expected at this location. \
                         The function can only be used in a resource with copy specified."
                    .to_owned(),
                Some(name) => format!("The copy loop '{name}' is not found or not in scope here."),
            })
        })
    }

    fn subscription(&self) -> Value {
        let context = self.evaluation.context;
        json!({
            "id": format!("/subscriptions/{}", context.subscription_id),
            "subscriptionId": context.subscription_id,
            "tenantId": context.tenant_id,
            "displayName": format!("vaultsim subscription {}", context.subscription_id),
        })
    }

    fn resource_group(&self) -> Result<Value, ExpressionError> {
        let context = self.evaluation.context;
        let group = context
            .group
            .as_ref()
            .ok_or_else(|| not_here("resourceGroup"))?;
        Ok(json!({
            "id": context.group_id(),
            "name": group.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": group.location,
            "properties": {"provisioningState": "Succeeded"},
        }))
    }

    fn deployment(&self) -> Value {
        let context = self.evaluation.context;
        let mut deployment = json!({
            "name": context.deployment_name,
            "properties": {
                "template": {
                    "contentVersion": self.evaluation.template.document
                        .get("contentVersion").cloned().unwrap_or(json!("1.0.0.0")),
                },
                "templateHash": "",
                "mode": "Incremental",
                "provisioningState": "Accepted",
            },
        });
        if let Some(location) = &context.location {
            deployment["location"] = json!(location);
        }
        deployment
    }

    fn environment(&self) -> Value {
        let url = self.evaluation.context.management_url.trim_end_matches('/');
        json!({
            "name": "vaultsim",
            "gallery": "",
            "graph": "",
            "portal": url,
            "graphAudience": "",
            "activeDirectoryDataLake": "",
            "batch": "",
            "media": "",
            "sqlManagement": "",
            "vmImageAliasDoc": "",
            "resourceManager": format!("{url}/"),
            "authentication": {
                "loginEndpoint": format!("{url}/"),
                "audiences": [format!("{url}/")],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {
                "acrLoginServer": "",
                "keyvaultDns": "",
                "sqlServerHostname": "",
                "storage": "core.windows.net",
            },
        })
    }

    fn reference(
        &self,
        resource: &str,
        _api_version: Option<&str>,
        full: bool,
    ) -> Result<Value, ExpressionError> {
        let references = self.references.ok_or_else(|| not_here("reference"))?;
        let id = references.resolve(resource);
        let found = references
            .by_id
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| {
                ExpressionError::Evaluation(format!(
                    "The Resource '{id}' was not found: reference() can only read a resource that \
                 exists or that the template deploys before this one."
                ))
            })?;
        Ok(if full {
            found.clone()
        } else {
            found
                .get("properties")
                .cloned()
                .unwrap_or_else(|| json!({}))
        })
    }

    fn list(
        &self,
        function: &str,
        resource_id: &str,
        _api_version: &str,
    ) -> Result<Value, ExpressionError> {
        Err(ExpressionError::Evaluation(format!(
            "The template function '{function}' on '{resource_id}' is not supported by the \
             simulator: no resource it serves has a '{function}' action."
        )))
    }

    fn utc_now(&self) -> Result<DateTime<Utc>, ExpressionError> {
        if self.in_parameter_default {
            Ok(self.evaluation.context.now)
        } else {
            Err(ExpressionError::Evaluation(
                "The template function 'utcNow' is not expected at this location. It can only be \
                 used in the default value of a parameter."
                    .to_owned(),
            ))
        }
    }

    fn user_function(&self, name: &str, arguments: Vec<Value>) -> Result<Value, ExpressionError> {
        self.evaluation
            .template
            .functions
            .call(name, arguments, self)
    }

    fn new_guid(&self) -> Result<uuid::Uuid, ExpressionError> {
        if self.in_parameter_default {
            Ok(uuid::Uuid::new_v4())
        } else {
            Err(ExpressionError::Evaluation(
                "The template function 'newGuid' is not expected at this location. It can only \
                 be used in the default value of a parameter."
                    .to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::template::DeploymentRequest;

    fn request(template: Value) -> DeploymentRequest {
        let body = json!({"properties": {"template": template}});
        DeploymentRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
    }

    fn context() -> Context {
        Context {
            subscription_id: "s".to_owned(),
            tenant_id: "t".to_owned(),
            group: Some(GroupFacts {
                name: "rg".to_owned(),
                location: "westeurope".to_owned(),
            }),
            deployment_name: "d".to_owned(),
            location: None,
            now: chrono::Utc::now(),
            management_url: "https://127.0.0.1:8443".to_owned(),
        }
    }

    #[test]
    fn values_are_walked_keys_are_not_and_property_loops_expand() {
        let request = request(json!({
            "parameters": {"n": {"type": "int", "defaultValue": 2}},
            "variables": {"prefix": "[concat('disk-', resourceGroup().name)]"},
            "resources": []
        }));
        let context = context();
        let evaluation = Evaluation::new(&context, &request.template, BTreeMap::new());
        let value = json!({
            "[parameters('n')]": ["[variables('prefix')]", "[[escaped]", 3, null],
            "plain": "not [an] expression",
            "storage": {"copy": [{"name": "dataDisks", "count": "[parameters('n')]",
                                  "input": {"lun": "[copyIndex('dataDisks')]"}}]}
        });
        assert_eq!(
            evaluation.scope().evaluate(&value).unwrap(),
            json!({
                "[parameters('n')]": ["disk-rg", "[escaped]", 3, null],
                "plain": "not [an] expression",
                "storage": {"dataDisks": [{"lun": 0}, {"lun": 1}]}
            })
        );
    }

    #[test]
    fn a_variable_that_refers_to_itself_is_an_error_not_a_hang() {
        let request = request(json!({
            "variables": {"a": "[variables('b')]", "b": "[variables('a')]"},
            "resources": []
        }));
        let context = context();
        let evaluation = Evaluation::new(&context, &request.template, BTreeMap::new());
        let error = evaluation.check_variables().unwrap_err().detail();
        assert_eq!(error.code, "InvalidTemplate");
        assert!(
            error.message.contains("refers to itself"),
            "{}",
            error.message
        );
    }

    #[test]
    fn utc_now_only_in_parameter_defaults() {
        let request = request(json!({
            "parameters": {"stamp": {"type": "string", "defaultValue": "[utcNow('yyyy')]"}},
            "variables": {"late": "[utcNow()]"},
            "resources": []
        }));
        let mut context = context();
        context.now = "2031-05-06T07:08:09Z".parse().unwrap();
        let evaluation = Evaluation::new(&context, &request.template, BTreeMap::new());
        assert_eq!(evaluation.parameter_values().unwrap()["stamp"], "2031");
        assert!(evaluation.check_variables().is_err());
    }
}
