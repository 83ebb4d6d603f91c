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

use crate::kv::Outcome;
use faultline_histories::store::{Header, HistoryWriter};
use faultline_histories::{Event, EventType, Process};
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

    fn record(
        &self,
        process: Process,
        kind: EventType,
        f: &str,
        key: Option<String>,
        value: Json,
        error: Option<String>,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let event = Event {
            index: inner.events.len() as u64,
            time: self.start.elapsed().as_nanos() as u64,
            process,
            kind,
            f: f.to_string(),
            key,
            value,
            error,
        };
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
        self.record(
            Process::Client(p),
            EventType::Invoke,
            op.f(),
            op.key().map(str::to_string),
            op.invoke_value(),
            None,
        );
    }

    /// What became of `op` for process `p`.
    pub fn complete(&self, p: u64, op: &Op, outcome: &Outcome) {
        let (kind, value, error) = match outcome {
            Outcome::Ok(obs) => (EventType::Ok, op.ok_value(obs), None),
            Outcome::Fail(e) => (EventType::Fail, op.invoke_value(), Some(e.clone())),
            Outcome::Info(e) => (EventType::Info, op.invoke_value(), Some(e.clone())),
        };
        self.record(
            Process::Client(p),
            kind,
            op.f(),
            op.key().map(str::to_string),
            value,
            error,
        );
    }

    /// A fault or heal, as the nemesis applied it.
    pub fn nemesis(&self, f: &str, value: Json) {
        self.record(Process::NEMESIS, EventType::Info, f, None, value, None);
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
