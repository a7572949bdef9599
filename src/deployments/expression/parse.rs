//! The lexer and parser of the expression language.
//!
//! Grammar (whitespace allowed between tokens):
//! ```text
//! expression := primary postfix*
//! primary    := integer | string | call | 'true' | 'false' | 'null'
//! call       := identifier ('.' identifier)? '(' (expression (',' expression)*)? ')'
//! postfix    := '.' identifier | '[' expression ']'
//! string     := "'" (any char but "'" | "''")* "'"
//! integer    := '-'? digit+
//! ```
//! Token names in messages are ARM's (`expected token 'RightParenthesis' and actual
//! 'EndOfData'`), as in its "Unable to parse language expression" errors.

use super::{Expr, ExpressionError, Value};

/// Deeper nesting than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 200;

/// Parses a JSON string value of a template.
///
/// ARM treats a string as an expression only when it starts with `[` and ends with `]`.
/// Anything else comes back as `Expr::Literal(Value::String)` unchanged; `[[...]` comes back
/// as a literal with its first `[` removed (the escape for text that would otherwise be an
/// expression).
pub fn parse_template_string(text: &str) -> Result<Expr, ExpressionError> {
    let is_bracketed = text.len() >= 2 && text.starts_with('[') && text.ends_with(']');
    if !is_bracketed {
        return Ok(Expr::Literal(Value::String(text.to_owned())));
    }
    if let Some(escaped) = text.strip_prefix("[[") {
        return Ok(Expr::Literal(Value::String(format!("[{escaped}"))));
    }
    parse_expression(&text[1..text.len() - 1])
}

/// Parses the text between the outer brackets of an expression string.
pub fn parse_expression(expression: &str) -> Result<Expr, ExpressionError> {
    let tokens = lex(expression)?;
    let mut parser = Parser {
        source: expression,
        tokens,
        next: 0,
        depth: 0,
    };
    let expr = parser.expression()?;
    parser.expect(&TokenKind::EndOfData)?;
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    LeftParenthesis,
    RightParenthesis,
    LeftSquareBracket,
    RightSquareBracket,
    Comma,
    Dot,
    Identifier(String),
    String(String),
    Integer(i64),
    EndOfData,
}

impl TokenKind {
    /// ARM's name for the token kind.
    fn name(&self) -> &'static str {
        match self {
            TokenKind::LeftParenthesis => "LeftParenthesis",
            TokenKind::RightParenthesis => "RightParenthesis",
            TokenKind::LeftSquareBracket => "LeftSquareBracket",
            TokenKind::RightSquareBracket => "RightSquareBracket",
            TokenKind::Comma => "Comma",
            TokenKind::Dot => "Dot",
            TokenKind::Identifier(_) => "Identifier",
            TokenKind::String(_) => "String",
            TokenKind::Integer(_) => "Integer",
            TokenKind::EndOfData => "EndOfData",
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// Char offset of the token's first character.
    position: usize,
}

fn syntax(source: &str, message: impl Into<String>, position: usize) -> ExpressionError {
    ExpressionError::Syntax {
        expression: source.to_owned(),
        message: message.into(),
        position,
    }
}

fn is_identifier_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_identifier_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn lex(source: &str) -> Result<Vec<Token>, ExpressionError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let start = at;
        let kind = match c {
            c if c.is_whitespace() => {
                at += 1;
                continue;
            }
            '(' => TokenKind::LeftParenthesis,
            ')' => TokenKind::RightParenthesis,
            '[' => TokenKind::LeftSquareBracket,
            ']' => TokenKind::RightSquareBracket,
            ',' => TokenKind::Comma,
            '.' => TokenKind::Dot,
            '\'' => {
                let (text, end) = lex_string(source, &chars, start)?;
                tokens.push(Token {
                    kind: TokenKind::String(text),
                    position: start,
                });
                at = end;
                continue;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut end = start + 1;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                let digits: String = chars[start..end].iter().collect();
                if digits == "-" {
                    return Err(syntax(
                        source,
                        "the character '-' is not followed by a digit",
                        start,
                    ));
                }
                let value = digits.parse::<i64>().map_err(|_| {
                    syntax(
                        source,
                        format!("the integer '{digits}' is out of range"),
                        start,
                    )
                })?;
                tokens.push(Token {
                    kind: TokenKind::Integer(value),
                    position: start,
                });
                at = end;
                continue;
            }
            c if is_identifier_start(c) => {
                let mut end = start + 1;
                while end < chars.len() && is_identifier_part(chars[end]) {
                    end += 1;
                }
                tokens.push(Token {
                    kind: TokenKind::Identifier(chars[start..end].iter().collect()),
                    position: start,
                });
                at = end;
                continue;
            }
            other => {
                return Err(syntax(
                    source,
                    format!("the character '{other}' is not expected"),
                    start,
                ))
            }
        };
        tokens.push(Token {
            kind,
            position: start,
        });
        at += 1;
    }
    tokens.push(Token {
        kind: TokenKind::EndOfData,
        position: chars.len(),
    });
    Ok(tokens)
}

/// A `'...'` literal starting at `start`; a quote inside is doubled. Returns the text and the
/// offset just past the closing quote.
fn lex_string(
    source: &str,
    chars: &[char],
    start: usize,
) -> Result<(String, usize), ExpressionError> {
    let mut text = String::new();
    let mut at = start + 1;
    loop {
        match chars.get(at) {
            None => {
                return Err(syntax(
                    source,
                    "the string literal is not terminated",
                    start,
                ))
            }
            Some('\'') if chars.get(at + 1) == Some(&'\'') => {
                text.push('\'');
                at += 2;
            }
            Some('\'') => return Ok((text, at + 1)),
            Some(&c) => {
                text.push(c);
                at += 1;
            }
        }
    }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The lexer always ends the list with EndOfData, and `advance` never passes it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &TokenKind {
        &self.tokens[(self.next + ahead).min(self.tokens.len() - 1)].kind
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::EndOfData {
            self.next += 1;
        }
        token
    }

    fn unexpected(&self, expected: &str) -> ExpressionError {
        let actual = self.peek();
        syntax(
            self.source,
            format!(
                "expected token '{expected}' and actual '{}'",
                actual.kind.name()
            ),
            actual.position,
        )
    }

    fn expect(&mut self, kind: &TokenKind) -> Result<Token, ExpressionError> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(kind.name()))
        }
    }

    fn expression(&mut self) -> Result<Expr, ExpressionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(
                self.source,
                format!("the expression is nested more than {MAX_DEPTH} levels deep"),
                self.peek().position,
            ));
        }
        let mut expr = self.primary()?;
        loop {
            match self.peek().kind {
                TokenKind::Dot => {
                    self.advance();
                    let name = self.identifier()?;
                    expr = Expr::Property(Box::new(expr), name);
                }
                TokenKind::LeftSquareBracket => {
                    self.advance();
                    let index = self.expression()?;
                    self.expect(&TokenKind::RightSquareBracket)?;
                    expr = Expr::Index(Box::new(expr), Box::new(index));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(expr)
    }

    fn identifier(&mut self) -> Result<String, ExpressionError> {
        match &self.peek().kind {
            TokenKind::Identifier(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected("Identifier")),
        }
    }

    fn primary(&mut self) -> Result<Expr, ExpressionError> {
        let token = self.peek().clone();
        match token.kind {
            TokenKind::Integer(value) => {
                self.advance();
                Ok(Expr::Literal(Value::from(value)))
            }
            TokenKind::String(text) => {
                self.advance();
                Ok(Expr::Literal(Value::String(text)))
            }
            TokenKind::Identifier(mut name) => {
                self.advance();
                // A user-defined function: `namespace.member(...)`.
                if self.peek().kind == TokenKind::Dot
                    && matches!(self.peek_at(1), TokenKind::Identifier(_))
                    && *self.peek_at(2) == TokenKind::LeftParenthesis
                {
                    self.advance();
                    name = format!("{name}.{}", self.identifier()?);
                }
                if self.peek().kind != TokenKind::LeftParenthesis {
                    return match name.to_ascii_lowercase().as_str() {
                        "true" => Ok(Expr::Literal(Value::Bool(true))),
                        "false" => Ok(Expr::Literal(Value::Bool(false))),
                        "null" => Ok(Expr::Literal(Value::Null)),
                        _ => Err(self.unexpected("LeftParenthesis")),
                    };
                }
                self.advance();
                let args = self.arguments()?;
                Ok(Expr::Call { name, args })
            }
            _ => Err(self.unexpected("Identifier")),
        }
    }

    /// The arguments of a call, after its `(`, through its `)`.
    fn arguments(&mut self) -> Result<Vec<Expr>, ExpressionError> {
        let mut args = Vec::new();
        if self.peek().kind == TokenKind::RightParenthesis {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expression()?);
            match self.peek().kind {
                TokenKind::Comma => {
                    self.advance();
                }
                TokenKind::RightParenthesis => {
                    self.advance();
                    return Ok(args);
                }
                _ => return Err(self.unexpected("RightParenthesis")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(text: &str) -> Expr {
        Expr::Literal(Value::String(text.into()))
    }

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
        }
    }

    fn syntax_error(text: &str) -> (String, String, usize) {
        match parse_template_string(text) {
            Err(ExpressionError::Syntax {
                expression,
                message,
                position,
            }) => (expression, message, position),
            other => panic!("expected a syntax error for {text}, got {other:?}"),
        }
    }

    #[test]
    fn non_expressions_are_literals() {
        assert_eq!(parse_template_string("plain").unwrap(), s("plain"));
        assert_eq!(parse_template_string("").unwrap(), s(""));
        assert_eq!(parse_template_string("[").unwrap(), s("["));
        assert_eq!(
            parse_template_string("[test] value").unwrap(),
            s("[test] value")
        );
        assert_eq!(parse_template_string(" [x()]").unwrap(), s(" [x()]"));
        assert_eq!(parse_template_string("[x()] ").unwrap(), s("[x()] "));
    }

    #[test]
    fn double_bracket_escapes() {
        assert_eq!(
            parse_template_string("[[test value]").unwrap(),
            s("[test value]")
        );
        assert_eq!(
            parse_template_string("[[concat('a')]").unwrap(),
            s("[concat('a')]")
        );
        // Not ending in `]`: not an expression, nothing removed.
        assert_eq!(parse_template_string("[[abc").unwrap(), s("[[abc"));
    }

    #[test]
    fn literals() {
        assert_eq!(parse_expression("'it''s'").unwrap(), s("it's"));
        assert_eq!(parse_expression("''").unwrap(), s(""));
        assert_eq!(parse_expression("''''").unwrap(), s("'"));
        assert_eq!(parse_expression("12").unwrap(), Expr::Literal(json!(12)));
        assert_eq!(parse_expression(" -3 ").unwrap(), Expr::Literal(json!(-3)));
        assert_eq!(
            parse_expression("9223372036854775807").unwrap(),
            Expr::Literal(json!(i64::MAX))
        );
        assert_eq!(
            parse_expression("true").unwrap(),
            Expr::Literal(json!(true))
        );
        assert_eq!(
            parse_expression("False").unwrap(),
            Expr::Literal(json!(false))
        );
        assert_eq!(
            parse_expression("null").unwrap(),
            Expr::Literal(Value::Null)
        );
        assert_eq!(parse_expression("true()").unwrap(), call("true", vec![]));
        assert_eq!(parse_expression("'[x]'").unwrap(), s("[x]"));
    }

    #[test]
    fn calls_and_nesting() {
        assert_eq!(
            parse_template_string(
                "[concat(parameters('vaultName'), '-', uniqueString(resourceGroup().id))]"
            )
            .unwrap(),
            call(
                "concat",
                vec![
                    call("parameters", vec![s("vaultName")]),
                    s("-"),
                    call(
                        "uniqueString",
                        vec![Expr::Property(
                            Box::new(call("resourceGroup", vec![])),
                            "id".into()
                        )]
                    ),
                ]
            )
        );
        assert_eq!(
            parse_expression("  f ( 1 ,\n\t'a' )  ").unwrap(),
            call("f", vec![Expr::Literal(json!(1)), s("a")])
        );
    }

    #[test]
    fn member_and_index_chains() {
        assert_eq!(
            parse_expression("parameters('x')[0].name").unwrap(),
            Expr::Property(
                Box::new(Expr::Index(
                    Box::new(call("parameters", vec![s("x")])),
                    Box::new(Expr::Literal(json!(0)))
                )),
                "name".into()
            )
        );
        assert_eq!(
            parse_expression("a()['b'][c()].d.e").unwrap(),
            Expr::Property(
                Box::new(Expr::Property(
                    Box::new(Expr::Index(
                        Box::new(Expr::Index(Box::new(call("a", vec![])), Box::new(s("b")))),
                        Box::new(call("c", vec![]))
                    )),
                    "d".into()
                )),
                "e".into()
            )
        );
    }

    #[test]
    fn namespaced_user_function() {
        assert_eq!(
            parse_expression("contoso.uniqueName('a')").unwrap(),
            call("contoso.uniqueName", vec![s("a")])
        );
    }

    #[test]
    fn errors_carry_arm_token_names_and_positions() {
        assert_eq!(
            syntax_error("[concat('ai-', uniqueString(resourceGroup().id)]"),
            (
                "concat('ai-', uniqueString(resourceGroup().id)".into(),
                "expected token 'RightParenthesis' and actual 'EndOfData'".into(),
                46
            )
        );
        let (_, message, position) = syntax_error("[concat('a' 'b')]");
        assert_eq!(
            message,
            "expected token 'RightParenthesis' and actual 'String'"
        );
        assert_eq!(position, 11);
        let (_, message, position) = syntax_error("[parameters]");
        assert_eq!(
            message,
            "expected token 'LeftParenthesis' and actual 'EndOfData'"
        );
        assert_eq!(position, 10);
        let (_, message, position) = syntax_error("[]");
        assert_eq!(
            message,
            "expected token 'Identifier' and actual 'EndOfData'"
        );
        assert_eq!(position, 0);
        let (_, message, position) = syntax_error("[f() g()]");
        assert_eq!(
            message,
            "expected token 'EndOfData' and actual 'Identifier'"
        );
        assert_eq!(position, 4);
        let (_, message, position) = syntax_error("[a().]");
        assert_eq!(
            message,
            "expected token 'Identifier' and actual 'EndOfData'"
        );
        assert_eq!(position, 4);
        let (_, message, _) = syntax_error("[a()[0]");
        assert_eq!(
            message,
            "expected token 'RightSquareBracket' and actual 'EndOfData'"
        );
    }

    #[test]
    fn lexical_errors() {
        let (_, message, position) = syntax_error("[concat('abc)]");
        assert_eq!(message, "the string literal is not terminated");
        assert_eq!(position, 7);
        let (_, message, position) = syntax_error("[f(1 + 2)]");
        assert_eq!(message, "the character '+' is not expected");
        assert_eq!(position, 4);
        let (_, message, _) = syntax_error("[f(-)]");
        assert_eq!(message, "the character '-' is not followed by a digit");
        let (_, message, _) = syntax_error("[f(99999999999999999999)]");
        assert_eq!(
            message,
            "the integer '99999999999999999999' is out of range"
        );
        // Positions count chars, not bytes.
        let (_, _, position) = syntax_error("[f('é', +)]");
        assert_eq!(position, 7);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("[{}1{}]", "f(".repeat(500), ")".repeat(500));
        let (_, message, _) = syntax_error(&deep);
        assert!(message.contains("nested more than"), "{message}");
        let fine = format!("[{}1{}]", "f(".repeat(100), ")".repeat(100));
        assert!(parse_template_string(&fine).is_ok());
    }

    #[test]
    fn display_of_syntax_error() {
        let err = parse_template_string("[f(]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "The template language expression 'f(' is not valid: expected token 'Identifier' \
             and actual 'EndOfData' (at position 2)"
        );
    }
}
