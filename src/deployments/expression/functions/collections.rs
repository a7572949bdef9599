//! Array and object functions (and the ones that take a string or an array alike: `length`,
//! `first`, `take`, `contains`, ...).

use serde_json::{Map, Value};

use super::super::values::{as_int, deep_equals, get_property};
use super::super::ExpressionError;
use super::strings::{from_utf16, utf16};
use super::Args;

/// `range()`'s documented limits.
const MAX_RANGE_COUNT: i64 = 10_000;
const MAX_RANGE_END: i64 = 2_147_483_647;

pub(super) fn call(name: &str, args: &Args) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "length" => length(args),
        "empty" => empty(args),
        "first" => first_or_last(args, true),
        "last" => first_or_last(args, false),
        "take" => take_or_skip(args, true),
        "skip" => take_or_skip(args, false),
        "contains" => contains(args),
        "createarray" => Ok(Value::Array(args.values.clone())),
        "createobject" => create_object(args),
        "union" => union(args),
        "intersection" => intersection(args),
        "range" => range(args),
        "items" => items(args),
        "objectkeys" => args
            .exactly(1)
            .and_then(|()| args.object(0))
            .map(|map| Value::Array(map.keys().cloned().map(Value::String).collect())),
        "shallowmerge" => shallow_merge(args),
        "tryget" => try_get(args),
        "flatten" => flatten(args),
        _ => return None,
    })
}

/// `length(x)`: characters (UTF-16 units) of a string, elements of an array, root-level
/// properties of an object.
fn length(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let count = match args.get(0) {
        Some(Value::String(text)) => text.encode_utf16().count(),
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(map)) => map.len(),
        _ => return Err(args.type_error(0, "a string, an array or an object")),
    };
    Ok(Value::from(count as i64))
}

/// `empty(x)`: an empty string, array or object, or null.
fn empty(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let is_empty = match args.get(0) {
        Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
        _ => return Err(args.type_error(0, "a string, an array, an object or null")),
    };
    Ok(Value::Bool(is_empty))
}

/// `first(x)` / `last(x)`: a string's first/last character (empty for an empty string), an
/// array's first/last element (null for an empty array).
fn first_or_last(args: &Args, first: bool) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    match args.get(0) {
        Some(Value::String(text)) => {
            let units = utf16(text);
            let unit = if first { units.first() } else { units.last() };
            Ok(Value::String(
                unit.map_or_else(String::new, |u| from_utf16(&[*u])),
            ))
        }
        Some(Value::Array(items)) => {
            let item = if first { items.first() } else { items.last() };
            Ok(item.cloned().unwrap_or(Value::Null))
        }
        _ => Err(args.type_error(0, "a string or an array")),
    }
}

/// `take(x, n)` / `skip(x, n)` on a string or an array; `n` is clamped to the length.
fn take_or_skip(args: &Args, take: bool) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let count = args.int(1)?;
    let split_at = |len: usize| usize::try_from(count).unwrap_or(0).min(len);
    match args.get(0) {
        Some(Value::String(text)) => {
            let units = utf16(text);
            let at = split_at(units.len());
            let part = if take { &units[..at] } else { &units[at..] };
            Ok(Value::String(from_utf16(part)))
        }
        Some(Value::Array(items)) => {
            let at = split_at(items.len());
            let part = if take { &items[..at] } else { &items[at..] };
            Ok(Value::Array(part.to_vec()))
        }
        _ => Err(args.type_error(0, "a string or an array")),
    }
}

/// `contains(container, item)`: a substring of a string (case-sensitive), an element of an
/// array (deep equality), a key of an object (case-insensitive).
fn contains(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let item = &args.values[1];
    let item_text = || match item {
        Value::String(text) => Ok(text.clone()),
        other if as_int(other).is_some() => Ok(other.to_string()),
        _ => Err(args.type_error(1, "a string or an integer")),
    };
    let found = match &args.values[0] {
        Value::String(text) => text.contains(item_text()?.as_str()),
        Value::Array(items) => items.iter().any(|element| deep_equals(element, item)),
        Value::Object(map) => get_property(map, &item_text()?).is_some(),
        _ => return Err(args.type_error(0, "a string, an array or an object")),
    };
    Ok(Value::Bool(found))
}

/// `createObject(key1, value1, key2, value2, ...)`.
fn create_object(args: &Args) -> Result<Value, ExpressionError> {
    if !args.len().is_multiple_of(2) {
        return Err(args.error(format!(
            "the function requires an even number of arguments (key and value pairs), but {} \
             were provided",
            args.len()
        )));
    }
    let mut map = Map::new();
    for pair in (0..args.len()).step_by(2) {
        map.insert(args.string(pair)?.to_owned(), args.values[pair + 1].clone());
    }
    Ok(Value::Object(map))
}

/// Every argument an array, or every argument an object: which.
enum Kind<'a> {
    Arrays(Vec<&'a Vec<Value>>),
    Objects(Vec<&'a Map<String, Value>>),
}

fn all_arrays_or_objects<'a>(args: &'a Args) -> Result<Kind<'a>, ExpressionError> {
    args.at_least(1)?;
    let mismatch = || args.error("the arguments must be all arrays or all objects");
    match &args.values[0] {
        Value::Array(_) => args
            .values
            .iter()
            .map(|value| value.as_array().ok_or_else(mismatch))
            .collect::<Result<_, _>>()
            .map(Kind::Arrays),
        Value::Object(_) => args
            .values
            .iter()
            .map(|value| value.as_object().ok_or_else(mismatch))
            .collect::<Result<_, _>>()
            .map(Kind::Objects),
        _ => Err(args.type_error(0, "an array or an object")),
    }
}

fn push_distinct(out: &mut Vec<Value>, item: &Value) {
    if !out.iter().any(|seen| deep_equals(seen, item)) {
        out.push(item.clone());
    }
}

/// `union(a, b, ...)`: arrays → every distinct element in order of first appearance;
/// objects → merged, later arguments winning, nested objects merged recursively and nested
/// arrays replaced (ARM's documentation of `union` for objects).
fn union(args: &Args) -> Result<Value, ExpressionError> {
    Ok(match all_arrays_or_objects(args)? {
        Kind::Arrays(arrays) => {
            let mut out = Vec::new();
            for item in arrays.into_iter().flatten() {
                push_distinct(&mut out, item);
            }
            Value::Array(out)
        }
        Kind::Objects(objects) => {
            let mut out = Map::new();
            for object in objects {
                merge_into(&mut out, object);
            }
            Value::Object(out)
        }
    })
}

fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                merge_into(existing, incoming)
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `intersection(a, b, ...)`: arrays → the distinct elements of the first found in every
/// other; objects → the properties whose key and value are in every argument.
fn intersection(args: &Args) -> Result<Value, ExpressionError> {
    Ok(match all_arrays_or_objects(args)? {
        Kind::Arrays(arrays) => {
            let (first, rest) = arrays
                .split_first()
                .map_or((None, &[][..]), |(f, r)| (Some(*f), r));
            let mut out = Vec::new();
            for item in first.into_iter().flatten() {
                if rest
                    .iter()
                    .all(|other| other.iter().any(|o| deep_equals(o, item)))
                {
                    push_distinct(&mut out, item);
                }
            }
            Value::Array(out)
        }
        Kind::Objects(objects) => {
            let mut out = Map::new();
            if let Some((first, rest)) = objects.split_first() {
                for (key, value) in first.iter() {
                    let everywhere = rest
                        .iter()
                        .all(|other| other.get(key).is_some_and(|o| deep_equals(o, value)));
                    if everywhere {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Object(out)
        }
    })
}

/// `range(startIndex, count)`: `count` integers from `startIndex`.
fn range(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let (start, count) = (args.int(0)?, args.int(1)?);
    if !(0..=MAX_RANGE_COUNT).contains(&count) {
        return Err(args.error(format!(
            "the count must be from 0 to {MAX_RANGE_COUNT}, but it is '{count}'"
        )));
    }
    if start
        .checked_add(count)
        .is_none_or(|end| end > MAX_RANGE_END)
    {
        return Err(args.error(format!(
            "the sum of the start index and the count must be no greater than {MAX_RANGE_END}"
        )));
    }
    Ok(Value::Array(
        (start..start + count).map(Value::from).collect(),
    ))
}

/// `items(object)`: `[{"key", "value"}, ...]` sorted by key. Bicep's baseline
/// (Azure/bicep baselines_bicepparam/Expressions/parameters.json) shows the sorting:
/// `items({foo, bar})` lists `bar` first. Keys are ordered case-insensitively, lower case
/// first among keys that differ only in case (the culture order .NET sorts strings in).
fn items(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let mut entries: Vec<(&String, &Value)> = args.object(0)?.iter().collect();
    entries.sort_by(|(a, _), (b, _)| {
        a.to_lowercase()
            .cmp(&b.to_lowercase())
            .then_with(|| b.cmp(a))
    });
    Ok(Value::Array(
        entries
            .into_iter()
            .map(|(key, value)| {
                let mut entry = Map::new();
                entry.insert("key".into(), Value::String(key.clone()));
                entry.insert("value".into(), value.clone());
                Value::Object(entry)
            })
            .collect(),
    ))
}

/// `shallowMerge(arrayOfObjects)`: the objects' top-level properties, later ones winning.
fn shallow_merge(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let mut out = Map::new();
    for item in args.array(0)? {
        let object = item
            .as_object()
            .ok_or_else(|| args.error("every element of the array must be an object"))?;
        out.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(Value::Object(out))
}

/// `tryGet(value, key, ...)`: the property (case-insensitive) or element, or null when
/// missing; what Bicep's `a.?b` compiles to.
fn try_get(args: &Args) -> Result<Value, ExpressionError> {
    args.at_least(2)?;
    let mut current = args.values[0].clone();
    for (i, key) in args.values.iter().enumerate().skip(1) {
        current = match (&current, key) {
            (Value::Null, _) => return Ok(Value::Null),
            (Value::Object(map), Value::String(name)) => {
                get_property(map, name).cloned().unwrap_or(Value::Null)
            }
            (Value::Array(items), index) if as_int(index).is_some() => as_int(index)
                .and_then(|at| usize::try_from(at).ok())
                .and_then(|at| items.get(at))
                .cloned()
                .unwrap_or(Value::Null),
            (Value::Object(_) | Value::Array(_), _) => {
                return Err(
                    args.type_error(i, "a string (for an object) or an integer (for an array)")
                )
            }
            _ => return Err(args.error("only objects and arrays can be read with tryGet")),
        };
    }
    Ok(current)
}

/// `flatten(arrayOfArrays)`: one level of nesting removed.
fn flatten(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(1)?;
    let mut out = Vec::new();
    for item in args.array(0)? {
        match item {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            _ => return Err(args.error("every element of the array must be an array")),
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err};
    use serde_json::{json, Value};

    #[test]
    fn length_of_string_array_object() {
        assert_eq!(eval("[length('One Two Three')]"), json!(13));
        assert_eq!(
            eval("[length(createArray('one', 'two', 'three'))]"),
            json!(3)
        );
        assert_eq!(eval("[length(parameters('obj'))]"), json!(2));
        assert_eq!(eval("[length('😀')]"), json!(2));
        assert!(eval_err("[length(null())]").contains("of type 'Null'"));
    }

    #[test]
    fn empty_values() {
        assert_eq!(eval("[empty(createArray())]"), json!(true));
        assert_eq!(eval("[empty(createObject())]"), json!(true));
        assert_eq!(eval("[empty('')]"), json!(true));
        assert_eq!(eval("[empty(null())]"), json!(true));
        assert_eq!(eval("[empty('a')]"), json!(false));
        assert_eq!(eval("[empty(createArray(1))]"), json!(false));
        assert!(eval_err("[empty(1)]").contains("of type 'Integer'"));
    }

    #[test]
    fn first_and_last() {
        assert_eq!(
            eval("[first(createArray('one', 'two', 'three'))]"),
            json!("one")
        );
        assert_eq!(eval("[first('One Two Three')]"), json!("O"));
        assert_eq!(
            eval("[last(createArray('one', 'two', 'three'))]"),
            json!("three")
        );
        assert_eq!(eval("[last('One Two Three')]"), json!("e"));
        assert_eq!(eval("[first('')]"), json!(""));
        assert_eq!(eval("[first(createArray())]"), Value::Null);
        assert!(eval_err("[last(1)]").contains("a string or an array"));
    }

    #[test]
    fn take_and_skip() {
        assert_eq!(
            eval("[take(createArray('one', 'two', 'three'), 2)]"),
            json!(["one", "two"])
        );
        assert_eq!(eval("[take('one two three', 2)]"), json!("on"));
        assert_eq!(
            eval("[skip(createArray('one', 'two', 'three'), 2)]"),
            json!(["three"])
        );
        assert_eq!(eval("[skip('one two three', 4)]"), json!("two three"));
        assert_eq!(eval("[take('abc', -1)]"), json!(""));
        assert_eq!(eval("[skip('abc', -1)]"), json!("abc"));
        assert_eq!(eval("[take(createArray(1), 5)]"), json!([1]));
        assert_eq!(eval("[skip(createArray(1), 5)]"), json!([]));
        assert!(eval_err("[take('abc', '1')]").contains("second argument must be an integer"));
    }

    #[test]
    fn contains_in_string_array_object() {
        assert_eq!(eval("[contains('OneTwoThree', 'e')]"), json!(true));
        assert_eq!(eval("[contains('OneTwoThree', 'z')]"), json!(false));
        assert_eq!(eval("[contains('OneTwoThree', 'one')]"), json!(false));
        assert_eq!(eval("[contains(parameters('obj'), 'NESTED')]"), json!(true));
        assert_eq!(eval("[contains(parameters('obj'), 'a')]"), json!(false));
        assert_eq!(
            eval("[contains(createArray('one', 'two'), 'two')]"),
            json!(true)
        );
        assert_eq!(eval("[contains(createArray(1, 2), 2)]"), json!(true));
        assert_eq!(eval("[contains(createArray('one'), 'One')]"), json!(false));
        assert_eq!(eval("[contains('a1', 1)]"), json!(true));
        assert!(eval_err("[contains(1, 1)]").contains("of type 'Integer'"));
    }

    #[test]
    fn create_array_and_object() {
        assert_eq!(eval("[createArray(1, 'a', true())]"), json!([1, "a", true]));
        assert_eq!(eval("[createArray()]"), json!([]));
        assert_eq!(
            eval("[createObject('a', 1, 'b', createArray(2))]"),
            json!({"a": 1, "b": [2]})
        );
        assert_eq!(eval("[createObject()]"), json!({}));
        assert!(eval_err("[createObject('a')]").contains("even number"));
        assert!(eval_err("[createObject(1, 'a')]").contains("first argument must be a string"));
    }

    #[test]
    fn union_of_arrays_and_objects() {
        assert_eq!(
            eval("[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]"),
            json!(["one", "two", "three", "four"])
        );
        assert_eq!(
            eval("[union(createArray(1, 1), createArray(2))]"),
            json!([1, 2])
        );
        // Bicep's baseline: union({abc: 'def'}, {def: 'ghi'}).
        assert_eq!(
            eval("[union(createObject('abc', 'def'), createObject('def', 'ghi'))]"),
            json!({"abc": "def", "def": "ghi"})
        );
        // ARM's documented example: nested objects merge, nested arrays are replaced.
        assert_eq!(
            eval(
                "[union(createObject('property', createObject('one', 'a', 'three', 'c1'), \
                 'nestedArray', createArray(1, 2)), createObject('property', \
                 createObject('three', 'c2', 'four', 'd'), 'nestedArray', createArray(3, 4)))]"
            ),
            json!({
                "property": {"one": "a", "three": "c2", "four": "d"},
                "nestedArray": [3, 4]
            })
        );
        assert!(eval_err("[union(createArray(), createObject())]").contains("all arrays or all"));
        assert!(eval_err("[union('a')]").contains("an array or an object"));
    }

    #[test]
    fn intersection_of_arrays_and_objects() {
        assert_eq!(
            eval("[intersection(createArray(1, 2, 3), createArray(2, 3, 4))]"),
            json!([2, 3])
        );
        assert_eq!(
            eval(
                "[intersection(createArray('a', 'a', 'b'), createArray('a'), \
                 createArray('a', 'c'))]"
            ),
            json!(["a"])
        );
        assert_eq!(
            eval(
                "[intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), \
                 createObject('one', 'a', 'two', 'z', 'three', 'c'))]"
            ),
            json!({"one": "a", "three": "c"})
        );
        assert!(eval_err("[intersection(createObject(), 1)]").contains("all arrays or all"));
    }

    #[test]
    fn range_limits() {
        assert_eq!(eval("[range(0, 3)]"), json!([0, 1, 2]));
        assert_eq!(eval("[range(-2, 3)]"), json!([-2, -1, 0]));
        assert_eq!(eval("[range(5, 0)]"), json!([]));
        assert!(eval_err("[range(0, -1)]").contains("the count must be from 0 to 10000"));
        assert!(eval_err("[range(0, 10001)]").contains("the count must be from 0 to 10000"));
        assert!(eval_err("[range(2147483647, 1)]").contains("no greater than 2147483647"));
    }

    #[test]
    fn items_sorted_by_key() {
        assert_eq!(
            eval("[items(createObject('foo', 'abc', 'bar', 123))]"),
            json!([{"key": "bar", "value": 123}, {"key": "foo", "value": "abc"}])
        );
        assert_eq!(
            eval("[items(createObject('B', 1, 'a', 2, 'b', 3))]"),
            json!([
                {"key": "a", "value": 2},
                {"key": "b", "value": 3},
                {"key": "B", "value": 1}
            ])
        );
        assert!(eval_err("[items(createArray())]").contains("must be an object"));
    }

    #[test]
    fn object_keys_shallow_merge_try_get_flatten() {
        let keys = eval("[objectKeys(createObject('a', 1, 'b', 2))]");
        let mut keys: Vec<&str> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(
            eval(
                "[shallowMerge(createArray(createObject('a', createObject('x', 1)), \
                 createObject('a', createObject('y', 2), 'b', 3)))]"
            ),
            json!({"a": {"y": 2}, "b": 3})
        );
        assert_eq!(
            eval("[tryGet(parameters('obj'), 'Nested', 'value')]"),
            json!(42)
        );
        assert_eq!(
            eval("[tryGet(parameters('obj'), 'missing', 'value')]"),
            Value::Null
        );
        assert_eq!(
            eval("[tryGet(parameters('list'), 1, 'name')]"),
            json!("second")
        );
        assert_eq!(eval("[tryGet(parameters('list'), 9)]"), Value::Null);
        assert_eq!(
            eval("[flatten(createArray(createArray('abc'), createArray('def')))]"),
            json!(["abc", "def"])
        );
        assert!(eval_err("[flatten(createArray(1))]").contains("must be an array"));
        assert!(eval_err("[shallowMerge(createArray(1))]").contains("must be an object"));
        assert!(eval_err("[tryGet('a', 'b')]").contains("only objects and arrays"));
    }
}
