//! Encodings: base64, URIs and data URIs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::super::ExpressionError;
use super::Args;

/// What .NET's `Uri.EscapeDataString` escapes (and so `uriComponent`): everything but RFC
/// 3986's unreserved characters. Bicep's baseline shows it: `uriComponent('UB*8h 0+=_)9h9n')`
/// is `UB%2A8h%200%2B%3D_%299h9n`.
const DATA_STRING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn call(name: &str, args: &Args) -> Option<Result<Value, ExpressionError>> {
    Some(match name {
        "base64" => one_string(args).map(|text| Value::String(STANDARD.encode(text))),
        "base64tostring" => base64_to_string(args).map(Value::String),
        "base64tojson" => base64_to_string(args).and_then(|text| {
            serde_json::from_str(&text)
                .map_err(|err| args.error(format!("the decoded value is not valid JSON: {err}")))
        }),
        "uri" => uri(args),
        "uricomponent" => one_string(args)
            .map(|text| Value::String(utf8_percent_encode(text, DATA_STRING).to_string())),
        "uricomponenttostring" => one_string(args)
            .map(|text| Value::String(percent_decode_str(text).decode_utf8_lossy().into_owned())),
        "datauri" => data_uri(args),
        "datauritostring" => data_uri_to_string(args),
        _ => return None,
    })
}

fn one_string<'a>(args: &'a Args) -> Result<&'a str, ExpressionError> {
    args.exactly(1)?;
    args.string(0)
}

/// Decodes base64 (whitespace ignored, as .NET's `Convert.FromBase64String`) to UTF-8 text.
fn decode_base64(args: &Args, encoded: &str) -> Result<Vec<u8>, ExpressionError> {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| {
        args.error(format!(
            "the value '{encoded}' is not a valid base64 string"
        ))
    })
}

fn base64_to_string(args: &Args) -> Result<String, ExpressionError> {
    let bytes = decode_base64(args, one_string(args)?)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `uri(baseUri, relativeUri)`: RFC 3986 §5 resolution, except as ARM documents: when the
/// base ends with `/` and the relative part starts with one, the two slashes become one
/// (`uri('http://contoso.org/firstpath/', '/myscript.sh')` is
/// `http://contoso.org/firstpath/myscript.sh`).
fn uri(args: &Args) -> Result<Value, ExpressionError> {
    args.exactly(2)?;
    let (base, relative) = (args.string(0)?, args.string(1)?);
    let base_parts = split_uri(base)
        .filter(|parts| parts.scheme.is_some())
        .ok_or_else(|| args.error(format!("the base URI '{base}' is not an absolute URI")))?;
    if base.ends_with('/') && relative.starts_with('/') && !relative.starts_with("//") {
        return Ok(Value::String(format!("{base}{}", &relative[1..])));
    }
    let relative_parts = split_uri(relative)
        .ok_or_else(|| args.error(format!("the relative URI '{relative}' is not valid")))?;
    Ok(Value::String(resolve(&base_parts, &relative_parts)))
}

/// An RFC 3986 reference split into its components.
struct UriParts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split_uri(text: &str) -> Option<UriParts<'_>> {
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (text, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let scheme_end = rest.find(':').filter(|end| {
        let scheme = &rest[..*end];
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(end) => (Some(&rest[..end]), &rest[end + 1..]),
        None => (None, rest),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    };
    Some(UriParts {
        scheme,
        authority,
        path,
        query,
        fragment,
    })
}

/// RFC 3986 §5.2.2.
fn resolve(base: &UriParts, reference: &UriParts) -> String {
    let (scheme, authority, path, query);
    if reference.scheme.is_some() {
        scheme = reference.scheme;
        authority = reference.authority;
        path = remove_dot_segments(reference.path);
        query = reference.query;
    } else if reference.authority.is_some() {
        scheme = base.scheme;
        authority = reference.authority;
        path = remove_dot_segments(reference.path);
        query = reference.query;
    } else {
        scheme = base.scheme;
        authority = base.authority;
        if reference.path.is_empty() {
            path = base.path.to_owned();
            query = reference.query.or(base.query);
        } else {
            path = if reference.path.starts_with('/') {
                remove_dot_segments(reference.path)
            } else {
                remove_dot_segments(&merge(base, reference.path))
            };
            query = reference.query;
        }
    }
    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push(':');
    }
    if let Some(authority) = authority {
        out.push_str("//");
        out.push_str(authority);
    }
    out.push_str(&path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    if let Some(fragment) = reference.fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// RFC 3986 §5.2.3: the base path up to its last `/`, then the reference.
fn merge(base: &UriParts, reference: &str) -> String {
    if base.authority.is_some() && base.path.is_empty() {
        return format!("/{reference}");
    }
    match base.path.rfind('/') {
        Some(slash) => format!("{}{reference}", &base.path[..=slash]),
        None => reference.to_owned(),
    }
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {
                if i == last {
                    output.push("");
                }
            }
            ".." => {
                if output.len() > 1 || output.first().is_some_and(|s| !s.is_empty()) {
                    output.pop();
                }
                if i == last {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    let joined = output.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `dataUri(text)`: `data:text/plain;charset=utf8;base64,...` (ARM's documented output).
fn data_uri(args: &Args) -> Result<Value, ExpressionError> {
    let text = one_string(args)?;
    Ok(Value::String(format!(
        "data:text/plain;charset=utf8;base64,{}",
        STANDARD.encode(text)
    )))
}

/// `dataUriToString(dataUri)`: the data of a `data:` URI, base64 or percent-encoded.
fn data_uri_to_string(args: &Args) -> Result<Value, ExpressionError> {
    let text = one_string(args)?;
    let invalid = || args.error(format!("the value '{text}' is not a valid data URI"));
    let rest = text
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("data:"))
        .map(|_| &text[5..])
        .ok_or_else(invalid)?;
    let (header, data) = rest.split_once(',').ok_or_else(invalid)?;
    let bytes = if header
        .rsplit(';')
        .next()
        .is_some_and(|last| last.eq_ignore_ascii_case("base64"))
    {
        decode_base64(args, data)?
    } else {
        percent_decode_str(data).collect()
    };
    Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::super::test_scope::{eval, eval_err};
    use serde_json::json;

    #[test]
    fn base64_round_trips() {
        // ARM's documented example.
        assert_eq!(
            eval("[base64('one, two, three')]"),
            json!("b25lLCB0d28sIHRocmVl")
        );
        assert_eq!(
            eval("[base64ToString('b25lLCB0d28sIHRocmVl')]"),
            json!("one, two, three")
        );
        assert_eq!(
            eval("[base64ToJson(base64('{\"one\": \"a\", \"two\": \"b\"}'))]"),
            json!({"one": "a", "two": "b"})
        );
        assert_eq!(eval("[base64ToString(' YWJj ')]"), json!("abc"));
        assert!(eval_err("[base64ToString('not base64!')]").contains("not a valid base64"));
        assert!(eval_err("[base64ToJson(base64('{'))]").contains("not valid JSON"));
        assert!(eval_err("[base64(1)]").contains("must be a string"));
    }

    #[test]
    fn uri_resolution() {
        // ARM's documented examples.
        let cases = [
            (
                "http://contoso.org/firstpath",
                "myscript.sh",
                "http://contoso.org/myscript.sh",
            ),
            (
                "http://contoso.org/firstpath/",
                "myscript.sh",
                "http://contoso.org/firstpath/myscript.sh",
            ),
            (
                "http://contoso.org/firstpath/",
                "/myscript.sh",
                "http://contoso.org/firstpath/myscript.sh",
            ),
            (
                "http://contoso.org/firstpath/azuredeploy.json",
                "myscript.sh",
                "http://contoso.org/firstpath/myscript.sh",
            ),
            (
                "http://contoso.org/firstpath/azuredeploy.json/",
                "myscript.sh",
                "http://contoso.org/firstpath/azuredeploy.json/myscript.sh",
            ),
            (
                "http://contoso.com/resources/",
                "nested/azuredeploy.json",
                "http://contoso.com/resources/nested/azuredeploy.json",
            ),
            // Bicep's baseline.
            (
                "https://github.com",
                "Azure/bicep",
                "https://github.com/Azure/bicep",
            ),
            // RFC 3986 rules for the rest.
            ("http://a/b/c/d", "../g?q", "http://a/b/g?q"),
            ("http://a/b/c/d", "/g", "http://a/g"),
            ("http://a/b/c/d", "https://other/x", "https://other/x"),
            ("http://a/b/c/d?x", "", "http://a/b/c/d?x"),
        ];
        for (base, relative, expected) in cases {
            assert_eq!(
                eval(&format!("[uri('{base}', '{relative}')]")),
                json!(expected),
                "uri({base}, {relative})"
            );
        }
        assert!(eval_err("[uri('relative/only', 'x')]").contains("not an absolute URI"));
    }

    #[test]
    fn uri_components() {
        // ARM's documented example and Bicep's baseline.
        assert_eq!(
            eval("[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]"),
            json!("http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json")
        );
        assert_eq!(
            eval("[uriComponent('UB*8h 0+=_)9h9n')]"),
            json!("UB%2A8h%200%2B%3D_%299h9n")
        );
        assert_eq!(eval("[uriComponent('é~')]"), json!("%C3%A9~"));
        assert_eq!(eval("[uriComponentToString('%20%25%20')]"), json!(" % "));
        assert_eq!(
            eval("[uriComponentToString('http%3A%2F%2Fcontoso.com')]"),
            json!("http://contoso.com")
        );
        assert!(eval_err("[uriComponent()]").contains("requires 1"));
    }

    #[test]
    fn data_uris() {
        // ARM's documented examples.
        assert_eq!(
            eval("[dataUri('Hello')]"),
            json!("data:text/plain;charset=utf8;base64,SGVsbG8=")
        );
        assert_eq!(
            eval("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]"),
            json!("Hello, World!")
        );
        assert_eq!(eval("[dataUriToString(dataUri('abc'))]"), json!("abc"));
        assert_eq!(eval("[dataUriToString('data:,a%20b')]"), json!("a b"));
        assert!(eval_err("[dataUriToString('nope')]").contains("not a valid data URI"));
    }
}
