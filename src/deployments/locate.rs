//! Where a value of a JSON document starts, by its path: ARM names the line and column of a
//! template fault, and `serde_json::Value` keeps no positions, so the request body is
//! scanned again for the one value a message needs.

use super::error::TemplatePosition;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The position of the value at `path` in `text` (1-based line and column, ARM's path
/// spelling), `None` when the text has no such value. Object keys match exactly.
pub fn locate(text: &str, path: &[Step]) -> Option<TemplatePosition> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.skip_space();
    for step in path {
        scanner.enter(step)?;
    }
    let (line, column) = line_and_column(text, scanner.at);
    Some(TemplatePosition {
        line,
        column,
        path: spell(path),
    })
}

/// `properties.template.resources[1].name`
pub fn spell(path: &[Step]) -> String {
    let mut spelled = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !spelled.is_empty() {
                    spelled.push('.');
                }
                spelled.push_str(key);
            }
            Step::Index(index) => spelled.push_str(&format!("[{index}]")),
        }
    }
    spelled
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// Moves from the start of a container to the start of its member `step`.
    fn enter(&mut self, step: &Step) -> Option<()> {
        match (self.peek()?, step) {
            (b'{', Step::Key(wanted)) => {
                self.at += 1;
                loop {
                    self.skip_space();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key = self.string()?;
                    self.skip_space();
                    (self.peek()? == b':').then_some(())?;
                    self.at += 1;
                    self.skip_space();
                    if key == *wanted {
                        return Some(());
                    }
                    self.skip_value()?;
                    self.after_member()?;
                }
            }
            (b'[', Step::Index(wanted)) => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_space();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if index == *wanted {
                        return Some(());
                    }
                    self.skip_value()?;
                    self.after_member()?;
                    index += 1;
                }
            }
            _ => None,
        }
    }

    /// Past the `,` after a member; `None` at the container's end.
    fn after_member(&mut self) -> Option<()> {
        self.skip_space();
        (self.peek()? == b',').then_some(())?;
        self.at += 1;
        Some(())
    }

    /// A string literal, decoded through serde_json (escapes and all).
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.at]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        (self.peek()? == b'"').then_some(())?;
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                loop {
                    self.skip_space();
                    if self.peek()? == close {
                        self.at += 1;
                        return Some(());
                    }
                    if open == b'{' {
                        self.skip_string()?;
                        self.skip_space();
                        (self.peek()? == b':').then_some(())?;
                        self.at += 1;
                        self.skip_space();
                    }
                    self.skip_value()?;
                    self.skip_space();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    #[test]
    fn finds_a_nested_value_by_its_path() {
        let text = "{\n  \"properties\": {\n    \"template\": {\n      \"resources\": [\n        \
                    {\"name\": \"a\"},\n        {\"name\": \"b\\\"}\"}\n      ]\n    }\n  }\n}";
        let path = [
            key("properties"),
            key("template"),
            key("resources"),
            Step::Index(1),
        ];
        let at = locate(text, &path).unwrap();
        assert_eq!((at.line, at.column), (6, 9));
        assert_eq!(at.path, "properties.template.resources[1]");
        let name = locate(text, &[&path[..], &[key("name")]].concat()).unwrap();
        assert_eq!((name.line, name.column), (6, 18));
    }

    #[test]
    fn skips_members_of_every_kind_before_the_one_wanted() {
        let text = r#"{"a": [1, {"x": "}"}, true, null], "b": -2.5e3, "c": {"d": "here"}}"#;
        let at = locate(text, &[key("c"), key("d")]).unwrap();
        assert_eq!((at.line, at.column), (1, 60));
        assert_eq!(
            locate(text, &[key("a"), Step::Index(2)]).unwrap().column,
            23
        );
    }

    #[test]
    fn a_missing_member_has_no_position() {
        let text = r#"{"a": [1, 2]}"#;
        assert_eq!(locate(text, &[key("b")]), None);
        assert_eq!(locate(text, &[key("a"), Step::Index(2)]), None);
        assert_eq!(locate(text, &[key("a"), key("x")]), None);
    }
}
