//! Reading histories in faultline's native format and in peers' formats,
//! all into native [`Event`]s.

mod etcd_log;
mod knossos;
mod kv_lines;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value as Json;

use crate::edn::Edn;
use crate::event::{Event, EventType, Process};
use crate::store::{parse_history, read_text, Header, ReadError};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's JSON Lines with a header.
    Native,
    /// Jepsen's etcd test log, as in porcupine's test data.
    JepsenEtcdLog,
    /// One EDN op map per line, as in porcupine's kv test data.
    KvEdnLines,
    /// One EDN collection of op maps (Knossos, Jepsen).
    KnossosEdn,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Native,
        Format::JepsenEtcdLog,
        Format::KvEdnLines,
        Format::KnossosEdn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::JepsenEtcdLog => "jepsen-etcd-log",
            Format::KvEdnLines => "kv-edn-lines",
            Format::KnossosEdn => "knossos-edn",
        }
    }

    /// Guesses the format from a file's first meaningful characters.
    pub fn detect(text: &str) -> Option<Format> {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(';'))?;
        if first.starts_with('[') || first.starts_with('(') {
            Some(Format::KnossosEdn)
        } else if first.starts_with("{:") {
            Some(Format::KvEdnLines)
        } else if first.starts_with('{') {
            Some(Format::Native)
        } else if first.contains("jepsen.util") {
            Some(Format::JepsenEtcdLog)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}; expected one of {}", names.join(", "))
            })
    }
}

/// A history read from a file.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub format: Format,
    /// The native header, when the file has one.
    pub header: Option<Header>,
    pub events: Vec<Event>,
    /// Whether event times are real nanoseconds (otherwise they are the
    /// event indices).
    pub timed: bool,
}

/// Reads a history file, detecting the format unless one is given.
pub fn load(path: &Path, format: Option<Format>) -> Result<Loaded, ReadError> {
    let text = read_text(path)?;
    parse(&path.display().to_string(), &text, format)
}

/// Parses a history text; `file` names it in errors.
pub fn parse(file: &str, text: &str, format: Option<Format>) -> Result<Loaded, ReadError> {
    let format = match format {
        Some(f) => f,
        None => Format::detect(text).ok_or_else(|| {
            ReadError::new(
                file,
                1,
                "a history: native JSON Lines, a Jepsen etcd log, kv EDN lines or a Knossos EDN collection",
                "none of these formats recognised",
            )
        })?,
    };
    let (header, events, timed) = match format {
        Format::Native => {
            let (h, e) = parse_history(file, text)?;
            (Some(h), e, true)
        }
        Format::JepsenEtcdLog => (None, etcd_log::parse(file, text)?, false),
        Format::KvEdnLines => (None, kv_lines::parse(file, text)?, false),
        Format::KnossosEdn => {
            let (events, timed) = knossos::parse(file, text)?;
            (None, events, timed)
        }
    };
    Ok(Loaded {
        format,
        header,
        events,
        timed,
    })
}

/// The event type named by a Jepsen `:type` keyword.
fn event_type(t: &str) -> Option<EventType> {
    Some(match t {
        "invoke" => EventType::Invoke,
        "ok" => EventType::Ok,
        "fail" => EventType::Fail,
        "info" => EventType::Info,
        _ => return None,
    })
}

/// Builds a native event from a Jepsen op's parts. A keyword value on a
/// completion (`:timed-out`) is an error reason, not a value.
fn jepsen_event(
    (index, time): (u64, u64),
    process: Process,
    kind: EventType,
    f: &str,
    key: Option<String>,
    value: &Edn,
    error: Option<String>,
) -> Event {
    let (value, error) = match (kind, value) {
        (EventType::Invoke, v) => (v.to_json(), error),
        (_, Edn::Keyword(k)) => (Json::Null, error.or_else(|| Some(k.clone()))),
        (_, v) => (v.to_json(), error),
    };
    Event {
        index,
        time,
        process,
        kind,
        f: f.to_string(),
        key,
        value,
        error,
    }
}
