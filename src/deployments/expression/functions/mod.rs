//! The built-in functions, split by area. Each area's `call` answers `None` for a name that is
//! not its own, so the table is the chain in [`call`].
//!
//! `if`, `and`, `or` and `coalesce` are not here: they take unevaluated arguments (see
//! `evaluate.rs`).

mod collections;
mod conversion;
mod dates;
mod datetime_format;
mod encoding;
mod format;
mod logic;
pub(crate) mod resources;
mod strings;

use std::fmt::Display;

use serde_json::{Map, Value};

use super::values::{as_int, type_name};
use super::{ExpressionError, Scope};

/// Calls the function `args.name` (case-insensitively) with evaluated arguments.
pub(crate) fn call(args: &Args, scope: &dyn Scope) -> Result<Value, ExpressionError> {
    let lower = args.name.to_ascii_lowercase();
    let lower = lower.as_str();
    strings::call(lower, args, scope)
        .or_else(|| collections::call(lower, args))
        .or_else(|| logic::call(lower, args))
        .or_else(|| conversion::call(lower, args))
        .or_else(|| format::call(lower, args))
        .or_else(|| encoding::call(lower, args))
        .or_else(|| dates::call(lower, args, scope))
        .or_else(|| resources::call(lower, args, scope))
        .unwrap_or_else(|| Err(ExpressionError::UnknownFunction(args.name.to_owned())))
}

/// A call's evaluated arguments, with the checks every function makes of them and ARM-style
/// messages that name the function as the template wrote it.
pub(crate) struct Args<'a> {
    pub name: &'a str,
    pub values: Vec<Value>,
}

/// "first", "second", ... for messages about one argument.
fn ordinal(index: usize) -> String {
    match index {
        0 => "first".into(),
        1 => "second".into(),
        2 => "third".into(),
        3 => "fourth".into(),
        n => format!("argument {}", n + 1),
    }
}

impl<'a> Args<'a> {
    pub fn new(name: &'a str, values: Vec<Value>) -> Self {
        Args { name, values }
    }

    /// `Unable to evaluate template language function 'name': {message}.`
    pub fn error(&self, message: impl Display) -> ExpressionError {
        function_error(self.name, message)
    }

    pub fn count_error(name: &str, expected: &str, actual: usize) -> ExpressionError {
        function_error(
            name,
            format!("function requires {expected} argument(s) while {actual} were provided"),
        )
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    pub fn exactly(&self, count: usize) -> Result<(), ExpressionError> {
        if self.len() == count {
            Ok(())
        } else {
            Err(Self::count_error(self.name, &count.to_string(), self.len()))
        }
    }

    pub fn between(&self, min: usize, max: usize) -> Result<(), ExpressionError> {
        if (min..=max).contains(&self.len()) {
            Ok(())
        } else {
            Err(Self::count_error(
                self.name,
                &format!("{min} to {max}"),
                self.len(),
            ))
        }
    }

    pub fn at_least(&self, min: usize) -> Result<(), ExpressionError> {
        if self.len() >= min {
            Ok(())
        } else {
            Err(Self::count_error(
                self.name,
                &format!("at least {min}"),
                self.len(),
            ))
        }
    }

    /// The argument at `index` is not of the `expected` kind.
    pub fn type_error(&self, index: usize, expected: &str) -> ExpressionError {
        let actual = self.values.get(index).map_or("none", type_name);
        let which = ordinal(index);
        let which = if which.starts_with("argument") {
            format!("the {which}")
        } else {
            format!("the {which} argument")
        };
        self.error(format!(
            "{which} must be {expected}, but it is of type '{actual}'"
        ))
    }

    fn value(&self, index: usize) -> Result<&Value, ExpressionError> {
        self.values.get(index).ok_or_else(|| {
            Self::count_error(self.name, &format!("at least {}", index + 1), self.len())
        })
    }

    pub fn string(&self, index: usize) -> Result<&str, ExpressionError> {
        match self.value(index)? {
            Value::String(text) => Ok(text),
            _ => Err(self.type_error(index, "a string")),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, ExpressionError> {
        as_int(self.value(index)?).ok_or_else(|| self.type_error(index, "an integer"))
    }

    pub fn boolean(&self, index: usize) -> Result<bool, ExpressionError> {
        match self.value(index)? {
            Value::Bool(value) => Ok(*value),
            _ => Err(self.type_error(index, "a boolean")),
        }
    }

    pub fn array(&self, index: usize) -> Result<&[Value], ExpressionError> {
        match self.value(index)? {
            Value::Array(items) => Ok(items),
            _ => Err(self.type_error(index, "an array")),
        }
    }

    pub fn object(&self, index: usize) -> Result<&Map<String, Value>, ExpressionError> {
        match self.value(index)? {
            Value::Object(map) => Ok(map),
            _ => Err(self.type_error(index, "an object")),
        }
    }

    /// Every argument as a string (`uniqueString`, `guid`, the resource id functions).
    pub fn all_strings(&self) -> Result<Vec<&str>, ExpressionError> {
        (0..self.len()).map(|i| self.string(i)).collect()
    }
}

pub(crate) fn function_error(name: &str, message: impl Display) -> ExpressionError {
    ExpressionError::Evaluation(format!(
        "Unable to evaluate template language function '{name}': {message}. Please see \
         https://aka.ms/arm-functions for usage details."
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_scope::{eval, eval_err};
    use serde_json::json;

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(eval("[TOLOWER('A')]"), json!("a"));
        assert_eq!(eval("[ToUpper('a')]"), json!("A"));
        assert_eq!(eval("[CONCAT('a', 'b')]"), json!("ab"));
    }

    #[test]
    fn messages_name_the_function_as_written() {
        assert_eq!(
            eval_err("[Length(1, 2)]"),
            "Unable to evaluate template language function 'Length': function requires 1 \
             argument(s) while 2 were provided. Please see https://aka.ms/arm-functions for \
             usage details."
        );
        assert_eq!(
            eval_err("[length(1)]"),
            "Unable to evaluate template language function 'length': the first argument must \
             be a string, an array or an object, but it is of type 'Integer'. Please see \
             https://aka.ms/arm-functions for usage details."
        );
    }
}
