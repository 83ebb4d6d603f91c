//! Knossos and Jepsen EDN histories: one vector or list of op maps. Fault
//! events (`:process :nemesis`) are kept for the timeline. Times come from
//! `:time` when every op has one; otherwise events are ordered by position.
//! As in Knossos, a `:fail` carries no observation (unless its `:error` is
//! `:cas-mismatch`, as faultline's own exports write), so failed ops are
//! dropped by the models; and a read that returns `nil` told nothing
//! (Knossos's register accepts it in any state), so it is imported as a
//! read of unknown outcome.

use super::{event_type, jepsen_event};
use crate::edn::{Edn, Reader};
use crate::event::{Event, EventType, Process};
use crate::store::ReadError;

const SHAPE: &str =
    "an op map {:process P|:nemesis, :type :invoke|:ok|:fail|:info, :f F, :value V}";

pub(super) fn parse(file: &str, text: &str) -> Result<(Vec<Event>, bool), ReadError> {
    let elements = Reader::new(text)
        .top_level_elements()
        .map_err(|e| ReadError::new(file, e.line, "a Knossos EDN history", e.to_string()))?;
    let timed = !elements.is_empty()
        && elements
            .iter()
            .all(|(_, m)| matches!(m.get("time"), Some(Edn::Int(t)) if *t >= 0));
    let mut events = Vec::with_capacity(elements.len());
    for (line, m) in &elements {
        let bad = |found: String| ReadError::new(file, *line, SHAPE, found);
        if !matches!(m, Edn::Map(_)) {
            return Err(bad(format!("found {m}")));
        }
        let process = match m.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
            Some(Edn::Keyword(k)) if k == "nemesis" => Process::NEMESIS,
            other => return Err(bad(format!(":process is {}", show(other)))),
        };
        let kind = m
            .get("type")
            .and_then(Edn::as_keyword)
            .and_then(event_type)
            .ok_or_else(|| bad(format!(":type is {}", show(m.get("type")))))?;
        let f = match m.get("f") {
            Some(Edn::Keyword(f)) | Some(Edn::Symbol(f)) | Some(Edn::Str(f)) => f.clone(),
            other => return Err(bad(format!(":f is {}", show(other)))),
        };
        let key = match m.get("key") {
            Some(Edn::Str(k)) | Some(Edn::Keyword(k)) => Some(k.clone()),
            Some(Edn::Int(k)) => Some(k.to_string()),
            _ => None,
        };
        let error = match m.get("error") {
            None | Some(Edn::Nil) => None,
            Some(Edn::Keyword(k)) | Some(Edn::Str(k)) => Some(k.clone()),
            Some(other) => Some(other.to_string()),
        };
        let index = events.len() as u64;
        let time = match m.get("time") {
            Some(Edn::Int(t)) if timed => *t as u64,
            _ => index,
        };
        let value = m.get("value").unwrap_or(&Edn::Nil);
        let kind = if kind == EventType::Ok && f == "read" && *value == Edn::Nil {
            EventType::Info
        } else {
            kind
        };
        events.push(jepsen_event(
            (index, time),
            process,
            kind,
            &f,
            key,
            value,
            error,
        ));
    }
    Ok((events, timed))
}

fn show(v: Option<&Edn>) -> String {
    v.map_or("missing".to_string(), |v| v.to_string())
}
