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
