//! Export a list-append history in Elle's format (Jepsen's `history.edn`:
//! one EDN map per line), so users can run Elle on it:
//! `{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:append "k1" 3]]}`.
//!
//! Each `append` and `read` becomes a one-micro-op `:txn`; reads carry the
//! list on `:ok` and `nil` otherwise. Nemesis events become `:info` events
//! of process `:nemesis`, which Elle ignores.

use std::fmt::{self, Write};

use faultline_histories::{Event, EventType, Process};
use serde_json::Value as Json;

/// An event with no list-append form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElleError {
    pub index: u64,
    pub why: String,
}

impl fmt::Display for ElleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.index, self.why)
    }
}

impl std::error::Error for ElleError {}

/// The history as Elle list-append EDN, one event per line.
pub fn to_elle_edn(history: &[Event]) -> Result<String, ElleError> {
    let mut out = String::new();
    for e in history {
        let kind = match e.kind {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        let mut line = format!("{{:index {}, :time {}, :type :{kind}, ", e.index, e.time);
        match e.process {
            Process::Nemesis(_) => {
                line.push_str(&format!(
                    ":process :nemesis, :f {}, :value {}",
                    keyword(&e.f),
                    edn(&e.value)
                ));
            }
            Process::Client(p) => {
                let bad = |why: String| ElleError {
                    index: e.index,
                    why,
                };
                let key = e
                    .key
                    .as_deref()
                    .ok_or_else(|| bad(format!("a {} event needs a key", e.f)))?;
                let micro = match e.f.as_str() {
                    "append" => {
                        let el = e.value.as_i64().ok_or_else(|| {
                            bad(format!(
                                "an appended element should be an integer, got {}",
                                e.value
                            ))
                        })?;
                        format!("[:append {} {el}]", edn_str(key))
                    }
                    "read" => {
                        let list = if e.kind == EventType::Ok {
                            if !e
                                .value
                                .as_array()
                                .is_some_and(|l| l.iter().all(Json::is_i64))
                            {
                                return Err(bad(format!(
                                    "a list read should return integers, got {}",
                                    e.value
                                )));
                            }
                            edn(&e.value)
                        } else {
                            "nil".to_string()
                        };
                        format!("[:r {} {list}]", edn_str(key))
                    }
                    f => {
                        return Err(bad(format!(
                            "{f:?} has no list-append form; only append and read do"
                        )))
                    }
                };
                line.push_str(&format!(":process {p}, :f :txn, :value [{micro}]"));
            }
        }
        if let Some(err) = &e.error {
            line.push_str(&format!(", :error {}", keyword(err)));
        }
        line.push('}');
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

fn is_keyword(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.?!*+".contains(c))
}

/// `:name` when `name` can be a keyword, else a string.
fn keyword(s: &str) -> String {
    if is_keyword(s) {
        format!(":{s}")
    } else {
        edn_str(s)
    }
}

fn edn_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON as EDN: objects become maps with keyword keys where possible.
fn edn(v: &Json) -> String {
    match v {
        Json::Null => "nil".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => edn_str(s),
        Json::Array(a) => format!("[{}]", a.iter().map(edn).collect::<Vec<_>>().join(" ")),
        Json::Object(m) => {
            let mut s = String::from("{");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{} {}", keyword(k), edn(v));
            }
            s.push('}');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::H;
    use serde_json::json;

    #[test]
    fn writes_elle_list_append_edn() {
        let mut h = H::default();
        h.invoke(0, "append", "k1", json!(3))
            .invoke(1, "read", "k1", Json::Null)
            .nemesis("partition", json!({"shape": "halves", "minority": [1, 2]}))
            .ok(0, "append", "k1", json!(3))
            .ok(1, "read", "k1", json!([3]))
            .invoke(2, "read", "k\"2", Json::Null)
            .info(2, "read", "k\"2", Json::Null);
        h.events[6].error = Some("timeout".into());
        let edn = to_elle_edn(&h.events).unwrap();
        let lines: Vec<&str> = edn.lines().collect();
        assert_eq!(
            lines[0],
            "{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:append \"k1\" 3]]}"
        );
        assert_eq!(
            lines[1],
            "{:index 1, :time 10, :type :invoke, :process 1, :f :txn, :value [[:r \"k1\" nil]]}"
        );
        assert_eq!(lines[2], "{:index 2, :time 20, :type :info, :process :nemesis, :f :partition, :value {:minority [1 2], :shape \"halves\"}}");
        assert_eq!(
            lines[4],
            "{:index 4, :time 40, :type :ok, :process 1, :f :txn, :value [[:r \"k1\" [3]]]}"
        );
        assert_eq!(lines[6], "{:index 6, :time 60, :type :info, :process 2, :f :txn, :value [[:r \"k\\\"2\" nil]], :error :timeout}");
    }

    #[test]
    fn other_workloads_are_refused_by_name() {
        let mut h = H::default();
        h.invoke(0, "cas", "k", json!([1, 2]));
        let e = to_elle_edn(&h.events).unwrap_err();
        assert!(
            e.to_string().contains("\"cas\" has no list-append form"),
            "{e}"
        );
    }
}
