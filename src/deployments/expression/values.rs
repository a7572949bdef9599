//! What ARM does with values independent of any one function: type names for messages, deep
//! equality, case-insensitive property lookup, and how a value reads as text.

use serde_json::{Map, Value};

/// The type name ARM's messages use (Newtonsoft's `JTokenType`).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// An integer value (ARM's ints are 64-bit; a float is not an int).
pub(crate) fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) if !n.is_f64() => n.as_i64(),
        _ => None,
    }
}

/// Deep equality as Newtonsoft's `JToken.DeepEquals`: case-sensitive strings and keys,
/// numbers compared by value (`1` equals `1.0`), key order irrelevant.
pub(crate) fn deep_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equals(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| deep_equals(value, other)))
        }
        _ => a == b,
    }
}

/// A property by name: ARM dereferences properties case-insensitively (an exact match wins).
pub(crate) fn get_property<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| {
                key.eq_ignore_ascii_case(name) || key.to_lowercase() == name.to_lowercase()
            })
            .map(|(_, value)| value)
    })
}

/// A float as .NET prints it (shortest round-trip form; `1.0` prints as `1`).
pub(crate) fn float_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A primitive as `concat`, `join` and `format` render it: strings as they are, integers in
/// decimal, booleans as .NET's `True`/`False`, null as empty. `None` for arrays and objects.
pub(crate) fn primitive_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(int) if !n.is_f64() => int.to_string(),
            _ => float_text(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// JSON with single-quoted strings and keys, as `format()` renders an array or object
/// argument: Bicep's evaluation tests (Azure/bicep
/// src/Bicep.Core.IntegrationTests/EvaluationTests.cs) expect `{'a':'b','!c':2}` and
/// `[true,2893,'abc']` from the real evaluator. Quotes and backslashes inside are escaped
/// with a backslash, as Newtonsoft's writer does with `'` as its quote character.
pub(crate) fn single_quoted_json(value: &Value) -> String {
    let mut out = String::new();
    write_single_quoted(value, &mut out);
    out
}

fn write_single_quoted(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => write_quoted(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_single_quoted(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_quoted(key, out);
                out.push(':');
                write_single_quoted(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn write_quoted(text: &str, out: &mut String) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_names() {
        assert_eq!(type_name(&json!(null)), "Null");
        assert_eq!(type_name(&json!(true)), "Boolean");
        assert_eq!(type_name(&json!(1)), "Integer");
        assert_eq!(type_name(&json!(1.5)), "Float");
        assert_eq!(type_name(&json!("a")), "String");
        assert_eq!(type_name(&json!([])), "Array");
        assert_eq!(type_name(&json!({})), "Object");
    }

    #[test]
    fn deep_equality() {
        assert!(deep_equals(
            &json!({"a": [1, {"b": "c"}]}),
            &json!({"a": [1.0, {"b": "c"}]})
        ));
        assert!(!deep_equals(&json!("abc"), &json!("ABC")));
        assert!(!deep_equals(&json!({"a": 1}), &json!({"A": 1})));
        assert!(!deep_equals(&json!([1, 2]), &json!([2, 1])));
        assert!(!deep_equals(&json!(1), &json!("1")));
    }

    #[test]
    fn property_lookup_is_case_insensitive_exact_first() {
        let object = json!({"Name": 1, "name": 2, "Other": 3});
        let map = object.as_object().unwrap();
        assert_eq!(get_property(map, "name"), Some(&json!(2)));
        assert_eq!(get_property(map, "OTHER"), Some(&json!(3)));
        assert_eq!(get_property(map, "missing"), None);
    }

    #[test]
    fn primitive_texts() {
        assert_eq!(primitive_text(&json!("a")).unwrap(), "a");
        assert_eq!(primitive_text(&json!(-12)).unwrap(), "-12");
        assert_eq!(primitive_text(&json!(1.5)).unwrap(), "1.5");
        assert_eq!(primitive_text(&json!(true)).unwrap(), "True");
        assert_eq!(primitive_text(&json!(null)).unwrap(), "");
        assert_eq!(primitive_text(&json!([1])), None);
    }

    #[test]
    fn single_quoted() {
        assert_eq!(
            single_quoted_json(&json!([true, 2893, "abc"])),
            "[true,2893,'abc']"
        );
        assert_eq!(
            single_quoted_json(&json!({"it's": "a\\b"})),
            r"{'it\'s':'a\\b'}"
        );
        assert_eq!(single_quoted_json(&json!({"a": null})), "{'a':null}");
    }
}
