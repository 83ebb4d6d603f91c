//! Reading a stored history file (`history.jsonl`) back, with errors that
//! name the file and line, so `faultline check` can point at bad input
//! instead of panicking on it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use faultline_histories::store::Header;
use faultline_histories::{Event, EventType, Process};

/// A history as read from disk.
#[derive(Clone, Debug)]
pub struct LoadedHistory {
    /// The header line, if the file has one (histories from other tools may not).
    pub header: Option<Header>,
    pub events: Vec<Event>,
    /// The file line each event came from, by position in `events`.
    lines: Vec<usize>,
}

impl LoadedHistory {
    /// The file line of the event with history index `index`, if any.
    pub fn line_of_index(&self, index: u64) -> Option<usize> {
        self.events
            .iter()
            .position(|e| e.index == index)
            .map(|i| self.lines[i])
    }
}

/// Why a history file cannot be used, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    /// 1-based; `None` for errors about the whole file (cannot open it).
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for LoadError {}

/// Lines longer than this are refused rather than buffered without bound.
const MAX_LINE_BYTES: usize = 16 << 20;

/// Read a JSON Lines history: an optional header line, then one event per
/// line. Blank lines are skipped. Events must carry increasing indices and
/// follow Jepsen's discipline (a process completes only what it invoked and
/// never has two operations open); the first line that breaks a rule is named.
pub fn load(path: &Path) -> Result<LoadedHistory, LoadError> {
    let err = |line: Option<usize>, message: String| LoadError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let file = File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
    let mut reader = BufReader::new(file);
    let mut header = None;
    let mut events: Vec<Event> = Vec::new();
    let mut lines = Vec::new();
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| err(Some(line_no + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE_BYTES {
            return Err(err(
                Some(line_no),
                format!("line longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| err(Some(line_no), "not UTF-8 text".into()))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| err(Some(line_no), format!("not JSON: {e}")))?;
        if events.is_empty() && header.is_none() && value.get("format").is_some() {
            let h: Header = serde_json::from_value(value)
                .map_err(|e| err(Some(line_no), format!("bad header line: {e}")))?;
            if h.format != "faultline-history" {
                return Err(err(
                    Some(line_no),
                    format!("not a faultline history (format {:?})", h.format),
                ));
            }
            if h.version > faultline_histories::store::FORMAT_VERSION {
                return Err(err(
                    Some(line_no),
                    format!(
                        "history format version {} is newer than this faultline reads ({})",
                        h.version,
                        faultline_histories::store::FORMAT_VERSION
                    ),
                ));
            }
            header = Some(h);
            continue;
        }
        let event: Event = serde_json::from_value(value)
            .map_err(|e| err(Some(line_no), format!("not a history event: {e}")))?;
        if let Some(prev) = events.last() {
            if event.index <= prev.index {
                return Err(err(
                    Some(line_no),
                    format!(
                        "event index {} does not follow index {}",
                        event.index, prev.index
                    ),
                ));
            }
        }
        if let Process::Client(p) = event.process {
            match event.kind {
                EventType::Invoke => {
                    if let Some(i) = open.insert(p, event.index) {
                        return Err(err(
                            Some(line_no),
                            format!("process {p} invokes while its operation from event {i} is still open"),
                        ));
                    }
                }
                _ => {
                    if open.remove(&p).is_none() {
                        return Err(err(
                            Some(line_no),
                            format!("process {p} completes an operation it never invoked"),
                        ));
                    }
                }
            }
        }
        events.push(event);
        lines.push(line_no);
    }
    if header.is_none() && events.is_empty() {
        return Err(err(None, "empty file: no header and no events".into()));
    }
    Ok(LoadedHistory {
        header,
        events,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const HEADER: &str =
        r#"{"format":"faultline-history","version":1,"seed":7,"config":{"workload":"register"}}"#;
    const INVOKE: &str =
        r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"a","value":1}"#;
    const OK: &str =
        r#"{"index":1,"time":20,"process":0,"type":"ok","f":"write","key":"a","value":1}"#;

    #[test]
    fn reads_header_and_events() {
        let f = write(&format!(
            "{HEADER}\n{INVOKE}\n\n{OK}\n{}\n",
            r#"{"index":2,"time":25,"process":"nemesis","type":"info","f":"crash","value":[1]}"#
        ));
        let h = load(f.path()).unwrap();
        assert_eq!(h.header.as_ref().unwrap().seed, 7);
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.line_of_index(1), Some(4));
    }

    #[test]
    fn headerless_files_are_accepted() {
        let f = write(&format!("{INVOKE}\n{OK}\n"));
        let h = load(f.path()).unwrap();
        assert!(h.header.is_none());
        assert_eq!(h.events.len(), 2);
    }

    fn line_of(text: &str) -> (Option<usize>, String) {
        let f = write(text);
        let e = load(f.path()).unwrap_err();
        assert!(e.to_string().starts_with(&f.path().display().to_string()));
        (e.line, e.message)
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            line_of(&format!("{HEADER}\n{INVOKE}\nnot json\n")).0,
            Some(3)
        );
        let (line, msg) = line_of(&format!("{HEADER}\n{INVOKE}\n{{\"index\":1}}\n"));
        assert_eq!(line, Some(3));
        assert!(msg.contains("not a history event"), "{msg}");
        let (line, msg) = line_of(&format!("{HEADER}\n{OK}\n"));
        assert_eq!(line, Some(2));
        assert!(msg.contains("never invoked"), "{msg}");
        let (line, msg) = line_of(&format!(
            "{INVOKE}\n{}\n",
            INVOKE.replace("\"index\":0", "\"index\":5")
        ));
        assert_eq!(line, Some(2));
        assert!(msg.contains("still open"), "{msg}");
        let (line, msg) = line_of(&format!("{OK}\n{INVOKE}\n"));
        assert_eq!(line, Some(1));
        assert!(msg.contains("never invoked"), "{msg}");
        let (line, msg) = line_of(&format!(
            "{INVOKE}\n{}\n",
            OK.replace("\"index\":1", "\"index\":0")
        ));
        assert_eq!(line, Some(2));
        assert!(msg.contains("does not follow"), "{msg}");
        let (line, msg) = line_of("{\"format\":\"other\",\"version\":1,\"seed\":1}\n");
        assert_eq!(line, Some(1));
        assert!(msg.contains("not a faultline history"), "{msg}");
        assert_eq!(line_of("\n\n").0, None);
        assert_eq!(line_of("\u{0}\u{ff}\n").0, Some(1));
    }

    #[test]
    fn missing_file_is_an_error_not_a_panic() {
        let e = load(Path::new("/nonexistent/history.jsonl")).unwrap_err();
        assert_eq!(e.line, None);
        assert!(e.message.contains("cannot open"));
    }
}
