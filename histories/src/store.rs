//! The native history file: JSON Lines, a header line first, then one event
//! per line. Written incrementally and flushed per line, so a run that
//! crashes still leaves a valid prefix on disk.

use crate::event::Event;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The version of the native format this crate writes.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of a history file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `"faultline-history"`, so a reader can tell the file is ours.
    pub format: String,
    pub version: u32,
    pub seed: u64,
    /// The run configuration that produced the history, as JSON.
    #[serde(default)]
    pub config: serde_json::Value,
}

impl Header {
    pub fn new(seed: u64, config: serde_json::Value) -> Self {
        Header {
            format: "faultline-history".to_string(),
            version: FORMAT_VERSION,
            seed,
            config,
        }
    }
}

/// Appends events to a history file as they happen.
pub struct HistoryWriter {
    out: BufWriter<File>,
}

impl HistoryWriter {
    /// Creates (truncating) `path` and writes the header line.
    pub fn create(path: &Path, header: &Header) -> io::Result<Self> {
        let mut w = HistoryWriter {
            out: BufWriter::new(File::create(path)?),
        };
        w.write_line(header)?;
        Ok(w)
    }

    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.write_line(event)
    }

    fn write_line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// A history file that cannot be read: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub file: String,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub expected: String,
    /// What was found instead (a parser message or the offending text).
    pub found: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.file, self.expected, self.found)
        } else {
            write!(
                f,
                "{}:{}: expected {}; {}",
                self.file, self.line, self.expected, self.found
            )
        }
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    pub fn new(
        file: &str,
        line: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ReadError {
            file: file.to_string(),
            line,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Reads a whole file as text, naming the file on failure.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|e| {
        ReadError::new(
            &path.display().to_string(),
            0,
            "a readable UTF-8 file",
            e.to_string(),
        )
    })
}

/// Reads a native history file.
pub fn read_history(path: &Path) -> Result<(Header, Vec<Event>), ReadError> {
    let text = read_text(path)?;
    parse_history(&path.display().to_string(), &text)
}

/// Parses a native history: a header line, then one event per line, with
/// strictly increasing indices. Blank lines are allowed.
pub fn parse_history(file: &str, text: &str) -> Result<(Header, Vec<Event>), ReadError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (n, first) = lines
        .next()
        .ok_or_else(|| ReadError::new(file, 1, "a header line", "the file is empty"))?;
    let header: Header = serde_json::from_str(first).map_err(|e| {
        ReadError::new(
            file,
            n,
            r#"a header line {"format":"faultline-history","version":1,"seed":N,"config":{...}}"#,
            e.to_string(),
        )
    })?;
    if header.format != "faultline-history" {
        return Err(ReadError::new(
            file,
            n,
            r#"format "faultline-history""#,
            format!("format {:?}", header.format),
        ));
    }
    if header.version != FORMAT_VERSION {
        return Err(ReadError::new(
            file,
            n,
            format!("format version {FORMAT_VERSION}"),
            format!("version {}", header.version),
        ));
    }
    let mut events: Vec<Event> = Vec::new();
    for (n, line) in lines {
        let e: Event = serde_json::from_str(line).map_err(|e| {
            ReadError::new(
                file,
                n,
                r#"an event {"index":N,"time":NS,"process":P|"nemesis","type":"invoke"|"ok"|"fail"|"info","f":F,"value":V}"#,
                e.to_string(),
            )
        })?;
        if let Some(prev) = events.last() {
            if e.index <= prev.index {
                return Err(ReadError::new(
                    file,
                    n,
                    format!("an event index above {}", prev.index),
                    format!("index {}", e.index),
                ));
            }
        }
        events.push(e);
    }
    Ok((header, events))
}
