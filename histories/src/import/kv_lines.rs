//! Porcupine's kv logs: one EDN map per line,
//! `{:process P, :type T, :f F, :key "K", :value V}`. Events are ordered
//! by line.

use super::{event_type, jepsen_event};
use crate::edn::{self, Edn};
use crate::event::{Event, Process};
use crate::store::ReadError;

const SHAPE: &str =
    "a map {:process P, :type :invoke|:ok, :f :get|:put|:append, :key \"K\", :value V}";

pub(super) fn parse(file: &str, text: &str) -> Result<Vec<Event>, ReadError> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.trim().is_empty() || line.trim_start().starts_with(';') {
            continue;
        }
        let bad = |found: String| ReadError::new(file, n, SHAPE, found);
        let m = edn::parse(line).map_err(|e| bad(e.to_string()))?;
        let process = match m.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            other => return Err(bad(format!(":process is {other:?}"))),
        };
        let kind = m
            .get("type")
            .and_then(Edn::as_keyword)
            .and_then(event_type)
            .ok_or_else(|| bad(format!(":type is {:?}", m.get("type"))))?;
        let f = m
            .get("f")
            .and_then(Edn::as_keyword)
            .ok_or_else(|| bad(format!(":f is {:?}", m.get("f"))))?;
        let key = match m.get("key") {
            Some(Edn::Str(k)) => k.clone(),
            Some(Edn::Int(k)) => k.to_string(),
            other => return Err(bad(format!(":key is {other:?}"))),
        };
        let value = m.get("value").unwrap_or(&Edn::Nil);
        let index = events.len() as u64;
        events.push(jepsen_event(
            (index, index),
            Process::Client(process),
            kind,
            f,
            Some(key),
            value,
            None,
        ));
    }
    Ok(events)
}
