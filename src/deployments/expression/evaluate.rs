//! Evaluating a parsed expression: member access, indexing, and the calls, through the
//! function table in `functions`.

use serde_json::{Map, Value};

use super::functions::{self, Args};
use super::values::{as_int, get_property, type_name};
use super::{lambdas, Expr, ExpressionError, Scope};

/// Evaluate a parsed expression.
pub fn evaluate(expr: &Expr, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    match expr {
        Expr::Literal(value) => Ok(value.clone()),
        Expr::Call { name, args } => call(name, args, scope),
        Expr::Property(base, name) => {
            let base = evaluate(base, scope)?;
            property(&base, name)
        }
        Expr::Index(base, index) => {
            let base = evaluate(base, scope)?;
            let index = evaluate(index, scope)?;
            element(&base, &index)
        }
    }
}

/// A call: the lazy functions take their argument expressions; every other function takes
/// its evaluated arguments.
fn call(name: &str, args: &[Expr], scope: &dyn Scope) -> Result<Value, ExpressionError> {
    if let Some(result) = lambdas::call(name, args, scope) {
        return result;
    }
    match name.to_ascii_lowercase().as_str() {
        "if" => lazy_if(name, args, scope),
        "and" => lazy_and_or(name, args, scope, false),
        "or" => lazy_and_or(name, args, scope, true),
        "coalesce" => lazy_coalesce(name, args, scope),
        _ => {
            let values = args
                .iter()
                .map(|arg| evaluate(arg, scope))
                .collect::<Result<Vec<_>, _>>()?;
            // Built-in functions have no namespace; `namespace.member` is the template's own.
            if name.contains('.') {
                return scope.user_function(name, values);
            }
            functions::call(&Args::new(name, values), scope)
        }
    }
}

/// `if(condition, whenTrue, whenFalse)`: only the chosen branch is evaluated (ARM's
/// documentation: "When the condition is True, only the true value is evaluated"), which
/// is what lets `if(cond, reference(x), null())` skip a resource that is not deployed.
fn lazy_if(name: &str, args: &[Expr], scope: &dyn Scope) -> Result<Value, ExpressionError> {
    let [condition, when_true, when_false] = args else {
        return Err(Args::count_error(name, "3", args.len()));
    };
    let condition = evaluate(condition, scope)?;
    match condition {
        Value::Bool(true) => evaluate(when_true, scope),
        Value::Bool(false) => evaluate(when_false, scope),
        other => Err(Args::new(name, vec![]).error(format!(
            "the first argument must be a boolean, but it is of type '{}'",
            type_name(&other)
        ))),
    }
}

/// `and(a, b, ...)` / `or(a, b, ...)`: at least two booleans, evaluated left to right and
/// stopping at the first that decides the answer.
fn lazy_and_or(
    name: &str,
    args: &[Expr],
    scope: &dyn Scope,
    stop_on: bool,
) -> Result<Value, ExpressionError> {
    if args.len() < 2 {
        return Err(Args::count_error(name, "at least 2", args.len()));
    }
    for (i, arg) in args.iter().enumerate() {
        match evaluate(arg, scope)? {
            Value::Bool(value) if value == stop_on => return Ok(Value::Bool(stop_on)),
            Value::Bool(_) => {}
            other => {
                return Err(Args::new(name, vec![]).error(format!(
                    "the argument {} must be a boolean, but it is of type '{}'",
                    i + 1,
                    type_name(&other)
                )))
            }
        }
    }
    Ok(Value::Bool(!stop_on))
}

/// `coalesce(a, b, ...)`: the first argument that is not null (empty strings, arrays and
/// objects are not null), or null; arguments after it are not evaluated.
fn lazy_coalesce(name: &str, args: &[Expr], scope: &dyn Scope) -> Result<Value, ExpressionError> {
    if args.is_empty() {
        return Err(Args::count_error(name, "at least 1", 0));
    }
    for arg in args {
        let value = evaluate(arg, scope)?;
        if !value.is_null() {
            return Ok(value);
        }
    }
    Ok(Value::Null)
}

/// `base.name`: a property of an object, looked up case-insensitively.
fn property(base: &Value, name: &str) -> Result<Value, ExpressionError> {
    match base {
        Value::Object(map) => get_property(map, name)
            .cloned()
            .ok_or_else(|| missing_property(map, name)),
        other => Err(ExpressionError::Evaluation(format!(
            "The language expression property '{name}' can't be evaluated, property name \
             must be a string and the value must be an object; the value is of type '{}'.",
            type_name(other)
        ))),
    }
}

fn missing_property(map: &Map<String, Value>, name: &str) -> ExpressionError {
    let available: Vec<&str> = map.keys().map(String::as_str).collect();
    ExpressionError::Evaluation(format!(
        "The language expression property '{name}' doesn't exist, available properties are \
         '{}'.",
        available.join(", ")
    ))
}

/// `base[index]`: an element of an array by integer, or a property of an object by string.
fn element(base: &Value, index: &Value) -> Result<Value, ExpressionError> {
    match (base, index) {
        (Value::Array(items), index) => {
            let position = as_int(index).ok_or_else(|| {
                ExpressionError::Evaluation(format!(
                    "The language expression array index must be an integer, but it is of \
                     type '{}'.",
                    type_name(index)
                ))
            })?;
            usize::try_from(position)
                .ok()
                .and_then(|at| items.get(at))
                .cloned()
                .ok_or_else(|| {
                    ExpressionError::Evaluation(format!(
                        "The language expression property array index '{position}' is out of \
                         bounds."
                    ))
                })
        }
        (Value::Object(map), Value::String(name)) => get_property(map, name)
            .cloned()
            .ok_or_else(|| missing_property(map, name)),
        (Value::Object(_), other) => Err(ExpressionError::Evaluation(format!(
            "The language expression property name must be a string, but it is of type '{}'.",
            type_name(other)
        ))),
        (other, _) => Err(ExpressionError::Evaluation(format!(
            "The language expression can't be indexed: the value is of type '{}', not an \
             array or an object.",
            type_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_template_string;
    use super::super::test_scope::{eval, eval_err, TestScope};
    use super::*;
    use serde_json::json;

    #[test]
    fn property_and_index_access() {
        assert_eq!(eval("[parameters('list')[1].name]"), json!("second"));
        assert_eq!(eval("[parameters('list')[0]['NAME']]"), json!("first"));
        assert_eq!(eval("[parameters('obj').Nested.value]"), json!(42));
        assert_eq!(eval("[resourceGroup().location]"), json!("westeurope"));
    }

    #[test]
    fn missing_property_lists_the_available_ones() {
        assert_eq!(
            eval_err("[parameters('obj').nope]"),
            "The language expression property 'nope' doesn't exist, available properties are \
             'nested, text'."
        );
    }

    #[test]
    fn index_errors() {
        assert_eq!(
            eval_err("[parameters('list')[2]]"),
            "The language expression property array index '2' is out of bounds."
        );
        assert_eq!(
            eval_err("[parameters('list')[-1]]"),
            "The language expression property array index '-1' is out of bounds."
        );
        assert!(eval_err("[parameters('list')['a']]").contains("must be an integer"));
        assert!(eval_err("[parameters('obj')[1]]").contains("must be a string"));
        assert!(eval_err("['abc'[0]]").contains("can't be indexed"));
        assert!(eval_err("['abc'.length]").contains("of type 'String'"));
    }

    #[test]
    fn if_is_lazy() {
        // The branch not taken would fail (no such parameter).
        assert_eq!(
            eval("[if(true(), 'yes', parameters('missing'))]"),
            json!("yes")
        );
        assert_eq!(
            eval("[if(false, parameters('missing'), 'no')]"),
            json!("no")
        );
        assert!(eval_err("[if('true', 1, 2)]").contains("must be a boolean"));
        assert!(eval_err("[if(true, 1)]").contains("requires 3 argument(s) while 2 were provided"));
    }

    #[test]
    fn and_or_short_circuit() {
        assert_eq!(eval("[and(true, true, true)]"), json!(true));
        assert_eq!(eval("[and(true, false)]"), json!(false));
        assert_eq!(eval("[and(false, parameters('missing'))]"), json!(false));
        assert_eq!(eval("[or(false, false)]"), json!(false));
        assert_eq!(eval("[or(false, true)]"), json!(true));
        assert_eq!(eval("[or(true, parameters('missing'))]"), json!(true));
        assert!(eval_err("[and(true, 1)]").contains("the argument 2 must be a boolean"));
        assert!(eval_err("[or(true)]").contains("requires at least 2 argument(s)"));
    }

    #[test]
    fn coalesce_returns_first_non_null() {
        assert_eq!(
            eval("[coalesce(null(), null(), 'a', parameters('missing'))]"),
            json!("a")
        );
        assert_eq!(eval("[coalesce(null(), '')]"), json!(""));
        assert_eq!(eval("[coalesce(null())]"), Value::Null);
        assert!(eval_err("[coalesce()]").contains("requires at least 1 argument(s)"));
    }

    #[test]
    fn unknown_function() {
        let scope = TestScope::default();
        let expr = parse_template_string("[noSuchThing(1)]").unwrap();
        assert_eq!(
            evaluate(&expr, &scope),
            Err(ExpressionError::UnknownFunction("noSuchThing".into()))
        );
        assert_eq!(
            eval_err("[contoso.uniqueName('a')]"),
            "The template function 'contoso.uniqueName' is not valid. Please see \
             https://aka.ms/arm-functions for usage details."
        );
    }
}
