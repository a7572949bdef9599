//! The ARM template expression language: the `"[concat(parameters('a'), '-b')]"` strings of a
//! template, parsed and evaluated.
//!
//! A pure module: no I/O, no async. What an expression reads from its deployment
//! (parameters, variables, the resource group, other resources) comes through [`Scope`],
//! which the deployment engine implements.
//!
//! Where ARM's behaviour was checked against a published source, the function's doc comment
//! or test names the source; where it could not be checked, the comment says what was chosen.
//!
//! Choices worth knowing:
//! - A JSON string is an expression only when its first character is `[` and its last `]`
//!   (nothing trimmed, as ARM does). `[[...]` is the escape: the string minus its first `[`.
//!   A string that starts with `[[` but does not end with `]` is not an expression and is
//!   left exactly as written (ARM's documentation says not to escape those).
//! - `true`, `false` and `null` are functions in ARM (`true()`); the bare words are accepted
//!   as literals too, case-insensitively.
//! - `if`, `and`, `or` and `coalesce` evaluate their arguments lazily, left to right, so
//!   `if(cond, reference(x), null())` does not read `x` when `cond` is false.
//! - String positions (`length`, `substring`, `indexOf`, `padLeft`, `take`, `skip`, ...)
//!   count UTF-16 code units, as .NET (and so ARM) does.
//! - Lambda functions (`map`, `filter`, `reduce`, `sort`, `toObject`, `mapValues`,
//!   `groupBy`) take `lambda('x', body)` arguments; a lambda whose parameter list has room
//!   for it gets the element's index too (Bicep's `(item, i) => ...`).

mod evaluate;
mod functions;
mod lambdas;
mod parse;
mod unique;
mod values;

#[cfg(test)]
pub(crate) mod test_scope;

pub use serde_json::Value;

pub use evaluate::evaluate;
pub use functions::resources::resource_id;
pub use parse::{parse_expression, parse_template_string};
pub use unique::{guid, unique_string};

/// One parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string, integer, or boolean literal (`'text'`, `12`, `-3`). The bare words `true`,
    /// `false` and `null` (any case) parse to literals too; `true()` etc. are calls.
    Literal(Value),
    /// `name(arg, ...)`; the name as written (function names are case-insensitive: compare
    /// lower-cased). A user-defined function keeps its namespace: `contoso.uniqueName`.
    Call { name: String, args: Vec<Expr> },
    /// `expr.property`
    Property(Box<Expr>, String),
    /// `expr[index]` (index evaluates to an int for arrays or a string for objects)
    Index(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpressionError {
    /// A syntax error: `position` is the 0-based char offset in `expression`, the text
    /// between the outer brackets.
    #[error(
        "The template language expression '{expression}' is not valid: {message} \
         (at position {position})"
    )]
    Syntax {
        expression: String,
        message: String,
        position: usize,
    },
    /// Unknown function.
    #[error(
        "The template function '{0}' is not valid. Please see \
         https://aka.ms/arm-functions for usage details."
    )]
    UnknownFunction(String),
    /// Evaluation failed (wrong argument count/type, missing property, index out of range,
    /// ...): ARM-style message.
    #[error("{0}")]
    Evaluation(String),
}

/// What an expression can read from its deployment. Implemented by the deployment engine.
pub trait Scope {
    fn parameter(&self, name: &str) -> Result<Value, ExpressionError>;
    fn variable(&self, name: &str) -> Result<Value, ExpressionError>;
    /// `copyIndex()` / `copyIndex(offset)` / `copyIndex('loopName')` /
    /// `copyIndex('loopName', offset)`: the index of the named (or innermost) copy loop,
    /// before the offset is added.
    fn copy_index(&self, loop_name: Option<&str>) -> Result<i64, ExpressionError>;
    /// `subscription()`: `{"id":"/subscriptions/{s}","subscriptionId":..,"tenantId":..,
    /// "displayName":..}`
    fn subscription(&self) -> Value;
    /// `resourceGroup()`: `{"id","name","type":"Microsoft.Resources/resourceGroups",
    /// "location","properties":{"provisioningState":"Succeeded"}, ...}`. `Err` outside a
    /// resource group (a subscription-scope deployment); `resourceId()` then gives
    /// subscription-level ids.
    fn resource_group(&self) -> Result<Value, ExpressionError>;
    /// `deployment()`: `{"name", "properties": {"templateLink"?, "template": {...},
    /// "parameters": ..., "mode": ...}}` etc.
    fn deployment(&self) -> Value;
    /// `environment()`: the cloud's endpoints object.
    fn environment(&self) -> Value;
    /// `reference(resourceIdOrName, [apiVersion], ['Full'])`: the resource's `properties` (or
    /// the full resource when `full`). `resource` is what the template gave: a full resource
    /// id or a bare name of a resource in the same template.
    fn reference(
        &self,
        resource: &str,
        api_version: Option<&str>,
        full: bool,
    ) -> Result<Value, ExpressionError>;
    /// `list*(resourceId, apiVersion)` functions (listKeys etc.): may answer an error.
    /// `function` is the name as the template wrote it.
    fn list(
        &self,
        function: &str,
        resource_id: &str,
        api_version: &str,
    ) -> Result<Value, ExpressionError>;
    /// `utcNow(format)`: `Err` when not allowed here (ARM allows it only in parameter default
    /// values). Returns the current time; the module formats it.
    fn utc_now(&self) -> Result<chrono::DateTime<chrono::Utc>, ExpressionError>;
    /// `newGuid()`: same rule as utc_now.
    fn new_guid(&self) -> Result<uuid::Uuid, ExpressionError>;
    /// `namespace.member(...)`: a user-defined function of the template; none by default.
    fn user_function(&self, name: &str, _arguments: Vec<Value>) -> Result<Value, ExpressionError> {
        Err(ExpressionError::UnknownFunction(name.to_owned()))
    }
    /// `lambdaVariables(name)`: a parameter of an enclosing lambda; outside any lambda (the
    /// scope the engine gives), an error.
    fn lambda_variable(&self, name: &str) -> Result<Value, ExpressionError> {
        Err(ExpressionError::Evaluation(format!(
            "The template function 'lambdaVariables' is not valid here: '{name}' is not a \
             parameter of an enclosing lambda."
        )))
    }
}

impl Expr {
    /// Every `Expr` that is the first argument of a `reference(...)` or `list*(...)` call,
    /// anywhere in the tree (outermost first), so the engine can find implicit dependencies:
    /// ARM adds an implicit `dependsOn` for `reference()`/`list*()` of a resource in the same
    /// template.
    pub fn referenced_resources(&self) -> Vec<&Expr> {
        let mut found = Vec::new();
        self.collect_referenced(&mut found);
        found
    }

    fn collect_referenced<'a>(&'a self, found: &mut Vec<&'a Expr>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Call { name, args } => {
                if is_reading_function(name) {
                    if let Some(first) = args.first() {
                        found.push(first);
                    }
                }
                for arg in args {
                    arg.collect_referenced(found);
                }
            }
            Expr::Property(base, _) => base.collect_referenced(found),
            Expr::Index(base, index) => {
                base.collect_referenced(found);
                index.collect_referenced(found);
            }
        }
    }
}

/// `reference` and the `list*` family: the functions that read another resource.
fn is_reading_function(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "reference" || (lower.starts_with("list") && !lower.contains('.'))
}

/// [`Expr::referenced_resources`] over every expression string of a JSON value (arrays and
/// object values walked; keys are not expressions). Strings that fail to parse are skipped:
/// validation reports them elsewhere.
pub fn referenced_resources_in(value: &Value) -> Vec<Expr> {
    let mut found = Vec::new();
    collect_referenced_in(value, &mut found);
    found
}

fn collect_referenced_in(value: &Value, found: &mut Vec<Expr>) {
    match value {
        Value::String(text) => {
            if let Ok(expr) = parse_template_string(text) {
                found.extend(expr.referenced_resources().into_iter().cloned());
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_referenced_in(item, found)),
        Value::Object(map) => map
            .values()
            .for_each(|item| collect_referenced_in(item, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(text: &str) -> Expr {
        Expr::Literal(Value::String(text.into()))
    }

    #[test]
    fn referenced_resources_finds_reference_and_list_first_arguments() {
        let expr = parse_template_string(
            "[concat(reference('a').x, listKeys(resourceId('T/t', 'b'), '2020').k, \
             REFERENCE(reference('c').id))]",
        )
        .unwrap();
        let found = expr.referenced_resources();
        assert_eq!(found.len(), 4);
        assert_eq!(found[0], &lit("a"));
        assert_eq!(
            found[1],
            &Expr::Call {
                name: "resourceId".into(),
                args: vec![lit("T/t"), lit("b")]
            }
        );
        // Outer reference first, then the one nested in its argument.
        assert!(matches!(found[2], Expr::Property(..)));
        assert_eq!(found[3], &lit("c"));
    }

    #[test]
    fn referenced_resources_ignores_other_functions_and_namespaced_list() {
        let expr = parse_template_string("[concat(parameters('a'), my.listThings('b'))]").unwrap();
        assert!(expr.referenced_resources().is_empty());
    }

    #[test]
    fn referenced_resources_in_walks_json_and_skips_bad_strings() {
        let body = json!({
            "name": "[reference('one').name]",
            "keys": ["plain", "[listKeys('two', '2021-01-01')]", "[concat("],
            "nested": {"[reference('not-a-key')]": "[[reference('escaped')]"},
            "n": 3
        });
        let mut found = referenced_resources_in(&body);
        // Object member order depends on serde_json's map; compare as a set.
        found.sort_by_key(|expr| format!("{expr:?}"));
        assert_eq!(found, vec![lit("one"), lit("two")]);
    }
}
