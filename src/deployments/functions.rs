//! User-defined template functions (the template's `functions` section): each member of a
//! namespace takes typed parameters and answers its `output.value`, called as
//! `namespace.member(...)`. As ARM documents them, a function reads only its own
//! parameters: no template parameters or variables, no `reference`/`list*`, no other
//! user-defined function; built-in functions (including `resourceGroup()` and
//! `subscription()`) work.

use std::collections::BTreeMap;

use serde_json::Value;

use super::expression::{self, ExpressionError, Scope};
use super::template::ParameterType;

/// One user-defined function.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFunction {
    /// `namespace.member` as the template spells it.
    pub name: String,
    pub parameters: Vec<(String, ParameterType)>,
    pub output_type: ParameterType,
    pub output: Value,
}

/// A template's user-defined functions, by lower-case `namespace.member`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFunctions(BTreeMap<String, UserFunction>);

impl UserFunctions {
    /// Reads a `functions` section; `Err` says what is wrong with it.
    pub fn parse(section: &Value) -> Result<Self, String> {
        let Value::Array(namespaces) = section else {
            return Err("it must be an array of namespaces".to_owned());
        };
        let mut functions = BTreeMap::new();
        for namespace in namespaces {
            let name = namespace["namespace"]
                .as_str()
                .filter(|n| !n.is_empty() && !n.contains('.'))
                .ok_or("each namespace needs a 'namespace' name without dots")?;
            let Some(members) = namespace["members"].as_object() else {
                return Err(format!("namespace '{name}' has no 'members' object"));
            };
            for (member, definition) in members {
                let function = parse_member(&format!("{name}.{member}"), definition)?;
                if functions
                    .insert(function.name.to_ascii_lowercase(), function)
                    .is_some()
                {
                    return Err(format!("the function '{name}.{member}' is defined twice"));
                }
            }
        }
        Ok(Self(functions))
    }

    /// Calls `name` with `arguments`, the outer scope answering the built-in functions
    /// that read the deployment; an unknown name is ARM's unknown function.
    pub fn call(
        &self,
        name: &str,
        arguments: Vec<Value>,
        outer: &dyn Scope,
    ) -> Result<Value, ExpressionError> {
        let function = self
            .0
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| ExpressionError::UnknownFunction(name.to_owned()))?;
        if arguments.len() != function.parameters.len() {
            return Err(function.error(format!(
                "it takes {} argument(s), but {} were given",
                function.parameters.len(),
                arguments.len()
            )));
        }
        for ((parameter, declared), value) in function.parameters.iter().zip(&arguments) {
            declared.check(value).map_err(|(expected, actual)| {
                function.error(format!(
                    "the parameter '{parameter}' is of type '{expected}', but the value given \
                     is of type '{actual}'"
                ))
            })?;
        }
        let scope = FunctionScope {
            function,
            arguments,
            outer,
        };
        let output = evaluate(&function.output, &scope)?;
        function
            .output_type
            .check(&output)
            .map_err(|(expected, actual)| {
                function.error(format!(
                    "its output is declared '{expected}', but the value is of type '{actual}'"
                ))
            })?;
        Ok(output)
    }
}

fn parse_member(name: &str, definition: &Value) -> Result<UserFunction, String> {
    let parameters = match &definition["parameters"] {
        Value::Null => Vec::new(),
        Value::Array(parameters) => parameters
            .iter()
            .map(|parameter| {
                let parameter_name = parameter["name"]
                    .as_str()
                    .ok_or_else(|| format!("a parameter of '{name}' has no name"))?;
                let parameter_type = parameter["type"]
                    .as_str()
                    .and_then(ParameterType::parse)
                    .ok_or_else(|| {
                        format!("the parameter '{parameter_name}' of '{name}' has no valid type")
                    })?;
                if parameter.get("defaultValue").is_some() {
                    return Err(format!(
                        "the parameter '{parameter_name}' of '{name}' has a default value, \
                         which user-defined functions cannot have"
                    ));
                }
                Ok((parameter_name.to_owned(), parameter_type))
            })
            .collect::<Result<_, String>>()?,
        _ => return Err(format!("the parameters of '{name}' must be an array")),
    };
    let output = &definition["output"];
    let output_type = output["type"]
        .as_str()
        .and_then(ParameterType::parse)
        .ok_or_else(|| format!("the output of '{name}' has no valid type"))?;
    let Some(value) = output.get("value") else {
        return Err(format!("the output of '{name}' has no value"));
    };
    Ok(UserFunction {
        name: name.to_owned(),
        parameters,
        output_type,
        output: value.clone(),
    })
}

impl UserFunction {
    fn error(&self, reason: impl std::fmt::Display) -> ExpressionError {
        ExpressionError::Evaluation(format!(
            "The user-defined function '{}' could not be evaluated: {reason}.",
            self.name
        ))
    }

    fn not_allowed(&self, what: &str) -> ExpressionError {
        self.error(format!("a user-defined function cannot use {what}"))
    }
}

/// The output value with every expression string in it evaluated.
fn evaluate(value: &Value, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    Ok(match value {
        Value::String(text) => {
            expression::evaluate(&expression::parse_template_string(text)?, scope)?
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| evaluate(item, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, member)| Ok((key.clone(), evaluate(member, scope)?)))
                .collect::<Result<_, ExpressionError>>()?,
        ),
        other => other.clone(),
    })
}

/// What a function's output sees: its arguments as `parameters()`, the deployment's
/// context for the built-ins that read it, nothing else.
struct FunctionScope<'a> {
    function: &'a UserFunction,
    arguments: Vec<Value>,
    outer: &'a dyn Scope,
}

impl Scope for FunctionScope<'_> {
    fn parameter(&self, name: &str) -> Result<Value, ExpressionError> {
        self.function
            .parameters
            .iter()
            .position(|(parameter, _)| parameter.eq_ignore_ascii_case(name))
            .map(|at| self.arguments[at].clone())
            .ok_or_else(|| {
                self.function.error(format!(
                    "'{name}' is not one of its parameters (it cannot read the template's)"
                ))
            })
    }
    fn variable(&self, _name: &str) -> Result<Value, ExpressionError> {
        Err(self.function.not_allowed("variables"))
    }
    fn copy_index(&self, _loop_name: Option<&str>) -> Result<i64, ExpressionError> {
        Err(self.function.not_allowed("copyIndex"))
    }
    fn subscription(&self) -> Value {
        self.outer.subscription()
    }
    fn resource_group(&self) -> Result<Value, ExpressionError> {
        self.outer.resource_group()
    }
    fn deployment(&self) -> Value {
        self.outer.deployment()
    }
    fn environment(&self) -> Value {
        self.outer.environment()
    }
    fn reference(
        &self,
        _resource: &str,
        _api_version: Option<&str>,
        _full: bool,
    ) -> Result<Value, ExpressionError> {
        Err(self.function.not_allowed("reference"))
    }
    fn list(
        &self,
        function: &str,
        _resource_id: &str,
        _api_version: &str,
    ) -> Result<Value, ExpressionError> {
        Err(self.function.not_allowed(function))
    }
    fn utc_now(&self) -> Result<chrono::DateTime<chrono::Utc>, ExpressionError> {
        self.outer.utc_now()
    }
    fn new_guid(&self) -> Result<uuid::Uuid, ExpressionError> {
        self.outer.new_guid()
    }
    fn user_function(&self, name: &str, _arguments: Vec<Value>) -> Result<Value, ExpressionError> {
        Err(self
            .function
            .not_allowed(&format!("another user-defined function ('{name}')")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployments::expression::test_scope::TestScope;

    fn functions() -> UserFunctions {
        UserFunctions::parse(&json!([{
            "namespace": "contoso",
            "members": {
                "uniqueName": {
                    "parameters": [{"name": "namePrefix", "type": "string"}],
                    "output": {"type": "string",
                               "value": "[concat(toLower(parameters('namePrefix')), '-', resourceGroup().name)]"}
                },
                "pair": {
                    "parameters": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}],
                    "output": {"type": "object", "value": {"sum": "[add(parameters('a'), parameters('b'))]"}}
                },
                "leaky": {
                    "parameters": [],
                    "output": {"type": "string", "value": "[variables('prefix')]"}
                },
                "wrongType": {
                    "output": {"type": "int", "value": "text"}
                }
            }
        }]))
        .unwrap()
    }

    #[test]
    fn a_function_reads_its_arguments_and_the_built_ins() {
        let scope = TestScope::default();
        let functions = functions();
        assert_eq!(
            functions
                .call("Contoso.UniqueName", vec![json!("Web")], &scope)
                .unwrap(),
            json!("web-rg1")
        );
        assert_eq!(
            functions
                .call("contoso.pair", vec![json!(2), json!(3)], &scope)
                .unwrap(),
            json!({"sum": 5})
        );
    }

    #[test]
    fn what_arm_refuses_in_a_function_is_an_error() {
        let scope = TestScope::default();
        let functions = functions();
        for (name, arguments, needle) in [
            ("contoso.leaky", vec![], "variables"),
            ("contoso.pair", vec![json!(1)], "2 argument(s)"),
            ("contoso.pair", vec![json!("1"), json!(2)], "'Integer'"),
            ("contoso.wrongType", vec![], "output"),
        ] {
            let error = functions
                .call(name, arguments, &scope)
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{name}: {error}");
        }
        assert!(matches!(
            functions.call("contoso.missing", vec![], &scope),
            Err(ExpressionError::UnknownFunction(_))
        ));
    }

    #[test]
    fn bad_sections_are_refused() {
        for section in [
            json!({}),
            json!([{"members": {}}]),
            json!([{"namespace": "a", "members": {"f": {"output": {"type": "nope", "value": 1}}}}]),
            json!([{"namespace": "a", "members": {"f": {"parameters": [{"name": "p", "type": "int", "defaultValue": 1}],
                                                       "output": {"type": "int", "value": 1}}}}]),
        ] {
            assert!(UserFunctions::parse(&section).is_err(), "{section}");
        }
    }
}
