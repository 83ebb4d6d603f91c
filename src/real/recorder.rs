//! The history of a real run, written as it happens in the same format as
//! a simulated run's (`histories::store`). Each event is stamped and
//! appended under one lock, so index order is real-time order: an invoke
//! is recorded before its request leaves, a completion after its answer
//! arrives, and what the checker sees is never tighter than what happened.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value as Json;

use crate::kv::{Entry, Outcome};
use faultline_histories::store::{Header, HistoryWriter};
use faultline_histories::Event;
use faultline_workloads::Op;

struct Inner {
    writer: Option<HistoryWriter>,
    events: Vec<Event>,
    error: Option<String>,
}

/// Shared by every client thread and the nemesis.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    inner: Arc<Mutex<Inner>>,
}

impl Recorder {
    /// Record into `path` (and memory); `None` records in memory only.
    pub fn create(path: Option<&Path>, header: &Header) -> io::Result<Recorder> {
        let writer = path.map(|p| HistoryWriter::create(p, header)).transpose()?;
        Ok(Recorder {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                writer,
                events: Vec::new(),
                error: None,
            })),
        })
    }

    fn record(&self, entry: Entry) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let event = entry.at(
            inner.events.len() as u64,
            self.start.elapsed().as_nanos() as u64,
        );
        if let Some(w) = inner.writer.as_mut() {
            if let Err(e) = w.append(&event) {
                // Keep recording in memory; the run reports the lost file.
                inner
                    .error
                    .get_or_insert_with(|| format!("writing the history: {e}"));
                inner.writer = None;
            }
        }
        inner.events.push(event);
    }

    /// Process `p` is about to send `op`.
    pub fn invoke(&self, p: u64, op: &Op) {
        self.record(Entry::invoke(p, op));
    }

    /// What became of `op` for process `p`.
    pub fn complete(&self, p: u64, op: &Op, outcome: &Outcome) {
        self.record(Entry::completion(p, op, outcome));
    }

    /// A fault or heal, as the nemesis applied it.
    pub fn nemesis(&self, f: &str, value: Json) {
        self.record(Entry::nemesis(f, value, None));
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events
            .clone()
    }

    /// The first error writing the file, if any.
    pub fn write_error(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .error
            .clone()
    }
}
