//! A deployment request as ARM reads it: the template (its parameters, variables, resources
//! and outputs) and the parameter values, each value checked against its declaration
//! (type, allowed values, bounds) before anything is deployed.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::DeploymentError;
use super::functions::UserFunctions;
use super::locate::{locate, Step};

/// `Incremental` leaves resources the template does not name; `Complete` deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Incremental,
    Complete,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "Incremental",
            Self::Complete => "Complete",
        }
    }
}

/// A deployment PUT (or `validate`/`whatIf`) body, parsed.
#[derive(Debug, Clone)]
pub struct DeploymentRequest {
    /// The body as strict JSON (comments blanked, names quoted): its lines are the lines
    /// of the body as sent, so positions in messages are positions in it.
    pub body_text: String,
    pub location: Option<String>,
    pub tags: Map<String, Value>,
    pub template: Template,
    /// The values given, as `{"name":{"value":...}}`.
    pub parameters: Map<String, Value>,
    pub mode: Mode,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDefinition {
    pub parameter_type: ParameterType,
    pub default_value: Option<Value>,
    pub allowed_values: Option<Vec<Value>>,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
}

/// ARM's parameter and output types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    SecureString,
    Int,
    Bool,
    Object,
    SecureObject,
    Array,
}

impl ParameterType {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "string" => Self::String,
            "securestring" => Self::SecureString,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "object" => Self::Object,
            "secureobject" => Self::SecureObject,
            "array" => Self::Array,
            _ => return None,
        })
    }

    /// As ARM spells it in a deployment's `parameters` and `outputs`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::SecureString => "SecureString",
            Self::Int => "Int",
            Self::Bool => "Bool",
            Self::Object => "Object",
            Self::SecureObject => "SecureObject",
            Self::Array => "Array",
        }
    }

    pub fn is_secure(self) -> bool {
        matches!(self, Self::SecureString | Self::SecureObject)
    }

    /// Whether `value` has this type; JSON.NET's names for the message when not.
    pub fn check(self, value: &Value) -> Result<(), (&'static str, &'static str)> {
        let expected = match self {
            Self::String | Self::SecureString => "String",
            Self::Int => "Integer",
            Self::Bool => "Boolean",
            Self::Object | Self::SecureObject => "Object",
            Self::Array => "Array",
        };
        let actual = json_type_name(value);
        let fits = match self {
            Self::Int => value.is_i64(),
            _ => actual == expected,
        };
        if fits {
            Ok(())
        } else {
            Err((expected, actual))
        }
    }
}

/// JSON.NET's name of a value's type, as ARM's messages use it.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// A template, parsed: what the plan expands.
#[derive(Debug, Clone)]
pub struct Template {
    /// As given, for `deployment()` and `exportTemplate`.
    pub document: Value,
    pub parameters: BTreeMap<String, ParameterDefinition>,
    pub variables: Map<String, Value>,
    pub functions: UserFunctions,
    /// The `resources` array's members, each with its path in the body.
    pub resources: Vec<TemplateResource>,
    pub outputs: Map<String, Value>,
}

/// One member of a `resources` array (child resources are nested in its `resources`).
#[derive(Debug, Clone)]
pub struct TemplateResource {
    pub definition: Map<String, Value>,
    /// Its key in a `resources` object (`languageVersion` 2.0): `dependsOn` and
    /// `reference()` may name it so.
    pub symbolic_name: Option<String>,
    pub path: Vec<Step>,
    pub children: Vec<TemplateResource>,
}

const TEMPLATE_PATH: [&str; 2] = ["properties", "template"];

impl DeploymentRequest {
    /// Parses a deployment body. Syntax errors name their line; a structural fault in the
    /// template is `InvalidTemplate` with its position.
    pub fn parse(body: &[u8]) -> Result<Self, DeploymentError> {
        let body_text = super::jsonc::to_json(&String::from_utf8_lossy(body)).map_err(|e| {
            DeploymentError::InvalidRequestContent(format!(
                "The request content was invalid and could not be deserialized: '{}'. Path '', \
                 line {}, position {}.",
                e.message, e.line, e.column
            ))
        })?;
        let document: Value = serde_json::from_str(&body_text).map_err(|e| {
            DeploymentError::InvalidRequestContent(format!(
                "The request content was invalid and could not be deserialized: '{e}'. Path '', \
                 line {}, position {}.",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(mut root) = document else {
            return Err(DeploymentError::InvalidRequestContent(
                "The request content must be a JSON object with a 'properties' member.".to_owned(),
            ));
        };
        let Some(Value::Object(mut properties)) = root.remove("properties") else {
            return Err(DeploymentError::InvalidRequestContent(
                "The request content was invalid: the required property 'properties' is missing."
                    .to_owned(),
            ));
        };
        if properties.contains_key("templateLink") || properties.contains_key("parametersLink") {
            return Err(DeploymentError::InvalidRequestContent(
                "The simulator does not download linked templates or parameter files \
                 ('templateLink', 'parametersLink'): send the template and its parameters \
                 inline ('template', 'parameters')."
                    .to_owned(),
            ));
        }
        let template = match properties.remove("template") {
            Some(template @ Value::Object(_)) => template,
            Some(_) => {
                return Err(DeploymentError::invalid_template(
                    "The template must be a JSON object",
                ))
            }
            None => {
                return Err(DeploymentError::InvalidRequestContent(
                    "The request content was invalid: 'properties.template' is required."
                        .to_owned(),
                ))
            }
        };
        let parameters = match properties.remove("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(parameters)) => parameters,
            Some(_) => {
                return Err(DeploymentError::InvalidRequestContent(
                    "'properties.parameters' must be an object of {\"name\":{\"value\":...}}."
                        .to_owned(),
                ))
            }
        };
        let mode = match properties.get("mode").and_then(Value::as_str) {
            None => Mode::Incremental,
            Some(mode) if mode.eq_ignore_ascii_case("Incremental") => Mode::Incremental,
            Some(mode) if mode.eq_ignore_ascii_case("Complete") => Mode::Complete,
            Some(other) => {
                return Err(DeploymentError::InvalidRequestContent(format!(
                    "The deployment mode '{other}' is not valid; it must be 'Incremental' or \
                     'Complete'."
                )))
            }
        };
        let tags = match root.remove("tags") {
            Some(Value::Object(tags)) => tags,
            _ => Map::new(),
        };
        let location = root
            .remove("location")
            .and_then(|l| l.as_str().map(str::to_owned));
        let template = Template::parse(template, &body_text)?;
        Ok(Self {
            body_text,
            location,
            tags,
            template,
            parameters,
            mode,
        })
    }

    /// The position of a value of the template, by its path below `properties.template`.
    pub fn position(&self, path: &[Step]) -> Option<super::error::TemplatePosition> {
        locate(&self.body_text, path)
    }
}

impl Template {
    fn parse(document: Value, body_text: &str) -> Result<Self, DeploymentError> {
        let at = |path: Vec<Step>| locate(body_text, &path);
        let template_path = || -> Vec<Step> {
            TEMPLATE_PATH
                .iter()
                .map(|k| Step::Key((*k).to_owned()))
                .collect()
        };
        let object = document.as_object().expect("checked by the caller");
        let functions = match object.get("functions") {
            None => UserFunctions::default(),
            Some(section) => UserFunctions::parse(section).map_err(|reason| {
                DeploymentError::invalid_template_at(
                    "section 'functions'",
                    at([template_path(), vec![Step::Key("functions".into())]].concat()),
                    &reason,
                )
            })?,
        };
        let mut parameters = BTreeMap::new();
        if let Some(declared) = object.get("parameters") {
            let Value::Object(declared) = declared else {
                return Err(DeploymentError::invalid_template_at(
                    "section 'parameters'",
                    at([template_path(), vec![Step::Key("parameters".into())]].concat()),
                    "it must be an object",
                ));
            };
            for (name, definition) in declared {
                let path = [
                    template_path(),
                    vec![Step::Key("parameters".into()), Step::Key(name.clone())],
                ]
                .concat();
                let definition = parse_parameter(definition).map_err(|reason| {
                    DeploymentError::invalid_template_at(
                        &format!("parameter '{name}'"),
                        at(path),
                        &reason,
                    )
                })?;
                parameters.insert(name.clone(), definition);
            }
        }
        let variables = match object.get("variables") {
            None => Map::new(),
            Some(Value::Object(variables)) => variables.clone(),
            Some(_) => {
                return Err(DeploymentError::invalid_template_at(
                    "section 'variables'",
                    at([template_path(), vec![Step::Key("variables".into())]].concat()),
                    "it must be an object",
                ))
            }
        };
        let resources =
            match object.get("resources") {
                Some(resources) => {
                    let mut path = template_path();
                    path.push(Step::Key("resources".to_owned()));
                    parse_resources(resources, &path, body_text)?
                }
                None => return Err(DeploymentError::invalid_template(
                    "Required property 'resources' not found in JSON. Path 'properties.template'",
                )),
            };
        let outputs = match object.get("outputs") {
            Some(Value::Object(outputs)) => outputs.clone(),
            _ => Map::new(),
        };
        Ok(Self {
            document,
            parameters,
            variables,
            functions,
            resources,
            outputs,
        })
    }

    /// Checks the values given against the declarations: every value declared, typed as
    /// declared, within its bounds. Values not given come from defaults, evaluated later
    /// (a default may be an expression); a value without default and not given is an error.
    pub fn check_parameters(
        &self,
        given: &Map<String, Value>,
        request: &DeploymentRequest,
    ) -> Result<BTreeMap<String, Value>, DeploymentError> {
        let extra: Vec<&str> = given
            .keys()
            .filter(|name| !self.declares(name))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            return Err(DeploymentError::invalid_template(format!(
                "The following parameters were supplied, but do not correspond to any parameters \
                 defined in the template: '{}'",
                extra.join(", ")
            )));
        }
        let mut values = BTreeMap::new();
        for (name, value) in given {
            let Some(declared_name) = self.declared_name(name) else {
                continue;
            };
            let value = match value {
                Value::Object(entry) if entry.contains_key("value") => entry["value"].clone(),
                Value::Object(entry) if entry.contains_key("reference") => {
                    return Err(DeploymentError::invalid_template(format!(
                        "The parameter '{name}' is a Key Vault reference; the simulator has no \
                         Key Vault: give its value"
                    )))
                }
                _ => {
                    return Err(DeploymentError::InvalidRequestContent(format!(
                        "The value of deployment parameter '{name}' is null or not an object \
                         with a 'value' member."
                    )))
                }
            };
            values.insert(declared_name.to_owned(), value);
        }
        for (name, definition) in &self.parameters {
            if !values.contains_key(name) && definition.default_value.is_none() {
                let path = [
                    TEMPLATE_PATH
                        .iter()
                        .map(|k| Step::Key((*k).to_owned()))
                        .collect(),
                    vec![Step::Key("parameters".into()), Step::Key(name.clone())],
                ]
                .concat();
                let position = request.position(&path);
                let message = match &position {
                    Some(at) => format!(
                        "Deployment template validation failed: 'The value for the template \
                         parameter '{name}' at line '{}' and column '{}' is not provided. Please \
                         see https://aka.ms/arm-create-parameter-file for usage details.'.",
                        at.line, at.column
                    ),
                    None => format!(
                        "Deployment template validation failed: 'The value for the template \
                         parameter '{name}' is not provided.'."
                    ),
                };
                return Err(DeploymentError::InvalidTemplate { message, position });
            }
        }
        Ok(values)
    }

    /// Checks one parameter's final value (given, or its default evaluated).
    pub fn check_value(&self, name: &str, value: &Value) -> Result<(), DeploymentError> {
        let definition = &self.parameters[name];
        let invalid = |reason: String| {
            DeploymentError::invalid_template(format!(
                "The provided value for the template parameter '{name}' is not valid. {reason}"
            ))
        };
        definition
            .parameter_type
            .check(value)
            .map_err(|(expected, actual)| {
                DeploymentError::invalid_template(format!(
                    "Template parameter JToken type is not valid. Expected '{expected}'. Actual \
                     '{actual}'. Please see https://aka.ms/arm-create-parameter-file for usage \
                     details. (parameter '{name}')"
                ))
            })?;
        if let Some(allowed) = &definition.allowed_values {
            let members: Vec<&Value> = match value {
                Value::Array(items) if definition.parameter_type == ParameterType::Array => {
                    items.iter().collect()
                }
                other => vec![other],
            };
            if let Some(bad) = members.iter().find(|v| !allowed.contains(v)) {
                let allowed: Vec<String> = allowed.iter().map(display).collect();
                return Err(invalid(format!(
                    "The value '{}' is not part of the allowed value(s): '{}'.",
                    display(bad),
                    allowed.join(",")
                )));
            }
        }
        if let Some(number) = value.as_i64() {
            if let Some(min) = definition.min_value.filter(|min| number < *min) {
                return Err(invalid(format!(
                    "The value '{number}' is less than the minimum value '{min}'."
                )));
            }
            if let Some(max) = definition.max_value.filter(|max| number > *max) {
                return Err(invalid(format!(
                    "The value '{number}' is greater than the maximum value '{max}'."
                )));
            }
        }
        let length = match value {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(items) => Some(items.len()),
            _ => None,
        };
        if let Some(length) = length {
            if let Some(min) = definition.min_length.filter(|min| length < *min) {
                return Err(invalid(format!(
                    "The length of the value, {length}, is less than the minimum length {min}."
                )));
            }
            if let Some(max) = definition.max_length.filter(|max| length > *max) {
                return Err(invalid(format!(
                    "The length of the value, {length}, is greater than the maximum length {max}."
                )));
            }
        }
        Ok(())
    }

    /// Parameter names match in any case, as ARM matches them.
    fn declared_name(&self, name: &str) -> Option<&str> {
        self.parameters
            .keys()
            .find(|declared| declared.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    fn declares(&self, name: &str) -> bool {
        self.declared_name(name).is_some()
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_parameter(definition: &Value) -> Result<ParameterDefinition, String> {
    let Value::Object(definition) = definition else {
        return Err("a parameter declaration must be an object with a 'type'".to_owned());
    };
    let type_name = definition
        .get("type")
        .and_then(Value::as_str)
        .ok_or("the required property 'type' is missing")?;
    let parameter_type = ParameterType::parse(type_name).ok_or_else(|| {
        format!(
            "the type '{type_name}' is not one of 'string', 'securestring', 'int', 'bool', \
             'object', 'secureObject', 'array'"
        )
    })?;
    let integer = |key: &str| -> Result<Option<i64>, String> {
        match definition.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("'{key}' must be an integer")),
        }
    };
    let length = |key: &str| -> Result<Option<usize>, String> {
        integer(key)?
            .map(|n| usize::try_from(n).map_err(|_| format!("'{key}' must not be negative")))
            .transpose()
    };
    let allowed_values = match definition.get("allowedValues") {
        None => None,
        Some(Value::Array(values)) => Some(values.clone()),
        Some(_) => return Err("'allowedValues' must be an array".to_owned()),
    };
    Ok(ParameterDefinition {
        parameter_type,
        default_value: definition.get("defaultValue").cloned(),
        allowed_values,
        min_value: integer("minValue")?,
        max_value: integer("maxValue")?,
        min_length: length("minLength")?,
        max_length: length("maxLength")?,
    })
}

/// The members of a `resources` array, or of a `resources` object keyed by symbolic name
/// (`languageVersion` 2.0).
fn parse_resources(
    resources: &Value,
    path: &[Step],
    body_text: &str,
) -> Result<Vec<TemplateResource>, DeploymentError> {
    let members: Vec<(Step, Option<&String>, &Value)> = match resources {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| (Step::Index(index), None, item))
            .collect(),
        Value::Object(by_name) => by_name
            .iter()
            .map(|(name, item)| (Step::Key(name.clone()), Some(name), item))
            .collect(),
        _ => {
            return Err(DeploymentError::invalid_template_at(
                "section 'resources'",
                locate(body_text, path),
                "it must be an array, or an object keyed by symbolic name",
            ))
        }
    };
    members
        .into_iter()
        .map(|(step, symbolic_name, resource)| {
            let mut path = path.to_vec();
            path.push(step);
            let Value::Object(definition) = resource else {
                return Err(DeploymentError::invalid_template_at(
                    "resource",
                    locate(body_text, &path),
                    "a resource must be a JSON object",
                ));
            };
            for required in ["type", "name"] {
                if !definition.get(required).is_some_and(Value::is_string) {
                    return Err(DeploymentError::invalid_template_at(
                        "resource",
                        locate(body_text, &path),
                        &format!("the required string property '{required}' is missing"),
                    ));
                }
            }
            if definition
                .get("existing")
                .is_some_and(|existing| !existing.is_boolean())
            {
                return Err(DeploymentError::invalid_template_at(
                    "resource",
                    locate(body_text, &path),
                    "'existing' must be a boolean",
                ));
            }
            let children = match definition.get("resources") {
                Some(children @ Value::Array(_)) => {
                    let mut children_path = path.clone();
                    children_path.push(Step::Key("resources".to_owned()));
                    parse_resources(children, &children_path, body_text)?
                }
                _ => Vec::new(),
            };
            Ok(TemplateResource {
                definition: definition.clone(),
                symbolic_name: symbolic_name.cloned(),
                path,
                children,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(template: Value, parameters: Value) -> DeploymentRequest {
        let body = serde_json::to_vec_pretty(&json!({
            "properties": {"template": template, "parameters": parameters, "mode": "Incremental"}
        }))
        .unwrap();
        DeploymentRequest::parse(&body).unwrap()
    }

    fn message(error: DeploymentError) -> String {
        match error {
            DeploymentError::InvalidTemplate { message, .. } => message,
            other => panic!("expected InvalidTemplate, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_parameter_is_named_with_its_line() {
        let request = request(
            json!({"$schema": "s", "contentVersion": "1.0.0.0",
                   "parameters": {"vaultName": {"type": "string"}}, "resources": []}),
            json!({}),
        );
        let error = request
            .template
            .check_parameters(&request.parameters, &request)
            .unwrap_err();
        let detail = error.detail();
        assert_eq!(detail.code, "InvalidTemplate");
        assert!(
            detail
                .message
                .contains("'vaultName' at line '9' and column '22'"),
            "{}",
            detail.message
        );
        assert_eq!(detail.additional_info[0].info["lineNumber"], 9);
    }

    #[test]
    fn given_values_are_checked_against_their_declarations() {
        let request = request(
            json!({"parameters": {
                "count": {"type": "int", "minValue": 1, "maxValue": 3},
                "sku": {"type": "string", "allowedValues": ["Standard", "Premium"]},
                "name": {"type": "string", "maxLength": 5}},
                "resources": []}),
            json!({"count": {"value": 2}, "SKU": {"value": "Standard"}, "name": {"value": "ab"}}),
        );
        let template = &request.template;
        let values = template
            .check_parameters(&request.parameters, &request)
            .unwrap();
        assert_eq!(values["sku"], "Standard", "names match in any case");
        assert!(template.check_value("count", &json!(2)).is_ok());
        let cases = [
            ("count", json!("2"), "Expected 'Integer'. Actual 'String'"),
            ("count", json!(0), "less than the minimum value '1'"),
            ("count", json!(4), "greater than the maximum value '3'"),
            (
                "sku",
                json!("Basic"),
                "not part of the allowed value(s): 'Standard,Premium'",
            ),
            ("name", json!("abcdef"), "greater than the maximum length 5"),
        ];
        for (name, value, expected) in cases {
            let text = message(template.check_value(name, &value).unwrap_err());
            assert!(text.contains(expected), "{name}={value}: {text}");
        }
    }

    #[test]
    fn parameters_the_template_does_not_declare_are_refused() {
        let request = request(
            json!({"parameters": {"a": {"type": "string", "defaultValue": "x"}}, "resources": []}),
            json!({"b": {"value": 1}}),
        );
        let text = message(
            request
                .template
                .check_parameters(&request.parameters, &request)
                .unwrap_err(),
        );
        assert!(
            text.contains("do not correspond to any parameters"),
            "{text}"
        );
        assert!(text.contains("'b'"), "{text}");
    }

    #[test]
    fn a_body_that_is_not_json_names_the_line() {
        let error =
            DeploymentRequest::parse(b"{\n \"properties\": {\n  \"template\": {,\n").unwrap_err();
        let detail = error.detail();
        assert_eq!(detail.code, "InvalidRequestContent");
        assert!(detail.message.contains("line 3"), "{}", detail.message);
    }

    #[test]
    fn a_resource_without_a_type_is_an_invalid_template_at_its_position() {
        let body = serde_json::to_vec_pretty(&json!({"properties": {"template": {
            "resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "a"}, {"name": "b"}]
        }}}))
        .unwrap();
        let detail = DeploymentRequest::parse(&body).unwrap_err().detail();
        assert_eq!(detail.code, "InvalidTemplate");
        assert!(
            detail.message.contains("'type' is missing"),
            "{}",
            detail.message
        );
        assert_eq!(
            detail.additional_info[0].info["path"],
            "properties.template.resources[1]"
        );
    }
}
