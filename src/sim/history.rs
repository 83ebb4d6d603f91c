//! The run's history as it happens: events numbered in the order they
//! occur, appended to `history.jsonl` line by line (so a crashed run leaves
//! a valid prefix), and hashed over their canonical JSON lines so two runs
//! can be compared by one string.

use std::path::Path;

use faultline_histories::store::{Header, HistoryWriter};
use faultline_histories::Event;
use sha2::{Digest, Sha256};

use crate::kv::Entry;

/// Collects the events of one run.
pub struct Recorder {
    events: Vec<Event>,
    writer: Option<HistoryWriter>,
    hasher: Sha256,
    /// The first failure to write the file; the run goes on in memory.
    write_error: Option<String>,
}

impl Recorder {
    /// A recorder that also writes to `path` (with `header` first), if given.
    pub fn new(path: Option<&Path>, header: &Header) -> Recorder {
        let mut write_error = None;
        let writer = path.and_then(|p| match HistoryWriter::create(p, header) {
            Ok(w) => Some(w),
            Err(e) => {
                write_error = Some(format!("cannot create {}: {e}", p.display()));
                None
            }
        });
        Recorder {
            events: Vec::new(),
            writer,
            hasher: Sha256::new(),
            write_error,
        }
    }

    /// Append `entry` as the next event, `time_ns` into the run; returns
    /// its index.
    pub fn push(&mut self, time_ns: u64, entry: Entry) -> u64 {
        let index = self.events.len() as u64;
        let event = entry.at(index, time_ns);
        let line = serde_json::to_string(&event).expect("events always serialise");
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.append(&event) {
                self.write_error = Some(format!("writing the history: {e}"));
                self.writer = None;
            }
        }
        self.events.push(event);
        index
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// sha256 (hex) of the events so far, one canonical JSON line each.
    pub fn hash(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    pub fn write_error(&self) -> Option<&str> {
        self.write_error.as_deref()
    }
}

/// sha256 (hex) over the canonical JSON lines of `events`: what
/// [`Recorder::hash`] gives for the same events.
pub fn history_hash(events: &[Event]) -> String {
    let mut h = Sha256::new();
    for e in events {
        h.update(
            serde_json::to_string(e)
                .expect("events always serialise")
                .as_bytes(),
        );
        h.update(b"\n");
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_histories::{EventType, Process};
    use serde_json::Value as Json;

    fn entry(process: Process, kind: EventType, f: &str, key: Option<&str>, value: Json) -> Entry {
        Entry {
            process,
            kind,
            f: f.into(),
            key: key.map(str::to_string),
            value,
            error: None,
        }
    }

    #[test]
    fn hash_covers_every_field_and_matches_the_batch_hash() {
        let header = Header::new(1, Json::Null);
        let mut a = Recorder::new(None, &header);
        let mut b = Recorder::new(None, &header);
        for r in [&mut a, &mut b] {
            r.push(
                5,
                entry(
                    Process::Client(0),
                    EventType::Invoke,
                    "write",
                    Some("k"),
                    Json::from(3),
                ),
            );
        }
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash(), history_hash(a.events()));
        b.push(6, Entry::nemesis("crash", Json::Null, None));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }

    #[test]
    fn writes_a_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut r = Recorder::new(Some(&path), &Header::new(9, Json::Null));
        r.push(
            1,
            entry(
                Process::Client(2),
                EventType::Invoke,
                "read",
                Some("k"),
                Json::Null,
            ),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("faultline-history"));
        let e: Event = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(&e, &r.events()[0]);
        assert!(r.write_error().is_none());
    }
}
