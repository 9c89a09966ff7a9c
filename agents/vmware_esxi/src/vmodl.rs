//! The vmodl pretty-print that `vim-cmd` writes for a data object
//! (`get.summary`, `get.config`, `get.runtime`, `get.filelayout`), read
//! strictly: `(type) { field = value, ... }`, `(type) [ value, ... ]`,
//! `"strings"`, `'vim.Type:id'` references, `<unset>` and bare words.
//!
//! Strings are taken as printed, without unescaping: no source we found
//! says how the printer quotes a string that holds a double quote (see
//! summary.rs). A string ends at the next `"`; one that closes right after
//! a backslash is an error, since whether that quote was escaped cannot be
//! told. No object may hold the same field twice. What a field's value
//! means is left to the reader of each command.

use std::collections::HashSet;
use std::fmt;

/// One value of the vmodl pretty-print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `<unset>`
    Unset,
    /// `"text"`, as printed (no unescaping).
    Str(String),
    /// `'vim.VirtualMachine:12'`
    MoRef(String),
    /// A bare word: `false`, `4096`, `-1`, `null` after a type.
    Word(String),
    /// `(type) { field = value, ... }`
    Object {
        type_name: String,
        fields: Vec<(String, Value)>,
    },
    /// `(type) [ value, ... ]`
    Array {
        type_name: String,
        items: Vec<Value>,
    },
}

impl Value {
    /// The field `name` of an object.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object { fields, .. } => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why the text is not a value of the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset in the output.
    pub at: usize,
    pub what: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.what)
    }
}

/// Nesting deeper than any real summary (which is about six levels).
const MAX_DEPTH: usize = 48;

/// One token of the pretty-print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Equals,
    Type(String),
    Str(String),
    MoRef(String),
    Unset,
    Word(String),
}

/// The tokens of a text, for a reader that must stop before the end (see
/// guest_free.rs, which reads only the head of `get.config`).
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-' | b':')
}

fn is_type_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$')
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    fn error(&self, at: usize, what: impl Into<String>) -> SyntaxError {
        SyntaxError {
            at,
            what: what.into(),
        }
    }

    /// The text up to the next `close`, from just after the opening byte
    /// at `start`.
    fn quoted(&mut self, start: usize, close: u8, what: &str) -> Result<String, SyntaxError> {
        let body_start = start + 1;
        let bytes = self.text.as_bytes();
        let Some(len) = bytes[body_start..].iter().position(|&b| b == close) else {
            return Err(self.error(start, format!("unterminated {what}")));
        };
        let end = body_start + len;
        if len > 0 && bytes[end - 1] == b'\\' {
            return Err(self.error(
                end,
                format!("a {what} closes right after a backslash: whether that quote is escaped cannot be told"),
            ));
        }
        self.pos = end + 1;
        // Both ends are ASCII quotes, hence character boundaries.
        Ok(self.text[body_start..end].to_string())
    }

    /// The next token and its byte offset; None at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<(usize, Token)>, SyntaxError> {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&b) = bytes.get(start) else {
            return Ok(None);
        };
        let simple = |t: Token, lexer: &mut Lexer| {
            lexer.pos = start + 1;
            Ok(Some((start, t)))
        };
        match b {
            b'{' => simple(Token::LBrace, self),
            b'}' => simple(Token::RBrace, self),
            b'[' => simple(Token::LBracket, self),
            b']' => simple(Token::RBracket, self),
            b',' => simple(Token::Comma, self),
            b'=' => simple(Token::Equals, self),
            b'"' => {
                let s = self.quoted(start, b'"', "string")?;
                Ok(Some((start, Token::Str(s))))
            }
            b'\'' => {
                let s = self.quoted(start, b'\'', "reference")?;
                Ok(Some((start, Token::MoRef(s))))
            }
            b'<' => {
                if self.text[start..].starts_with("<unset>") {
                    self.pos = start + "<unset>".len();
                    Ok(Some((start, Token::Unset)))
                } else {
                    Err(self.error(start, "'<' that does not start <unset>"))
                }
            }
            b'(' => {
                let len = bytes[start + 1..]
                    .iter()
                    .take_while(|&&c| is_type_byte(c))
                    .count();
                let end = start + 1 + len;
                if len == 0 || bytes.get(end) != Some(&b')') {
                    return Err(self.error(start, "'(' that does not enclose a type name"));
                }
                self.pos = end + 1;
                Ok(Some((
                    start,
                    Token::Type(self.text[start + 1..end].to_string()),
                )))
            }
            c if is_word_byte(c) => {
                let len = bytes[start..]
                    .iter()
                    .take_while(|&&c| is_word_byte(c))
                    .count();
                self.pos = start + len;
                Ok(Some((
                    start,
                    Token::Word(self.text[start..start + len].to_string()),
                )))
            }
            _ => Err(self.error(start, "a character that has no place outside a string")),
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Option<(usize, Token)>>,
}

fn is_identifier(w: &str) -> bool {
    let mut chars = w.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<Option<&(usize, Token)>, SyntaxError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().and_then(|p| p.as_ref()))
    }

    fn take(&mut self) -> Result<Option<(usize, Token)>, SyntaxError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn end_at(&self) -> usize {
        self.lexer.text.len()
    }

    fn expect_value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                at: self.lexer.pos,
                what: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        let Some((at, tok)) = self.take()? else {
            return Err(SyntaxError {
                at: self.end_at(),
                what: "the output ends where a value should be".into(),
            });
        };
        match tok {
            Token::Str(s) => Ok(Value::Str(s)),
            Token::MoRef(s) => Ok(Value::MoRef(s)),
            Token::Unset => Ok(Value::Unset),
            Token::Word(w) => Ok(Value::Word(w)),
            Token::Type(type_name) => match self.take()? {
                Some((_, Token::LBrace)) => self.object(type_name, depth),
                Some((_, Token::LBracket)) => self.array(type_name, depth),
                Some((_, Token::Word(w))) => Ok(Value::Word(w)),
                Some((_, Token::Str(s))) => Ok(Value::Str(s)),
                Some((_, Token::MoRef(s))) => Ok(Value::MoRef(s)),
                Some((_, Token::Unset)) => Ok(Value::Unset),
                Some((at, t)) => Err(SyntaxError {
                    at,
                    what: format!("{t:?} after the type ({type_name})"),
                }),
                None => Err(SyntaxError {
                    at: self.end_at(),
                    what: format!("the output ends after the type ({type_name})"),
                }),
            },
            other => Err(SyntaxError {
                at,
                what: format!("{other:?} where a value should be"),
            }),
        }
    }

    fn object(&mut self, type_name: String, depth: usize) -> Result<Value, SyntaxError> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            let (at, tok) = self.take()?.ok_or_else(|| SyntaxError {
                at: self.end_at(),
                what: format!("the output ends inside ({type_name}) {{"),
            })?;
            let name = match tok {
                Token::RBrace => return Ok(Value::Object { type_name, fields }),
                Token::Word(w) if is_identifier(&w) => w,
                other => {
                    return Err(SyntaxError {
                        at,
                        what: format!("{other:?} where a field name should be"),
                    })
                }
            };
            match self.take()? {
                Some((_, Token::Equals)) => {}
                _ => {
                    return Err(SyntaxError {
                        at,
                        what: format!("field {name} is not followed by '='"),
                    })
                }
            }
            if !seen.insert(name.clone()) {
                return Err(SyntaxError {
                    at,
                    what: format!("field {name} appears twice in one ({type_name}) object"),
                });
            }
            let value = self.expect_value(depth + 1)?;
            fields.push((name, value));
            match self.peek()? {
                Some((_, Token::Comma)) => {
                    self.take()?;
                }
                Some((_, Token::RBrace)) => {}
                Some((at, t)) => {
                    return Err(SyntaxError {
                        at: *at,
                        what: format!("{t:?} between two fields"),
                    })
                }
                None => {}
            }
        }
    }

    fn array(&mut self, type_name: String, depth: usize) -> Result<Value, SyntaxError> {
        let mut items = Vec::new();
        loop {
            if let Some((_, Token::RBracket)) = self.peek()? {
                self.take()?;
                return Ok(Value::Array { type_name, items });
            }
            items.push(self.expect_value(depth + 1)?);
            match self.take()? {
                Some((_, Token::Comma)) => {}
                Some((_, Token::RBracket)) => return Ok(Value::Array { type_name, items }),
                Some((at, t)) => {
                    return Err(SyntaxError {
                        at,
                        what: format!("{t:?} between two items of ({type_name}) ["),
                    })
                }
                None => {
                    return Err(SyntaxError {
                        at: self.end_at(),
                        what: format!("the output ends inside ({type_name}) ["),
                    })
                }
            }
        }
    }
}

/// Parse the whole of `text` as exactly one value.
pub fn parse_value(text: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser {
        lexer: Lexer::new(text),
        peeked: None,
    };
    let v = p.expect_value(0)?;
    match p.take()? {
        None => Ok(v),
        Some((at, t)) => Err(SyntaxError {
            at,
            what: format!("{t:?} after the end of the value"),
        }),
    }
}

/// A value as vim-cmd printed it, with the header line before it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// `Listsummary:`: bare words, the last one ending in a colon.
    pub header: Option<String>,
    pub value: Value,
}

/// More words than any header vim-cmd prints.
const MAX_HEADER_WORDS: usize = 4;

/// Parse the whole of `text` as one or more values, each of which may
/// follow a header (`get.filelayout` prints two objects). Nothing else may
/// be there.
pub fn parse_values(text: &str) -> Result<Vec<Printed>, SyntaxError> {
    let mut p = Parser {
        lexer: Lexer::new(text),
        peeked: None,
    };
    let mut found = Vec::new();
    loop {
        let mut words: Vec<String> = Vec::new();
        while let Some((at, Token::Word(w))) = p.peek()? {
            if words.len() == MAX_HEADER_WORDS {
                return Err(SyntaxError {
                    at: *at,
                    what: "bare words where a value should be".into(),
                });
            }
            let ends_header = w.ends_with(':');
            words.push(w.clone());
            p.take()?;
            if ends_header {
                break;
            }
        }
        let header = match words.last() {
            None => None,
            Some(last) if last.ends_with(':') => Some(words.join(" ")),
            Some(_) => {
                return Err(SyntaxError {
                    at: p.lexer.pos,
                    what: format!("bare words {:?} where a value should be", words.join(" ")),
                })
            }
        };
        if header.is_none() && !found.is_empty() && p.peek()?.is_none() {
            return Ok(found);
        }
        let value = p.expect_value(0)?;
        found.push(Printed { header, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_one_after_another_each_after_an_optional_header() {
        let got = parse_values("VM files:\n(a.B) {\n   x = \"1\",\n}\n(c.D) [\n   1\n]\n").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header.as_deref(), Some("VM files:"));
        assert_eq!(got[0].value.field("x"), Some(&Value::Str("1".into())));
        assert_eq!(got[1].header, None);
        assert!(matches!(&got[1].value, Value::Array { items, .. } if items.len() == 1));
    }

    #[test]
    fn values_with_anything_else_around_them_are_refused() {
        for text in [
            "",
            "Header:",
            "(a.B) {} trailing",
            "(a.B) {} one two three four five:",
            "one two three four five: (a.B) {}",
            "no colon (a.B) {}",
            "(a.B) { x = \"1\", x = \"2\" }",
            "(a.B) { x = \"1\\\" }",
        ] {
            assert!(parse_values(text).is_err(), "{text:?}");
        }
    }
}
