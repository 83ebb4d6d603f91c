//! A small EDN reader and writer: enough of the format for Jepsen and
//! Knossos histories (and any well-formed EDN), with errors that say where.
//! No crate on crates.io offered a maintained, dependency-light reader.

use std::fmt;

use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    List(Vec<Edn>),
    Vector(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value of `:key` in a map.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kv) => kv.iter().find_map(|(k, v)| match k {
                Edn::Keyword(k) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Edn::Keyword(k) => Some(k),
            _ => None,
        }
    }

    /// JSON for an EDN value: keywords and symbols become strings, all
    /// sequences arrays, map keys their printed form.
    pub fn to_json(&self) -> Json {
        match self {
            Edn::Nil => Json::Null,
            Edn::Bool(b) => Json::Bool(*b),
            Edn::Int(i) => Json::from(*i),
            Edn::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Json::String(s.clone()),
            Edn::Char(c) => Json::String(c.to_string()),
            Edn::List(v) | Edn::Vector(v) | Edn::Set(v) => {
                Json::Array(v.iter().map(Edn::to_json).collect())
            }
            Edn::Map(kv) => Json::Object(
                kv.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
            Edn::Tagged(_, v) => v.to_json(),
        }
    }

    /// EDN for a JSON value: strings stay strings, objects become maps
    /// with keyword keys.
    pub fn from_json(v: &Json) -> Edn {
        match v {
            Json::Null => Edn::Nil,
            Json::Bool(b) => Edn::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map(Edn::Int)
                .unwrap_or_else(|| Edn::Float(n.as_f64().unwrap_or(0.0))),
            Json::String(s) => Edn::Str(s.clone()),
            Json::Array(a) => Edn::Vector(a.iter().map(Edn::from_json).collect()),
            Json::Object(o) => Edn::Map(
                o.iter()
                    .map(|(k, v)| (Edn::Keyword(k.clone()), Edn::from_json(v)))
                    .collect(),
            ),
        }
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{x}")?;
    }
    f.write_str(close)
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(x) if x.is_finite() && x.fract() == 0.0 => write!(f, "{x:.1}"),
            Edn::Float(x) => write!(f, "{x}"),
            Edn::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Edn::Char(c) => match c {
                '\n' => f.write_str("\\newline"),
                ' ' => f.write_str("\\space"),
                '\t' => f.write_str("\\tab"),
                c => write!(f, "\\{c}"),
            },
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(v) => write_seq(f, "(", v, ")"),
            Edn::Vector(v) => write_seq(f, "[", v, "]"),
            Edn::Set(v) => write_seq(f, "#{", v, "}"),
            Edn::Map(kv) => {
                f.write_str("{")?;
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(t, v) => write!(f, "#{t} {v}"),
        }
    }
}

/// A syntax error, with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for EdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for EdnError {}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// Reads EDN forms one after another from a text.
pub struct Reader<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

impl<'a> Reader<'a> {
    pub fn new(src: &'a str) -> Self {
        Reader {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    /// The current 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> EdnError {
        EdnError {
            line: self.line,
            column: self.col,
            message: message.into(),
        }
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.bump();
            } else if c == ';' {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// The next form, or `None` at the end of the text.
    pub fn next_form(&mut self) -> Result<Option<Edn>, EdnError> {
        loop {
            self.skip_blank();
            if self.peek().is_none() {
                return Ok(None);
            }
            if let Some(form) = self.form(0)? {
                return Ok(Some(form));
            }
        }
    }

    /// Reads one form; `None` for a `#_` discarded one.
    fn form(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.skip_blank();
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of input"));
        };
        Ok(Some(match c {
            '(' => Edn::List(self.seq(')', depth)?),
            '[' => Edn::Vector(self.seq(']', depth)?),
            '{' => {
                let items = self.seq('}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(self.error("a map needs an even number of forms"));
                }
                let mut it = items.into_iter();
                let mut kv = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    kv.push((k, v));
                }
                Edn::Map(kv)
            }
            ')' | ']' | '}' => return Err(self.error(format!("unmatched {c:?}"))),
            '"' => Edn::Str(self.string()?),
            '\\' => Edn::Char(self.character()?),
            '#' => {
                self.bump();
                match self.peek() {
                    Some('{') => Edn::Set(self.seq('}', depth)?),
                    Some('_') => {
                        self.bump();
                        self.form(depth + 1)?;
                        return Ok(None);
                    }
                    Some(c) if c.is_alphabetic() => {
                        let tag = self.token();
                        let value = loop {
                            if let Some(v) = self.form(depth + 1)? {
                                break v;
                            }
                        };
                        Edn::Tagged(tag, Box::new(value))
                    }
                    _ => return Err(self.error("expected a set, a tag or #_ after '#'")),
                }
            }
            _ => self.atom()?,
        }))
    }

    fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Edn>, EdnError> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    return Err(self.error(format!("expected {close:?} before the end of input")))
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => {
                    if let Some(x) = self.form(depth + 1)? {
                        items.push(x);
                    }
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, EdnError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.error(format!("bad \\u escape {hex:?}")))?;
                        s.push(c);
                    }
                    other => return Err(self.error(format!("bad string escape {other:?}"))),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn character(&mut self) -> Result<char, EdnError> {
        self.bump();
        let first = self
            .bump()
            .ok_or_else(|| self.error("a character after '\\'"))?;
        let mut name = first.to_string();
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            name.push(c);
            self.bump();
        }
        Ok(match name.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            n if n.chars().count() == 1 => first,
            n if n.starts_with('u') && n.len() == 5 => u32::from_str_radix(&n[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error(format!("bad character \\{n}")))?,
            n => return Err(self.error(format!("unknown character \\{n}"))),
        })
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        self.src[start..self.pos].to_string()
    }

    fn atom(&mut self) -> Result<Edn, EdnError> {
        let (line, col) = (self.line, self.col);
        let t = self.token();
        let err = |m: String| EdnError {
            line,
            column: col,
            message: m,
        };
        if t.is_empty() {
            return Err(err(format!("unexpected {:?}", self.peek())));
        }
        if let Some(k) = t.strip_prefix(':') {
            if k.is_empty() {
                return Err(err("an empty keyword".into()));
            }
            return Ok(Edn::Keyword(k.to_string()));
        }
        let mut chars = t.chars();
        let c0 = chars.next().unwrap_or(' ');
        let numeric = c0.is_ascii_digit()
            || ((c0 == '-' || c0 == '+') && chars.next().is_some_and(|c| c.is_ascii_digit()));
        if numeric {
            let body = t.strip_suffix('N').unwrap_or(&t);
            if let Ok(i) = body.parse::<i64>() {
                return Ok(Edn::Int(i));
            }
            let body = t.strip_suffix('M').unwrap_or(&t);
            if body.contains(['.', 'e', 'E']) {
                if let Ok(x) = body.parse::<f64>() {
                    return Ok(Edn::Float(x));
                }
            }
            return Err(err(format!("bad or out-of-range number {t:?}")));
        }
        Ok(match t.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => Edn::Symbol(t),
        })
    }
}

impl Reader<'_> {
    /// Reads a text that is one top-level vector or list, element by
    /// element, each with the line it starts on.
    pub fn top_level_elements(&mut self) -> Result<Vec<(usize, Edn)>, EdnError> {
        self.skip_blank();
        let close = match self.bump() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Err(self.error("expected a vector '[' or list '(' of operations")),
        };
        let mut out = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    return Err(self.error(format!("expected {close:?} before the end of input")))
                }
                Some(c) if c == close => {
                    self.bump();
                    break;
                }
                Some(_) => {
                    let line = self.line;
                    if let Some(x) = self.form(1)? {
                        out.push((line, x));
                    }
                }
            }
        }
        if self.next_form()?.is_some() {
            return Err(self.error("expected the end of input after the collection"));
        }
        Ok(out)
    }
}

/// Parses a text holding exactly one form.
pub fn parse(text: &str) -> Result<Edn, EdnError> {
    let mut r = Reader::new(text);
    let form = r
        .next_form()?
        .ok_or_else(|| r.error("expected an EDN form, found nothing"))?;
    if r.next_form()?.is_some() {
        return Err(r.error("expected the end of input after one form"));
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jepsen_op_maps() {
        let e = parse(
            r#"[{:process 0, :type :invoke, :f :cas, :value [1 2]} ; comment
                {:type :info :process :nemesis :value "Cut off [:n3 #[:n4]] \"q\""}
                #_ {:ignored 1} #{1 2} #inst "2020" -3 2.5 12N \a \newline]"#,
        )
        .unwrap();
        let Edn::Vector(items) = e else { panic!() };
        assert_eq!(items.len(), 9);
        assert_eq!(items[0].get("f"), Some(&Edn::Keyword("cas".into())));
        assert_eq!(
            items[0].get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
        );
        assert_eq!(
            items[1].get("value"),
            Some(&Edn::Str("Cut off [:n3 #[:n4]] \"q\"".into()))
        );
        assert_eq!(items[2], Edn::Set(vec![Edn::Int(1), Edn::Int(2)]));
        assert!(matches!(items[3], Edn::Tagged(ref t, _) if t == "inst"));
        assert_eq!(
            items[4..],
            [
                Edn::Int(-3),
                Edn::Float(2.5),
                Edn::Int(12),
                Edn::Char('a'),
                Edn::Char('\n')
            ]
        );
    }

    #[test]
    fn errors_say_where() {
        let e = parse("[{:a 1}\n {:b }]").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("even"), "{e}");
        let e = parse("[1 2").unwrap_err();
        assert!(e.message.contains("']'"), "{e}");
        assert!(parse("\"abc").is_err());
        assert!(parse("1 2").is_err());
        assert!(parse(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn printing_reads_back() {
        let e = parse(r#"{:a [1 -2 "x\"y\\z"], :b nil, :c (true :k), :d #{3}}"#).unwrap();
        assert_eq!(parse(&e.to_string()).unwrap(), e);
    }
}
