//! Comparison, logical and numeric functions (`and`, `or`, `if` and `coalesce` are lazy and
//! live in `evaluate.rs`). Integers are 64-bit; overflow is an error, not a wrap.

use std::cmp::Ordering;

use serde_json::Value;

use super::super::values::{as_int, deep_equals};
use super::super::ExpressionError;
use super::Args;

pub(super) fn call(name: &str, args: &Args) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "equals" => args
            .exactly(2)
            .map(|()| Value::Bool(deep_equals(&args.values[0], &args.values[1]))),
        "not" => args
            .exactly(1)
            .and_then(|()| args.boolean(0))
            .map(|value| Value::Bool(!value)),
        "less" => compare(args, Ordering::is_lt),
        "lessorequals" => compare(args, Ordering::is_le),
        "greater" => compare(args, Ordering::is_gt),
        "greaterorequals" => compare(args, Ordering::is_ge),
        "add" => arithmetic(args, i64::checked_add),
        "sub" => arithmetic(args, i64::checked_sub),
        "mul" => arithmetic(args, i64::checked_mul),
        "div" => divide(args, i64::checked_div),
        "mod" => divide(args, i64::checked_rem),
        "min" => min_or_max(args, false),
        "max" => min_or_max(args, true),
        "true" => args.exactly(0).map(|()| Value::Bool(true)),
        "false" => args.exactly(0).map(|()| Value::Bool(false)),
        "null" => args.exactly(0).map(|()| Value::Null),
        _ => return None,
    })
}

/// `less`, `greater`, ...: two integers, or two strings compared ordinally (so `'A'` is less
/// than `'a'`, as in ARM's documented example).
fn compare(args: &Args, accept: fn(Ordering) -> bool) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let ordering = match (&args.values[0], &args.values[1]) {
        (Value::String(a), Value::String(b)) => a.encode_utf16().cmp(b.encode_utf16()),
        (a, b) => match (as_int(a), as_int(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                _ => {
                    return Err(args.error("the arguments must both be integers or both be strings"))
                }
            },
        },
    };
    Ok(Value::Bool(accept(ordering)))
}

fn two_ints(args: &Args) -> Result<(i64, i64), ExpressionError> {
    args.exactly(2)?;
    Ok((args.int(0)?, args.int(1)?))
}

fn arithmetic(args: &Args, op: fn(i64, i64) -> Option<i64>) -> Result<Value, ExpressionError> {
    let (a, b) = two_ints(args)?;
    op(a, b).map(Value::from).ok_or_else(|| {
        args.error(format!(
            "the result of '{a}' and '{b}' overflows a 64-bit integer"
        ))
    })
}

/// `div` / `mod`: truncating integer division and its remainder (the dividend's sign), as
/// C#'s `/` and `%`.
fn divide(args: &Args, op: fn(i64, i64) -> Option<i64>) -> Result<Value, ExpressionError> {
    let (_, divisor) = two_ints(args)?;
    if divisor == 0 {
        return Err(args.error("the divisor must not be zero"));
    }
    arithmetic(args, op)
}

/// `min(a, b, ...)` / `max(...)`: integers, given one by one or as one array.
fn min_or_max(args: &Args, max: bool) -> Result<Value, ExpressionError> {
    args.at_least(1)?;
    let values: &[Value] = match &args.values[..] {
        [Value::Array(items)] => items,
        all => all,
    };
    let ints = values
        .iter()
        .map(as_int)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| args.error("the arguments must be integers, or one array of integers"))?;
    let found = if max {
        ints.into_iter().max()
    } else {
        ints.into_iter().min()
    };
    found
        .map(Value::from)
        .ok_or_else(|| args.error("the array must not be empty"))
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err};
    use serde_json::{json, Value};

    #[test]
    fn equals_is_deep_and_case_sensitive() {
        assert_eq!(eval("[equals(1, 1)]"), json!(true));
        assert_eq!(eval("[equals('abc', 'ABC')]"), json!(false));
        assert_eq!(
            eval("[equals(createObject('a', createArray(1)), createObject('a', createArray(1)))]"),
            json!(true)
        );
        assert_eq!(
            eval("[equals(createArray(1, 2), createArray(2, 1))]"),
            json!(false)
        );
        assert_eq!(eval("[equals(null(), null())]"), json!(true));
        assert_eq!(eval("[equals(1, '1')]"), json!(false));
        assert!(eval_err("[equals(1)]").contains("requires 2"));
    }

    #[test]
    fn not_negates() {
        assert_eq!(eval("[not(true)]"), json!(false));
        assert_eq!(eval("[not(equals(1, 2))]"), json!(true));
        assert!(eval_err("[not('true')]").contains("must be a boolean"));
    }

    #[test]
    fn comparisons() {
        assert_eq!(eval("[less(1, 2)]"), json!(true));
        assert_eq!(eval("[less(2, 2)]"), json!(false));
        assert_eq!(eval("[lessOrEquals(2, 2)]"), json!(true));
        assert_eq!(eval("[greater(3, 2)]"), json!(true));
        assert_eq!(eval("[greaterOrEquals(1, 2)]"), json!(false));
        assert_eq!(eval("[less('A', 'a')]"), json!(true));
        assert_eq!(eval("[greater('b', 'abc')]"), json!(true));
        assert_eq!(eval("[less(json('1.5'), 2)]"), json!(true));
        assert!(eval_err("[less(1, 'a')]").contains("both be integers or both be strings"));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(eval("[add(5, 3)]"), json!(8));
        assert_eq!(eval("[sub(7, 3)]"), json!(4));
        assert_eq!(eval("[mul(5, -3)]"), json!(-15));
        assert_eq!(eval("[div(8, 3)]"), json!(2));
        assert_eq!(eval("[div(-7, 2)]"), json!(-3));
        assert_eq!(eval("[mod(7, 3)]"), json!(1));
        assert_eq!(eval("[mod(-7, 3)]"), json!(-1));
        assert!(eval_err("[div(1, 0)]").contains("divisor must not be zero"));
        assert!(eval_err("[mod(1, 0)]").contains("divisor must not be zero"));
        assert!(eval_err("[add(9223372036854775807, 1)]").contains("overflows"));
        assert!(eval_err("[add(1, '2')]").contains("second argument must be an integer"));
    }

    #[test]
    fn min_and_max() {
        assert_eq!(eval("[min(createArray(0, 3, 2, 5, 4))]"), json!(0));
        assert_eq!(eval("[min(0, 3, 2, 5, 4)]"), json!(0));
        assert_eq!(eval("[max(createArray(0, 3, 2, 5, 4))]"), json!(5));
        assert_eq!(eval("[max(1, 2, 3)]"), json!(3));
        assert!(eval_err("[max(createArray())]").contains("must not be empty"));
        assert!(eval_err("[min(1, 'a')]").contains("must be integers"));
    }

    #[test]
    fn constants() {
        assert_eq!(eval("[true()]"), json!(true));
        assert_eq!(eval("[false()]"), json!(false));
        assert_eq!(eval("[null()]"), Value::Null);
        assert!(eval_err("[null(1)]").contains("requires 0"));
    }
}
