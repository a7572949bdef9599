//! The lenient JSON ARM reads deployment bodies with (JSON.NET's): comments (`//`, `/* */`),
//! property names without quotes, single-quoted strings and trailing commas. `az deployment
//! ... create` depends on it: it splices the template file's text, comments and all, into
//! the body after an unquoted `template:` so that the template keeps its whitespace. This
//! turns such text into strict JSON, keeping every line break where it was, so that the
//! lines ARM's messages name are the lines of the text as sent.

/// Why the text is not even lenient JSON, with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line}, column {column}")]
pub struct JsoncError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Object,
    Array,
}

/// Strict JSON for lenient `text`.
pub fn to_json(text: &str) -> Result<String, JsoncError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut stack: Vec<Container> = Vec::new();
    // Where the last `,` was written while no value followed it yet: a `}` or `]` next
    // makes it a trailing comma, dropped.
    let mut pending_comma: Option<usize> = None;
    let mut expecting_key = false;
    let mut i = 0;
    let (mut line, mut column) = (1, 1);
    let error = |message: &str, line: usize, column: usize| JsoncError {
        message: message.to_owned(),
        line,
        column,
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                    column += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let (start_line, start_column) = (line, column);
                out.push_str("  ");
                i += 2;
                column += 2;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('*'), Some('/')) => {
                            out.push_str("  ");
                            i += 2;
                            column += 2;
                            break;
                        }
                        (Some('\n'), _) => {
                            out.push('\n');
                            i += 1;
                            line += 1;
                            column = 1;
                        }
                        (Some(_), _) => {
                            out.push(' ');
                            i += 1;
                            column += 1;
                        }
                        (None, _) => {
                            return Err(error("unterminated comment", start_line, start_column))
                        }
                    }
                }
                continue;
            }
            '"' | '\'' => {
                let (start_line, start_column) = (line, column);
                let quote = c;
                out.push('"');
                i += 1;
                column += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(error("unterminated string", start_line, start_column));
                    };
                    match c {
                        '\\' => {
                            let escaped = chars.get(i + 1).copied().ok_or_else(|| {
                                error("unterminated string", start_line, start_column)
                            })?;
                            // `\'` means a quote in a single-quoted string; strict JSON has
                            // no such escape.
                            if escaped == '\'' {
                                out.push('\'');
                            } else {
                                out.push('\\');
                                out.push(escaped);
                            }
                            i += 2;
                            column += 2;
                        }
                        c if c == quote => {
                            out.push('"');
                            i += 1;
                            column += 1;
                            break;
                        }
                        '"' => {
                            out.push_str("\\\"");
                            i += 1;
                            column += 1;
                        }
                        '\n' => return Err(error("newline in a string", line, column)),
                        c => {
                            out.push(c);
                            i += 1;
                            column += 1;
                        }
                    }
                }
                pending_comma = None;
                expecting_key = false;
                continue;
            }
            '{' | '[' => {
                stack.push(if c == '{' {
                    Container::Object
                } else {
                    Container::Array
                });
                expecting_key = c == '{';
                pending_comma = None;
                out.push(c);
            }
            '}' | ']' => {
                if let Some(at) = pending_comma.take() {
                    out.replace_range(at..at + 1, " ");
                }
                stack.pop();
                expecting_key = false;
                out.push(c);
            }
            ',' => {
                pending_comma = Some(out.len());
                expecting_key = stack.last() == Some(&Container::Object);
                out.push(c);
            }
            c if expecting_key && (c.is_alphabetic() || c == '_' || c == '$') => {
                let mut name = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_alphanumeric() || c == '_' || c == '$' {
                        name.push(c);
                        i += 1;
                        column += 1;
                    } else {
                        break;
                    }
                }
                out.push('"');
                out.push_str(&name);
                out.push('"');
                pending_comma = None;
                expecting_key = false;
                continue;
            }
            '\n' => {
                out.push('\n');
                i += 1;
                line += 1;
                column = 1;
                continue;
            }
            c if c.is_whitespace() => out.push(c),
            c => {
                pending_comma = None;
                expecting_key = false;
                out.push(c);
            }
        }
        i += 1;
        column += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Value {
        serde_json::from_str(&to_json(text).unwrap()).unwrap()
    }

    #[test]
    fn what_az_sends_parses() {
        // az 2.91's splice: the body without its template, then `, template:` and the
        // file's text, comments and all.
        let text = "{\"properties\": {\"mode\": \"Incremental\", template:{\n  // the vault\n  \
                    \"$schema\": \"x\", /* inline */ \"resources\": [1, 2,],\n}}}";
        assert_eq!(
            parse(text),
            json!({"properties": {"mode": "Incremental", "template": {"$schema": "x", "resources": [1, 2]}}})
        );
    }

    #[test]
    fn strings_keep_what_looks_like_comments_and_quotes() {
        let text =
            r#"{'a': 'its', "b": "// not a comment /* nor this */", c: 'say "hi"', d: 'x\'y'}"#;
        let value = parse(text);
        assert_eq!(value["a"], "its");
        assert_eq!(value["b"], "// not a comment /* nor this */");
        assert_eq!(value["c"], "say \"hi\"");
        assert_eq!(value["d"], "x'y");
    }

    #[test]
    fn line_breaks_stay_where_they_were() {
        let text = "{\n/* one\ntwo */\n\"a\": 1\n}";
        let strict = to_json(text).unwrap();
        assert_eq!(strict.lines().count(), text.lines().count());
        assert_eq!(strict.lines().nth(3).unwrap().trim(), "\"a\": 1");
    }

    #[test]
    fn broken_text_is_reported_with_its_position() {
        assert_eq!(
            to_json("{\n  \"a\": \"open").unwrap_err(),
            JsoncError {
                message: "unterminated string".into(),
                line: 2,
                column: 8
            }
        );
        assert_eq!(to_json("{ /* never closed").unwrap_err().line, 1);
    }
}
