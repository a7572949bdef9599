//! Lambda functions: `map`, `filter`, `reduce`, `sort`, `toObject`, `mapValues` and
//! `groupBy` take `lambda('x', ..., body)` arguments, whose body reads its parameters
//! with `lambdaVariables('x')` (what Bicep's `map(items, item => ...)` compiles to). A
//! lambda is evaluated once per element in a scope that binds its parameters and answers
//! everything else from the scope it was written in; `lambda` anywhere else is an error,
//! as in ARM.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::evaluate::evaluate;
use super::functions::Args;
use super::values::type_name;
use super::{Expr, ExpressionError, Scope};

/// A lambda-taking call (or `lambdaVariables`, or a misplaced `lambda`); `None` for every
/// other function.
pub(super) fn call(
    name: &str,
    args: &[Expr],
    scope: &dyn Scope,
) -> Option<Result<Value, ExpressionError>> {
    let call = LambdaCall { name, args, scope };
    Some(match name.to_ascii_lowercase().as_str() {
        "map" => call.map(),
        "filter" => call.filter(),
        "reduce" => call.reduce(),
        "sort" => call.sort(),
        "toobject" => call.to_object(),
        "mapvalues" => call.map_values(),
        "groupby" => call.group_by(),
        "lambdavariables" => call.lambda_variable(),
        "lambda" => Err(Args::new(name, vec![]).error(
            "a lambda can only be given to map, filter, reduce, sort, toObject, mapValues or \
             groupBy",
        )),
        _ => return None,
    })
}

struct LambdaCall<'a> {
    name: &'a str,
    args: &'a [Expr],
    scope: &'a dyn Scope,
}

/// A lambda argument: its parameter names and its body.
struct Lambda<'a> {
    parameters: Vec<String>,
    body: &'a Expr,
}

impl LambdaCall<'_> {
    fn error(&self, message: impl std::fmt::Display) -> ExpressionError {
        Args::new(self.name, vec![]).error(message)
    }

    fn count(&self, min: usize, max: usize) -> Result<(), ExpressionError> {
        let count = self.args.len();
        if (min..=max).contains(&count) {
            return Ok(());
        }
        let expected = if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        };
        Err(Args::count_error(self.name, &expected, count))
    }

    fn value(&self, index: usize) -> Result<Value, ExpressionError> {
        evaluate(&self.args[index], self.scope)
    }

    fn array(&self, index: usize) -> Result<Vec<Value>, ExpressionError> {
        match self.value(index)? {
            Value::Array(items) => Ok(items),
            other => Err(self.error(format!(
                "the argument {} must be an array, but it is of type '{}'",
                index + 1,
                type_name(&other)
            ))),
        }
    }

    /// Argument `index` as a lambda of `min..=max` parameters.
    fn lambda(&self, index: usize, min: usize, max: usize) -> Result<Lambda<'_>, ExpressionError> {
        let Expr::Call { name, args } = &self.args[index] else {
            return Err(self.error(format!("the argument {} must be a lambda", index + 1)));
        };
        if !name.eq_ignore_ascii_case("lambda") {
            return Err(self.error(format!("the argument {} must be a lambda", index + 1)));
        }
        let Some((body, parameters)) = args.split_last() else {
            return Err(self.error("a lambda needs a body"));
        };
        let parameters = parameters
            .iter()
            .map(|parameter| match parameter {
                Expr::Literal(Value::String(name)) => Ok(name.clone()),
                _ => Err(self.error("a lambda's parameter names must be string literals")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(min..=max).contains(&parameters.len()) {
            return Err(self.error(format!(
                "the lambda must take {} parameter(s), but it takes {}",
                if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                },
                parameters.len()
            )));
        }
        Ok(Lambda { parameters, body })
    }

    /// The lambda's body with its parameters bound to `values` (an extra index value is
    /// bound only when the lambda names a parameter for it).
    fn apply(&self, lambda: &Lambda<'_>, values: &[Value]) -> Result<Value, ExpressionError> {
        let bound = Bound {
            outer: self.scope,
            names: &lambda.parameters,
            values: &values[..lambda.parameters.len().min(values.len())],
        };
        evaluate(lambda.body, &bound)
    }

    fn boolean(&self, value: Value) -> Result<bool, ExpressionError> {
        match value {
            Value::Bool(value) => Ok(value),
            other => Err(self.error(format!(
                "the lambda must return a boolean, but it returned a value of type '{}'",
                type_name(&other)
            ))),
        }
    }

    fn key(&self, value: Value) -> Result<String, ExpressionError> {
        match value {
            Value::String(key) => Ok(key),
            other => Err(self.error(format!(
                "the key lambda must return a string, but it returned a value of type '{}'",
                type_name(&other)
            ))),
        }
    }

    /// `map(array, lambda(item[, index]))`
    fn map(&self) -> Result<Value, ExpressionError> {
        self.count(2, 2)?;
        let (items, lambda) = (self.array(0)?, self.lambda(1, 1, 2)?);
        let mapped = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| self.apply(&lambda, &[item, Value::from(index)]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(mapped))
    }

    /// `filter(array, lambda(item[, index]))`
    fn filter(&self) -> Result<Value, ExpressionError> {
        self.count(2, 2)?;
        let (items, lambda) = (self.array(0)?, self.lambda(1, 1, 2)?);
        let mut kept = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let keep = self.apply(&lambda, &[item.clone(), Value::from(index)])?;
            if self.boolean(keep)? {
                kept.push(item);
            }
        }
        Ok(Value::Array(kept))
    }

    /// `reduce(array, initial, lambda(accumulated, item[, index]))`
    fn reduce(&self) -> Result<Value, ExpressionError> {
        self.count(3, 3)?;
        let (items, initial, lambda) = (self.array(0)?, self.value(1)?, self.lambda(2, 2, 3)?);
        items
            .into_iter()
            .enumerate()
            .try_fold(initial, |accumulated, (index, item)| {
                self.apply(&lambda, &[accumulated, item, Value::from(index)])
            })
    }

    /// `sort(array, lambda(a, b))`: the lambda says whether `a` comes before `b`; a stable
    /// sort, so elements it does not order keep their order.
    fn sort(&self) -> Result<Value, ExpressionError> {
        self.count(2, 2)?;
        let (mut items, lambda) = (self.array(0)?, self.lambda(1, 2, 2)?);
        let mut failure = None;
        let mut before = |a: &Value, b: &Value| -> bool {
            if failure.is_some() {
                return false;
            }
            match self
                .apply(&lambda, &[a.clone(), b.clone()])
                .and_then(|v| self.boolean(v))
            {
                Ok(before) => before,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        };
        items.sort_by(|a, b| {
            if before(a, b) {
                Ordering::Less
            } else if before(b, a) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        match failure {
            Some(error) => Err(error),
            None => Ok(Value::Array(items)),
        }
    }

    /// `toObject(array, lambda(item) → key[, lambda(item) → value])`: a later duplicate key
    /// replaces the earlier one.
    fn to_object(&self) -> Result<Value, ExpressionError> {
        self.count(2, 3)?;
        let items = self.array(0)?;
        let key_of = self.lambda(1, 1, 1)?;
        let value_of = match self.args.len() {
            3 => Some(self.lambda(2, 1, 1)?),
            _ => None,
        };
        let mut object = Map::new();
        for item in items {
            let key = self.key(self.apply(&key_of, std::slice::from_ref(&item))?)?;
            let value = match &value_of {
                Some(value_of) => self.apply(value_of, &[item])?,
                None => item,
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    /// `mapValues(object, lambda(value))`
    fn map_values(&self) -> Result<Value, ExpressionError> {
        self.count(2, 2)?;
        let Value::Object(object) = self.value(0)? else {
            return Err(self.error("the first argument must be an object"));
        };
        let lambda = self.lambda(1, 1, 1)?;
        let mapped = object
            .into_iter()
            .map(|(key, value)| Ok((key, self.apply(&lambda, &[value])?)))
            .collect::<Result<Map<_, _>, ExpressionError>>()?;
        Ok(Value::Object(mapped))
    }

    /// `groupBy(array, lambda(item) → key)`: each key's items, in their order.
    fn group_by(&self) -> Result<Value, ExpressionError> {
        self.count(2, 2)?;
        let (items, lambda) = (self.array(0)?, self.lambda(1, 1, 1)?);
        let mut groups = Map::new();
        for item in items {
            let key = self.key(self.apply(&lambda, std::slice::from_ref(&item))?)?;
            match groups
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(group) => group.push(item),
                _ => unreachable!("every group is an array"),
            }
        }
        Ok(Value::Object(groups))
    }

    /// `lambdaVariables('name')`: a parameter of an enclosing lambda.
    fn lambda_variable(&self) -> Result<Value, ExpressionError> {
        self.count(1, 1)?;
        match self.value(0)? {
            Value::String(name) => self.scope.lambda_variable(&name),
            other => Err(self.error(format!(
                "the argument must be a string, but it is of type '{}'",
                type_name(&other)
            ))),
        }
    }
}

/// A lambda's scope: its parameters bound, all else from where it was written.
struct Bound<'a> {
    outer: &'a dyn Scope,
    names: &'a [String],
    values: &'a [Value],
}

impl Scope for Bound<'_> {
    fn parameter(&self, name: &str) -> Result<Value, ExpressionError> {
        self.outer.parameter(name)
    }
    fn variable(&self, name: &str) -> Result<Value, ExpressionError> {
        self.outer.variable(name)
    }
    fn copy_index(&self, loop_name: Option<&str>) -> Result<i64, ExpressionError> {
        self.outer.copy_index(loop_name)
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
        resource: &str,
        api_version: Option<&str>,
        full: bool,
    ) -> Result<Value, ExpressionError> {
        self.outer.reference(resource, api_version, full)
    }
    fn list(
        &self,
        function: &str,
        resource_id: &str,
        api_version: &str,
    ) -> Result<Value, ExpressionError> {
        self.outer.list(function, resource_id, api_version)
    }
    fn utc_now(&self) -> Result<chrono::DateTime<chrono::Utc>, ExpressionError> {
        self.outer.utc_now()
    }
    fn new_guid(&self) -> Result<uuid::Uuid, ExpressionError> {
        self.outer.new_guid()
    }
    /// The innermost lambda's parameter of that name (case-insensitively), else an
    /// enclosing lambda's.
    fn lambda_variable(&self, name: &str) -> Result<Value, ExpressionError> {
        match self.names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(at) => Ok(self.values[at].clone()),
            None => self.outer.lambda_variable(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_scope::{eval, eval_err};

    #[test]
    fn map_filter_and_reduce_bind_their_lambdas_parameters() {
        assert_eq!(
            eval("[map(parameters('list'), lambda('item', lambdaVariables('item').name))]"),
            json!(["first", "second"])
        );
        assert_eq!(
            eval("[map(createArray('a', 'b'), lambda('x', 'i', concat(lambdaVariables('x'), string(lambdaVariables('i')))))]"),
            json!(["a0", "b1"])
        );
        assert_eq!(
            eval(
                "[filter(createArray(1, 5, 2, 8), lambda('n', greater(lambdaVariables('n'), 2)))]"
            ),
            json!([5, 8])
        );
        assert_eq!(
            eval("[reduce(createArray(1, 2, 3, 4), 10, lambda('sum', 'n', add(lambdaVariables('sum'), lambdaVariables('n'))))]"),
            json!(20)
        );
        // The outer scope stays visible, and an inner lambda sees the outer one's parameters.
        assert_eq!(
            eval("[map(createArray(1, 2), lambda('x', map(createArray(10), lambda('y', concat(variables('prefix'), string(add(lambdaVariables('x'), lambdaVariables('y'))))))))]"),
            json!([["vault11"], ["vault12"]])
        );
    }

    #[test]
    fn sort_to_object_map_values_and_group_by() {
        assert_eq!(
            eval("[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]"),
            json!([1, 2, 3])
        );
        assert_eq!(
            eval("[toObject(parameters('list'), lambda('e', lambdaVariables('e').name))]"),
            json!({"first": {"name": "first"}, "second": {"name": "second"}})
        );
        assert_eq!(
            eval("[toObject(parameters('list'), lambda('e', lambdaVariables('e').name), lambda('e', length(lambdaVariables('e').name)))]"),
            json!({"first": 5, "second": 6})
        );
        assert_eq!(
            eval("[mapValues(createObject('a', 1, 'b', 2), lambda('v', mul(lambdaVariables('v'), 10)))]"),
            json!({"a": 10, "b": 20})
        );
        assert_eq!(
            eval("[groupBy(createArray('apple', 'avocado', 'banana'), lambda('f', substring(lambdaVariables('f'), 0, 1)))]"),
            json!({"a": ["apple", "avocado"], "b": ["banana"]})
        );
    }

    #[test]
    fn misused_lambdas_are_errors() {
        for (text, needle) in [
            ("[lambda('x', 1)]", "only be given to"),
            ("[lambdaVariables('x')]", "lambda"),
            ("[map(createArray(1), 'x')]", "must be a lambda"),
            (
                "[map(createArray(1), lambda('a', 'b', 'c', 1))]",
                "parameter",
            ),
            ("[filter(createArray(1), lambda('x', 1))]", "boolean"),
            (
                "[map(createArray(1), lambda('x', lambdaVariables('y')))]",
                "lambda",
            ),
            (
                "[toObject(createArray(1), lambda('x', lambdaVariables('x')))]",
                "string",
            ),
            ("[map('text', lambda('x', 1))]", "array"),
        ] {
            let error = eval_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
