//! Writing histories in peers' formats: Jepsen EDN (for Knossos and Elle)
//! and porcupine's two log formats, so a faultline history can be checked
//! by those tools too.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::edn::Edn;
use crate::event::{Event, EventType, Process, CAS_MISMATCH};
use crate::ops::{pair, Operation, Outcome};

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// A keyword when the text is a plain identifier, a string otherwise.
fn keyword_or_string(s: &str) -> Edn {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '?' | '!'));
    if plain && !s.starts_with(|c: char| c.is_ascii_digit()) {
        Edn::Keyword(s.to_string())
    } else {
        Edn::Str(s.to_string())
    }
}

/// The history as one EDN vector of Jepsen op maps, one per line:
/// `{:index 0, :time NS, :process P, :type :invoke, :f :write, :key "k", :value 3}`.
pub fn to_jepsen_edn(events: &[Event]) -> String {
    let mut out = String::from("[");
    for (i, e) in events.iter().enumerate() {
        let mut m: Vec<(Edn, Edn)> = vec![
            (Edn::Keyword("index".into()), Edn::Int(e.index as i64)),
            (Edn::Keyword("time".into()), Edn::Int(e.time as i64)),
            (
                Edn::Keyword("process".into()),
                match e.process {
                    Process::Client(p) => Edn::Int(p as i64),
                    Process::Nemesis(_) => Edn::Keyword("nemesis".into()),
                },
            ),
            (
                Edn::Keyword("type".into()),
                Edn::Keyword(type_name(e.kind).into()),
            ),
            (Edn::Keyword("f".into()), keyword_or_string(&e.f)),
        ];
        if let Some(k) = &e.key {
            m.push((Edn::Keyword("key".into()), Edn::Str(k.clone())));
        }
        m.push((Edn::Keyword("value".into()), Edn::from_json(&e.value)));
        if let Some(err) = &e.error {
            m.push((Edn::Keyword("error".into()), keyword_or_string(err)));
        }
        if i > 0 {
            out.push_str("\n ");
        }
        let _ = write!(out, "{}", Edn::Map(m));
    }
    out.push_str("]\n");
    out
}

/// porcupine's input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PorcupineFormat {
    /// The Jepsen etcd log: one integer register (read, write, cas).
    EtcdLog,
    /// kv EDN lines (get, put, append of strings).
    KvLines,
}

/// The history in one of porcupine's formats. Operations that failed
/// without observing anything are left out (they did not happen); a CAS
/// mismatch is a `:fail :cas`; unknown outcomes are `:info :timed-out`
/// (etcd log) or an invocation that never returns (kv lines).
pub fn to_porcupine(events: &[Event], format: PorcupineFormat) -> Result<String, String> {
    let ops = pair(events).map_err(|e| e.to_string())?;
    if format == PorcupineFormat::EtcdLog {
        let keys: BTreeSet<&str> = ops.iter().filter_map(|o| o.key.as_deref()).collect();
        if keys.len() > 1 {
            return Err(format!(
                "the etcd log format holds one register, but the history has {} keys",
                keys.len()
            ));
        }
    }
    // (position, line) for every event we keep, then sorted by position.
    let mut lines: Vec<(u64, String)> = Vec::new();
    for op in &ops {
        let mismatch = op.fail_error() == Some(CAS_MISMATCH) && op.f == "cas";
        if matches!(op.outcome, Outcome::Fail { .. }) && !mismatch {
            continue;
        }
        match format {
            PorcupineFormat::EtcdLog => etcd_lines(op, mismatch, &mut lines)?,
            PorcupineFormat::KvLines => kv_lines(op, &mut lines)?,
        }
    }
    lines.sort_by_key(|(pos, _)| *pos);
    let mut out = String::new();
    for (_, l) in lines {
        out.push_str(&l);
        out.push('\n');
    }
    Ok(out)
}

fn etcd_value(v: &Json, op: &Operation) -> Result<String, String> {
    match v {
        Json::Null => Ok("nil".into()),
        Json::Number(n) if n.is_i64() => Ok(n.to_string()),
        Json::Array(a) if a.len() == 2 && a.iter().all(|x| x.is_i64()) => {
            Ok(format!("[{} {}]", a[0], a[1]))
        }
        other => Err(format!(
            "event {}: the etcd log format holds integers, got {other}",
            op.invoke_index
        )),
    }
}

fn etcd_lines(
    op: &Operation,
    mismatch: bool,
    lines: &mut Vec<(u64, String)>,
) -> Result<(), String> {
    if !matches!(op.f.as_str(), "read" | "write" | "cas") {
        return Err(format!(
            "event {}: the etcd log format has read, write and cas, not {:?}",
            op.invoke_index, op.f
        ));
    }
    let line =
        |t: &str, v: String| format!("INFO  jepsen.util - {}\t:{t}\t:{}\t{v}", op.process, op.f);
    lines.push((op.invoke_index, line("invoke", etcd_value(&op.value, op)?)));
    match (&op.outcome, op.return_index) {
        (Outcome::Ok { value }, Some(r)) => {
            let v = if op.f == "read" { value } else { &op.value };
            lines.push((r, line("ok", etcd_value(v, op)?)));
        }
        (Outcome::Fail { .. }, Some(r)) if mismatch => {
            lines.push((r, line("fail", etcd_value(&op.value, op)?)));
        }
        _ if op.f == "read" => {} // an unknown read tells nothing
        _ => {
            // Place the info right after the invocation: the process
            // never invokes again either way.
            lines.push((op.invoke_index, line("info", ":timed-out".into())));
        }
    }
    Ok(())
}

fn kv_string(v: &Json, op: &Operation) -> Result<Edn, String> {
    match v {
        Json::Null => Ok(Edn::Str(String::new())),
        Json::String(s) => Ok(Edn::Str(s.clone())),
        Json::Number(n) if n.is_i64() => Ok(Edn::Str(n.to_string())),
        other => Err(format!(
            "event {}: the kv format holds strings, got {other}",
            op.invoke_index
        )),
    }
}

fn kv_lines(op: &Operation, lines: &mut Vec<(u64, String)>) -> Result<(), String> {
    let f = match op.f.as_str() {
        "read" | "get" => "get",
        "write" | "put" => "put",
        "append" => "append",
        other => {
            return Err(format!(
                "event {}: the kv format has get, put and append, not {other:?}",
                op.invoke_index
            ))
        }
    };
    let key = op.key.clone().unwrap_or_default();
    let line = |t: &str, v: Edn| {
        let m = Edn::Map(vec![
            (Edn::Keyword("process".into()), Edn::Int(op.process as i64)),
            (Edn::Keyword("type".into()), Edn::Keyword(t.into())),
            (Edn::Keyword("f".into()), Edn::Keyword(f.into())),
            (Edn::Keyword("key".into()), Edn::Str(key.clone())),
            (Edn::Keyword("value".into()), v),
        ]);
        m.to_string()
    };
    let invoke_value = if f == "get" {
        Edn::Nil
    } else {
        kv_string(&op.value, op)?
    };
    if let (Outcome::Ok { value }, Some(r)) = (&op.outcome, op.return_index) {
        lines.push((op.invoke_index, line("invoke", invoke_value.clone())));
        let v = if f == "get" {
            kv_string(value, op)?
        } else {
            invoke_value
        };
        lines.push((r, line("ok", v)));
    } else if f != "get" {
        lines.push((op.invoke_index, line("invoke", invoke_value)));
    }
    Ok(())
}
