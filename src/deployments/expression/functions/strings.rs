//! String functions. Positions and lengths count UTF-16 code units and case conversions map
//! one char to one char, as .NET's `string` does (ARM is a .NET service): `length('😀')` is 2.

use serde_json::Value;

use super::super::unique::{guid, unique_string};
use super::super::values::primitive_text;
use super::super::{ExpressionError, Scope};
use super::Args;

/// The most characters `padLeft` builds: a template cannot ask for gigabytes.
const MAX_PADDED_LENGTH: i64 = 1 << 20;

pub(super) fn call(
    name: &str,
    args: &Args,
    scope: &dyn Scope,
) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "concat" => concat(args),
        "tolower" => one_string(args).map(|s| Value::String(map_chars(s, char::to_lowercase))),
        "toupper" => one_string(args).map(|s| Value::String(map_chars(s, char::to_uppercase))),
        "trim" => one_string(args).map(|s| Value::String(s.trim().to_owned())),
        "substring" => substring(args),
        "indexof" => index_of(args, false),
        "lastindexof" => index_of(args, true),
        "startswith" => starts_or_ends_with(args, true),
        "endswith" => starts_or_ends_with(args, false),
        "padleft" => pad_left(args),
        "replace" => replace(args),
        "split" => split(args),
        "join" => join(args),
        "uniquestring" => hash_function(args, unique_string),
        "guid" => hash_function(args, guid),
        "newguid" => args
            .exactly(0)
            .and_then(|()| scope.new_guid())
            .map(|id| Value::String(id.hyphenated().to_string())),
        _ => return None,
    })
}

fn one_string<'a>(args: &'a Args) -> Result<&'a str, ExpressionError> {
    args.exactly(1)?;
    args.string(0)
}

pub(crate) fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// Text from UTF-16 units; a surrogate split off its pair becomes U+FFFD (JSON strings here
/// cannot hold a lone surrogate, which .NET would keep).
pub(crate) fn from_utf16(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
}

/// Maps each char to its case-converted form where that is one char (as .NET's invariant
/// `ToLowerInvariant`/`ToUpperInvariant` do: `ß` stays `ß`), keeping positions stable.
fn map_chars<I: Iterator<Item = char>>(text: &str, convert: fn(char) -> I) -> String {
    text.chars()
        .map(|c| {
            let mut mapped = convert(c);
            match (mapped.next(), mapped.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        })
        .collect()
}

/// UTF-16 units with each char lower-cased, for the case-insensitive comparisons.
fn folded(text: &str) -> Vec<u16> {
    utf16(&map_chars(text, char::to_lowercase))
}

/// `concat(a, b, ...)`: all arrays (concatenated) or all non-arrays (their text joined;
/// `concat('vm', copyIndex())` is common). Null counts as an empty array among arrays and as
/// empty text among strings.
fn concat(args: &Args) -> Result<Value, ExpressionError> {
    args.at_least(1)?;
    let any_array = args.values.iter().any(Value::is_array);
    if any_array {
        let mut joined = Vec::new();
        for (i, value) in args.values.iter().enumerate() {
            match value {
                Value::Array(items) => joined.extend(items.iter().cloned()),
                Value::Null => {}
                _ => {
                    return Err(args.error(format!(
                        "either all or none of the arguments must be arrays, but argument {} \
                         is not",
                        i + 1
                    )))
                }
            }
        }
        return Ok(Value::Array(joined));
    }
    let mut text = String::new();
    for (i, value) in args.values.iter().enumerate() {
        match primitive_text(value) {
            Some(part) => text.push_str(&part),
            None => return Err(args.type_error(i, "a string, an integer, a boolean or an array")),
        }
    }
    Ok(Value::String(text))
}

/// `substring(text, [startIndex], [length])`: fails when the range leaves the string.
fn substring(args: &Args) -> Result<Value, ExpressionError> {
    args.between(1, 3)?;
    let units = utf16(args.string(0)?);
    let total = units.len() as i64;
    let start = if args.len() > 1 { args.int(1)? } else { 0 };
    let length = if args.len() > 2 {
        args.int(2)?
    } else {
        total - start
    };
    let in_range =
        start >= 0 && length >= 0 && start.checked_add(length).is_some_and(|end| end <= total);
    if !in_range {
        return Err(args.error(format!(
            "The index and length parameters must refer to a location within the string. The \
             index parameter: '{start}', the length parameter: '{length}', the length of the \
             string parameter: '{total}'"
        )));
    }
    // In range, so both fit in usize.
    let (start, length) = (start as usize, length as usize);
    Ok(Value::String(from_utf16(&units[start..start + length])))
}

/// `indexOf` / `lastIndexOf`: case-insensitive, -1 when absent.
fn index_of(args: &Args, last: bool) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let haystack = folded(args.string(0)?);
    let needle = folded(args.string(1)?);
    if needle.len() > haystack.len() {
        return Ok(Value::from(-1));
    }
    let positions = 0..=haystack.len() - needle.len();
    let matches = |at: &usize| haystack[*at..*at + needle.len()] == needle[..];
    let found = if last {
        positions.rev().find(matches)
    } else {
        positions.into_iter().find(matches)
    };
    Ok(Value::from(found.map_or(-1, |at| at as i64)))
}

/// `startsWith` / `endsWith`: case-insensitive.
fn starts_or_ends_with(args: &Args, start: bool) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let text = folded(args.string(0)?);
    let part = folded(args.string(1)?);
    Ok(Value::Bool(if start {
        text.starts_with(&part)
    } else {
        text.ends_with(&part)
    }))
}

/// `padLeft(valueToPad, totalLength, [paddingCharacter])`: the value (a string or an int)
/// right-aligned; unchanged when already long enough.
fn pad_left(args: &Args) -> Result<Value, ExpressionError> {
    args.between(2, 3)?;
    let text = match args.get(0) {
        Some(Value::String(text)) => text.clone(),
        Some(value) if value.is_i64() || value.is_u64() => value.to_string(),
        _ => return Err(args.type_error(0, "a string or an integer")),
    };
    let total = args.int(1)?;
    if total > MAX_PADDED_LENGTH {
        return Err(args.error(format!(
            "the total length '{total}' is more than the {MAX_PADDED_LENGTH} allowed"
        )));
    }
    let padding = if args.len() > 2 {
        let padding = utf16(args.string(2)?);
        match padding[..] {
            [unit] => unit,
            _ => return Err(args.error("the padding character must be a single character")),
        }
    } else {
        u16::from(b' ')
    };
    let units = utf16(&text);
    let missing = usize::try_from(total)
        .unwrap_or(0)
        .saturating_sub(units.len());
    let mut padded = vec![padding; missing];
    padded.extend(units);
    Ok(Value::String(from_utf16(&padded)))
}

/// `replace(text, old, new)`: every occurrence, case-sensitive.
fn replace(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(3)?;
    let (text, old, new) = (args.string(0)?, args.string(1)?, args.string(2)?);
    if old.is_empty() {
        return Err(args.error("the string to replace must not be empty"));
    }
    Ok(Value::String(text.replace(old, new)))
}

/// `split(text, delimiter)`: the delimiter a string or an array of strings; empty pieces are
/// kept. With several delimiters, the one found earliest wins, and at the same position the
/// first listed (.NET's `String.Split(string[], None)`); empty delimiters are ignored.
fn split(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let text = args.string(0)?;
    let delimiters: Vec<&str> = match args.get(1) {
        Some(Value::String(delimiter)) => vec![delimiter.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| args.type_error(1, "a string or an array of strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(args.type_error(1, "a string or an array of strings")),
    };
    let delimiters: Vec<&str> = delimiters.into_iter().filter(|d| !d.is_empty()).collect();
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        if let Some(delimiter) = delimiters.iter().find(|d| rest.starts_with(**d)) {
            pieces.push(Value::String(text[piece_start..at].to_owned()));
            at += delimiter.len();
            piece_start = at;
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    pieces.push(Value::String(text[piece_start..].to_owned()));
    Ok(Value::Array(pieces))
}

/// `join(array, delimiter)`: the elements' text (strings, ints, booleans) joined.
fn join(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let items = args.array(0)?;
    let delimiter = args.string(1)?;
    let parts = items
        .iter()
        .map(primitive_text)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| args.error("the array to join must hold strings, integers or booleans"))?;
    Ok(Value::String(parts.join(delimiter)))
}

/// `uniqueString(...)` / `guid(...)`: one or more strings.
fn hash_function(args: &Args, hash: fn(&[&str]) -> String) -> Result<Value, ExpressionError> {
    args.at_least(1)?;
    Ok(Value::String(hash(&args.all_strings()?)))
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err, eval_in, TestScope};
    use serde_json::json;

    #[test]
    fn concat_strings_and_arrays() {
        assert_eq!(eval("[concat('prefix', '-', 'x')]"), json!("prefix-x"));
        assert_eq!(eval("[concat('vm', 3, true())]"), json!("vm3True"));
        assert_eq!(
            eval("[concat(createArray('1-1', '1-2'), createArray('2-1'), null())]"),
            json!(["1-1", "1-2", "2-1"])
        );
        assert!(eval_err("[concat(createArray(1), 'a')]").contains("either all or none"));
        assert!(eval_err("[concat('a', createObject())]").contains("of type 'Object'"));
        assert!(eval_err("[concat()]").contains("at least 1"));
    }

    #[test]
    fn case_conversion() {
        assert_eq!(eval("[toLower('One Two Three')]"), json!("one two three"));
        assert_eq!(eval("[toUpper('One Two Three')]"), json!("ONE TWO THREE"));
        // Bicep's baseline (Azure/bicep baselines_bicepparam/Expressions/parameters.json).
        assert_eq!(eval("[toLower('AiKInIniIN')]"), json!("aikininiin"));
        assert_eq!(eval("[toUpper('straße')]"), json!("STRAßE"));
        assert!(eval_err("[toLower(1)]").contains("must be a string"));
    }

    #[test]
    fn trim_whitespace() {
        assert_eq!(eval("[trim('  adf asdf  ')]"), json!("adf asdf"));
        assert!(eval_err("[trim()]").contains("requires 1"));
    }

    #[test]
    fn substring_ranges() {
        assert_eq!(eval("[substring('one two three', 4, 3)]"), json!("two"));
        assert_eq!(eval("[substring('asdfasf', 3)]"), json!("fasf"));
        assert_eq!(eval("[substring('abc', 3, 0)]"), json!(""));
        assert_eq!(eval("[substring('a😀b', 1, 2)]"), json!("😀"));
        // The message ARM's documentation quotes for this call.
        assert!(eval_err("[substring('1234567890', 0, 11)]").contains(
            "The index and length parameters must refer to a location within the string. The \
             index parameter: '0', the length parameter: '11', the length of the string \
             parameter: '10'"
        ));
        assert!(eval_err("[substring('abc', -1, 1)]").contains("index parameter: '-1'"));
        assert!(eval_err("[substring('abc', 4)]").contains("index parameter: '4'"));
    }

    #[test]
    fn index_of_is_case_insensitive() {
        // ARM's documented examples.
        assert_eq!(eval("[indexOf('test', 't')]"), json!(0));
        assert_eq!(eval("[lastIndexOf('test', 't')]"), json!(3));
        assert_eq!(eval("[indexOf('abcdef', 'CD')]"), json!(2));
        assert_eq!(eval("[lastIndexOf('abcdef', 'AB')]"), json!(0));
        assert_eq!(eval("[indexOf('abcdef', 'z')]"), json!(-1));
        // Bicep's baseline.
        assert_eq!(eval("[lastIndexOf('abcba', 'b')]"), json!(3));
        assert_eq!(eval("[indexOf('😀x', 'x')]"), json!(2));
        assert_eq!(eval("[indexOf('ab', 'abc')]"), json!(-1));
        assert!(eval_err("[indexOf('a', 1)]").contains("second argument must be a string"));
    }

    #[test]
    fn starts_and_ends_with() {
        assert_eq!(eval("[startsWith('abcdef', 'ab')]"), json!(true));
        assert_eq!(eval("[startsWith('abcdef', 'A')]"), json!(true));
        assert_eq!(eval("[startsWith('abcdef', 'e')]"), json!(false));
        assert_eq!(eval("[endsWith('abcdef', 'ef')]"), json!(true));
        assert_eq!(eval("[endsWith('abcdef', 'F')]"), json!(true));
        assert_eq!(eval("[endsWith('abcdef', 'e')]"), json!(false));
        assert!(eval_err("[endsWith('abc')]").contains("requires 2"));
    }

    #[test]
    fn pad_left() {
        assert_eq!(eval("[padLeft('123', 10, '0')]"), json!("0000000123"));
        assert_eq!(eval("[padLeft(13, 5)]"), json!("   13"));
        assert_eq!(eval("[padLeft('abcdef', 3, '0')]"), json!("abcdef"));
        assert_eq!(eval("[padLeft('a', -1)]"), json!("a"));
        assert!(eval_err("[padLeft('1', 5, '00')]").contains("single character"));
        assert!(eval_err("[padLeft(true, 5)]").contains("a string or an integer"));
        assert!(eval_err("[padLeft('1', 99999999)]").contains("allowed"));
    }

    #[test]
    fn replace_all() {
        assert_eq!(
            eval("[replace('123-123-1234', '-', '')]"),
            json!("1231231234")
        );
        assert_eq!(
            eval("[replace('123-123-1234', '1234', 'xxxx')]"),
            json!("123-123-xxxx")
        );
        assert_eq!(eval("[replace('abc', 'B', 'x')]"), json!("abc"));
        assert!(eval_err("[replace('abc', '', 'x')]").contains("must not be empty"));
    }

    #[test]
    fn split_on_one_or_many_delimiters() {
        assert_eq!(
            eval("[split('one,two,three', ',')]"),
            json!(["one", "two", "three"])
        );
        assert_eq!(
            eval("[split('one;two,three', parameters('delimiters'))]"),
            json!(["one", "two", "three"])
        );
        assert_eq!(eval("[split(',a,,', ',')]"), json!(["", "a", "", ""]));
        assert_eq!(eval("[split('abc', '')]"), json!(["abc"]));
        assert_eq!(
            eval("[split('aXYb', createArray('X', 'XY'))]"),
            json!(["a", "Yb"])
        );
        assert_eq!(eval("[split('é-ü', '-')]"), json!(["é", "ü"]));
        assert!(eval_err("[split('a', 1)]").contains("a string or an array of strings"));
        assert!(eval_err("[split('a', createArray(1))]").contains("array of strings"));
    }

    #[test]
    fn join_elements() {
        assert_eq!(
            eval("[join(createArray('abc', 'def', 'ghi'), '/')]"),
            json!("abc/def/ghi")
        );
        assert_eq!(eval("[join(createArray(1, 'a'), ', ')]"), json!("1, a"));
        assert!(eval_err("[join(createArray(createArray()), ',')]").contains("must hold"));
    }

    #[test]
    fn unique_string_and_guid() {
        // Bicep's baseline (Azure/bicep src/Bicep.Core.Samples/Files/baselines_bicepparam/
        // Expressions/parameters.json), evaluated by ARM's own expression library.
        assert_eq!(
            eval("[uniqueString('asd', 'asdf', 'asdf')]"),
            json!("iizpqit7ih3cc")
        );
        assert_eq!(
            eval("[guid('asdf')]"),
            json!("228d27cc-6fdb-5934-b7ac-1efccebade04")
        );
        assert!(eval_err("[uniqueString()]").contains("at least 1"));
        assert!(eval_err("[uniqueString('a', 1)]").contains("second argument must be a string"));
        assert!(eval_err("[guid(createArray())]").contains("first argument must be a string"));
    }

    #[test]
    fn new_guid_only_where_allowed() {
        assert_eq!(
            eval("[newGuid()]"),
            json!("b76a51fc-bd72-4a77-b9a2-3c29e7d2e551")
        );
        let err = eval_in("[newGuid()]", &TestScope::without_now()).unwrap_err();
        assert!(err.to_string().contains("not expected at this location"));
        assert!(eval_err("[newGuid('a')]").contains("requires 0"));
    }
}
