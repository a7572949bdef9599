//! Type conversions: `string`, `int`, `bool`, `json`, `array`.

use serde_json::Value;

use super::super::values::{as_int, primitive_text};
use super::super::ExpressionError;
use super::Args;

pub(super) fn call(name: &str, args: &Args) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "string" => string(args),
        "int" => int(args),
        "bool" => boolean(args),
        "json" => json(args),
        "array" => array(args),
        _ => return None,
    })
}

/// `string(x)`: strings as they are; arrays and objects as compact JSON (ARM's documented
/// example: `{"valueA":10,"valueB":"Example Text"}`); integers in decimal; booleans as
/// .NET prints them (`True`); null as empty text.
fn string(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let value = &args.values[0];
    let text = match primitive_text(value) {
        Some(text) => text,
        None => serde_json::to_string(value).map_err(|err| args.error(err))?,
    };
    Ok(Value::String(text))
}

/// `int(x)`: an integer, or a string of one (surrounding whitespace and a sign allowed, as
/// .NET's `int.Parse`).
fn int(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    match &args.values[0] {
        value if as_int(value).is_some() => Ok(value.clone()),
        Value::String(text) => text
            .trim()
            .strip_prefix('+')
            .unwrap_or(text.trim())
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| args.error(format!("the string '{text}' is not a valid integer"))),
        _ => Err(args.type_error(0, "a string or an integer")),
    }
}

/// `bool(x)`: `'true'`/`'false'` in any case, or an integer (non-zero is true).
fn boolean(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    match &args.values[0] {
        Value::Bool(value) => Ok(Value::Bool(*value)),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(args.error(format!("the string '{text}' is not a valid boolean"))),
        },
        value => as_int(value)
            .map(|int| Value::Bool(int != 0))
            .ok_or_else(|| args.type_error(0, "a string, an integer or a boolean")),
    }
}

/// `json(text)`: the JSON value the text holds (`json('null')` is null).
fn json(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let text = args.string(0)?;
    serde_json::from_str(text)
        .map_err(|err| args.error(format!("the string is not valid JSON: {err}")))
}

/// `array(x)`: an array as it is, anything else wrapped in a one-element array (null
/// becomes an empty array).
fn array(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    Ok(match &args.values[0] {
        Value::Array(items) => Value::Array(items.clone()),
        Value::Null => Value::Array(Vec::new()),
        other => Value::Array(vec![other.clone()]),
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err};
    use serde_json::{json, Value};

    #[test]
    fn string_of_each_type() {
        // ARM's documented examples.
        assert_eq!(
            eval("[string(createObject('valueA', 10, 'valueB', 'Example Text'))]"),
            json!(r#"{"valueA":10,"valueB":"Example Text"}"#)
        );
        assert_eq!(
            eval("[string(createArray('a', 'b', 'c'))]"),
            json!(r#"["a","b","c"]"#)
        );
        assert_eq!(eval("[string(5)]"), json!("5"));
        assert_eq!(eval("[string('asdf')]"), json!("asdf"));
        assert_eq!(eval("[string(true())]"), json!("True"));
        assert_eq!(eval("[string(null())]"), json!(""));
        assert_eq!(eval("[string(createArray('q\"'))]"), json!(r#"["q\""]"#));
        assert!(eval_err("[string()]").contains("requires 1"));
    }

    #[test]
    fn int_parses() {
        assert_eq!(eval("[int('4')]"), json!(4));
        assert_eq!(eval("[int(' -12 ')]"), json!(-12));
        assert_eq!(eval("[int(123)]"), json!(123));
        assert!(eval_err("[int('4.5')]").contains("not a valid integer"));
        assert!(eval_err("[int(true)]").contains("a string or an integer"));
    }

    #[test]
    fn bool_converts() {
        assert_eq!(eval("[bool('true')]"), json!(true));
        assert_eq!(eval("[bool('FALSE')]"), json!(false));
        assert_eq!(eval("[bool(0)]"), json!(false));
        assert_eq!(eval("[bool(1)]"), json!(true));
        assert_eq!(eval("[bool(false)]"), json!(false));
        assert!(eval_err("[bool('yes')]").contains("not a valid boolean"));
        assert!(eval_err("[bool(createArray())]").contains("of type 'Array'"));
    }

    #[test]
    fn json_parses() {
        assert_eq!(
            eval("[json('{\"a\": [1, true]}')]"),
            json!({"a": [1, true]})
        );
        assert_eq!(eval("[json('null')]"), Value::Null);
        assert_eq!(eval("[json(' 1.5 ')]"), json!(1.5));
        assert_eq!(eval("[json('{\"hi\": \"there\"}').hi]"), json!("there"));
        assert!(eval_err("[json('{')]").contains("not valid JSON"));
        assert!(eval_err("[json(1)]").contains("must be a string"));
    }

    #[test]
    fn array_wraps() {
        assert_eq!(eval("[array(1)]"), json!([1]));
        assert_eq!(eval("[array('efgh')]"), json!(["efgh"]));
        assert_eq!(eval("[array(createObject('a', 'b'))]"), json!([{"a": "b"}]));
        assert_eq!(eval("[array(createArray(1, 2))]"), json!([1, 2]));
        assert_eq!(eval("[array(null())]"), json!([]));
        assert!(eval_err("[array()]").contains("requires 1"));
    }
}
