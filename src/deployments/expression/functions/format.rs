//! `format(formatString, args...)`: .NET composite formatting (`String.Format` with the
//! invariant culture), which ARM's `format` uses: `{index[,alignment][:formatString]}`,
//! `{{` and `}}` for literal braces.
//!
//! Integers take the standard numeric format specifiers `D`, `N`, `F`, `X`, `P` and `G`
//! (each with an optional precision) and custom specifiers made of `0` and `#` alone
//! (`{0:000}`); anything else is an error naming the specifier, never a silent guess.
//! Strings and booleans ignore a specifier, as in .NET. Booleans print as `True`/`False`,
//! arrays and objects as single-quoted JSON (see `values::single_quoted_json`).

use serde_json::Value;

use super::super::values::{as_int, float_text, primitive_text, single_quoted_json};
use super::super::ExpressionError;
use super::Args;

/// The widest alignment honoured: a template cannot ask for gigabytes of padding.
const MAX_ALIGNMENT: usize = 1 << 16;

pub(super) fn call(name: &str, args: &Args) -> Option<Result<Value, ExpressionError>> {
    match name {
        "format" => Some(format(args)),
        _ => None,
    }
}

fn format(args: &Args) -> Result<Value, ExpressionError> {
    args.at_least(1)?;
    let template = args.string(0)?;
    let values = &args.values[1..];
    let bad_format = || {
        args.error(format!(
            "the format string '{template}' is not in a correct format"
        ))
    };
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            '{' if chars.get(at + 1) == Some(&'{') => {
                out.push('{');
                at += 2;
            }
            '}' if chars.get(at + 1) == Some(&'}') => {
                out.push('}');
                at += 2;
            }
            '}' => return Err(bad_format()),
            '{' => {
                let close = chars[at..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|offset| at + offset)
                    .ok_or_else(bad_format)?;
                let item: String = chars[at + 1..close].iter().collect();
                let item = parse_item(&item).ok_or_else(bad_format)?;
                let value = values.get(item.index).ok_or_else(|| {
                    args.error(format!(
                        "the format item index '{}' is not less than the number of values to \
                         format ({})",
                        item.index,
                        values.len()
                    ))
                })?;
                let text = format_value(value, item.spec.as_deref()).map_err(|spec| {
                    args.error(format!("the format specifier '{spec}' is not supported"))
                })?;
                out.push_str(&align(text, item.alignment));
                at = close + 1;
            }
            c => {
                out.push(c);
                at += 1;
            }
        }
    }
    Ok(Value::String(out))
}

struct Item {
    index: usize,
    alignment: i64,
    spec: Option<String>,
}

/// `index[,alignment][:spec]`, spaces allowed around the index and the alignment.
fn parse_item(item: &str) -> Option<Item> {
    let (head, spec) = match item.split_once(':') {
        Some((head, spec)) => (head, Some(spec.to_owned())),
        None => (item, None),
    };
    let (index, alignment) = match head.split_once(',') {
        Some((index, alignment)) => (index, alignment.trim().parse::<i64>().ok()?),
        None => (head, 0),
    };
    let index = index.trim();
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Item {
        index: index.parse().ok()?,
        alignment,
        spec,
    })
}

/// Pads to `alignment` characters: right-aligned when positive, left-aligned when negative.
fn align(text: String, alignment: i64) -> String {
    let width = usize::try_from(alignment.unsigned_abs())
        .unwrap_or(MAX_ALIGNMENT)
        .min(MAX_ALIGNMENT);
    let length = text.encode_utf16().count();
    if length >= width {
        return text;
    }
    let padding = " ".repeat(width - length);
    if alignment > 0 {
        padding + &text
    } else {
        text + &padding
    }
}

/// One value as text under an optional specifier; `Err(spec)` for an unsupported one.
fn format_value(value: &Value, spec: Option<&str>) -> Result<String, String> {
    let spec = spec.unwrap_or("");
    if let Some(int) = as_int(value) {
        return format_int(int, spec).ok_or_else(|| spec.to_owned());
    }
    match value {
        Value::Number(number) => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            format_float(float, spec).ok_or_else(|| spec.to_owned())
        }
        Value::Array(_) | Value::Object(_) => Ok(single_quoted_json(value)),
        other => Ok(primitive_text(other).unwrap_or_default()),
    }
}

/// A specifier's letter and precision: `N0` → (`N`, Some(0)).
fn split_spec(spec: &str) -> Option<(char, Option<usize>)> {
    let mut chars = spec.chars();
    let letter = chars.next()?;
    let rest = chars.as_str();
    if rest.is_empty() {
        return Some((letter, None));
    }
    if rest.len() <= 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
        return Some((letter, rest.parse().ok()));
    }
    None
}

fn format_int(int: i64, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return Some(int.to_string());
    }
    if spec.chars().all(|c| c == '0' || c == '#') {
        let digits = spec.chars().filter(|c| *c == '0').count();
        return Some(zero_padded(int, digits));
    }
    let (letter, precision) = split_spec(spec)?;
    Some(match letter {
        'D' | 'd' => zero_padded(int, precision.unwrap_or(0)),
        'G' | 'g' if precision.is_none_or(|p| p == 0 || p >= digit_count(int)) => int.to_string(),
        'N' | 'n' => grouped(
            &int.unsigned_abs().to_string(),
            int < 0,
            precision.unwrap_or(2),
        ),
        'F' | 'f' => {
            let decimals = precision.unwrap_or(2);
            let fraction = if decimals > 0 {
                format!(".{}", "0".repeat(decimals))
            } else {
                String::new()
            };
            format!("{int}{fraction}")
        }
        'X' => format!("{:0width$X}", int, width = precision.unwrap_or(0)),
        'x' => format!("{:0width$x}", int, width = precision.unwrap_or(0)),
        'P' | 'p' => {
            let hundred = i128::from(int) * 100;
            let text = hundred.unsigned_abs().to_string();
            format!("{} %", grouped(&text, hundred < 0, precision.unwrap_or(2)))
        }
        _ => return None,
    })
}

fn digit_count(int: i64) -> usize {
    int.unsigned_abs().to_string().len()
}

/// At least `digits` digits, zero-padded, sign kept in front.
fn zero_padded(int: i64, digits: usize) -> String {
    let sign = if int < 0 { "-" } else { "" };
    format!("{sign}{:0digits$}", int.unsigned_abs())
}

/// `1234567` → `1,234,567`, then `decimals` zeros after a point.
fn grouped(digits: &str, negative: bool, decimals: usize) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if decimals > 0 {
        out.push('.');
        out.push_str(&"0".repeat(decimals));
    }
    out
}

fn format_float(float: f64, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return Some(float_text(float));
    }
    let (letter, precision) = split_spec(spec)?;
    let decimals = precision.unwrap_or(2);
    match letter {
        'F' | 'f' => Some(format!("{float:.decimals$}")),
        'N' | 'n' => {
            let fixed = format!("{:.decimals$}", float.abs());
            let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
            let mut out = grouped(whole, float < 0.0, 0);
            if !fraction.is_empty() {
                out.push('.');
                out.push_str(fraction);
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err};
    use serde_json::json;

    #[test]
    fn documented_example() {
        // ARM's documentation of `format`.
        assert_eq!(
            eval(
                "[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', \
                 parameters('number'))]"
            ),
            json!("Hello, User. Formatted number: 8,175,133")
        );
        // Bicep's baseline (Azure/bicep baselines_bicepparam/Expressions/parameters.json).
        assert_eq!(eval("[format('->{0}<-', 123)]"), json!("->123<-"));
    }

    #[test]
    fn values_of_every_type() {
        // As Bicep's evaluation tests (Azure/bicep src/Bicep.Core.IntegrationTests/
        // EvaluationTests.cs) expect of a string interpolation, which compiles to format().
        assert_eq!(
            eval(
                "[format('>{0}<>{1}<>{2}<>{3}<>{4}<', false, 12948, 'hello!', \
                 createObject('a', 'b'), createArray(true, 2893, 'abc'))]"
            ),
            json!(">False<>12948<>hello!<>{'a':'b'}<>[true,2893,'abc']<")
        );
        assert_eq!(eval("[format('[{0}]', null())]"), json!("[]"));
    }

    #[test]
    fn braces_order_and_reuse() {
        assert_eq!(
            eval("[format('{{{0}}} {1}{0}', 'a', 'b')]"),
            json!("{a} ba")
        );
        assert_eq!(eval("[format('no items')]"), json!("no items"));
    }

    #[test]
    fn alignment() {
        assert_eq!(eval("[format('[{0,5}]', 'ab')]"), json!("[   ab]"));
        assert_eq!(eval("[format('[{0,-5}]', 'ab')]"), json!("[ab   ]"));
        assert_eq!(eval("[format('[{0 , 3:D2}]', 7)]"), json!("[ 07]"));
    }

    #[test]
    fn numeric_specifiers() {
        assert_eq!(eval("[format('{0:D5}', 42)]"), json!("00042"));
        assert_eq!(eval("[format('{0:D}', -42)]"), json!("-42"));
        assert_eq!(eval("[format('{0:d3}', -7)]"), json!("-007"));
        assert_eq!(eval("[format('{0:N}', 1234567)]"), json!("1,234,567.00"));
        assert_eq!(eval("[format('{0:N1}', -1234)]"), json!("-1,234.0"));
        assert_eq!(eval("[format('{0:F}', 3)]"), json!("3.00"));
        assert_eq!(eval("[format('{0:X}', 255)]"), json!("FF"));
        assert_eq!(eval("[format('{0:x4}', 255)]"), json!("00ff"));
        assert_eq!(eval("[format('{0:P0}', 1)]"), json!("100 %"));
        assert_eq!(eval("[format('{0:G}', 12)]"), json!("12"));
        assert_eq!(eval("[format('{0:000}', 7)]"), json!("007"));
        assert_eq!(
            eval("[format('{0:N2}', json('1234.5'))]"),
            json!("1,234.50")
        );
        assert_eq!(eval("[format('{0:D5}', 'text')]"), json!("text"));
    }

    #[test]
    fn errors() {
        assert!(eval_err("[format('{1}', 'a')]").contains("index '1' is not less than"));
        assert!(eval_err("[format('{0', 'a')]").contains("not in a correct format"));
        assert!(eval_err("[format('a}b', 'a')]").contains("not in a correct format"));
        assert!(eval_err("[format('{x}', 'a')]").contains("not in a correct format"));
        assert!(eval_err("[format('{0:C}', 1)]").contains("format specifier 'C' is not supported"));
        assert!(eval_err("[format('{0:E2}', 1)]").contains("'E2'"));
        assert!(eval_err("[format(1)]").contains("first argument must be a string"));
    }
}
