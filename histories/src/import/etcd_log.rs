//! Jepsen etcd logs: `INFO  jepsen.util - PROCESS :TYPE :F VALUE`, fields
//! separated by runs of blanks. A `:fail :cas` is a definite mismatch; any
//! other keyword value (`:timed-out`) is the reason of an indeterminate or
//! failed completion. Times are not recorded: events are ordered by line.

use super::{event_type, jepsen_event};
use crate::edn;
use crate::event::{Event, EventType, Process, CAS_MISMATCH};
use crate::store::ReadError;

const SHAPE: &str = "a line `INFO jepsen.util - PROCESS :TYPE :F VALUE`";

pub(super) fn parse(file: &str, text: &str) -> Result<Vec<Event>, ReadError> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |found: String| ReadError::new(file, n, SHAPE, found);
        let rest = line
            .split_once("jepsen.util")
            .and_then(|(_, r)| r.trim_start().strip_prefix('-'))
            .ok_or_else(|| bad(format!("found {line:?}")))?;
        let mut fields = rest.split_whitespace();
        let (Some(p), Some(t), Some(f)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad(format!("found {line:?}")));
        };
        let process: u64 = p
            .parse()
            .map_err(|_| bad(format!("process {p:?} is not a number")))?;
        let kind = t
            .strip_prefix(':')
            .and_then(event_type)
            .ok_or_else(|| bad(format!("type {t:?} is not :invoke, :ok, :fail or :info")))?;
        let f = f
            .strip_prefix(':')
            .filter(|f| !f.is_empty())
            .ok_or_else(|| bad(format!("function {f:?} is not a keyword")))?;
        let value_text = fields.collect::<Vec<_>>().join(" ");
        let value =
            edn::parse(&value_text).map_err(|e| bad(format!("value {value_text:?}: {e}")))?;
        let error = (kind == EventType::Fail && f == "cas").then(|| CAS_MISMATCH.to_string());
        let index = events.len() as u64;
        events.push(jepsen_event(
            (index, index),
            Process::Client(process),
            kind,
            f,
            None,
            &value,
            error,
        ));
    }
    Ok(events)
}
