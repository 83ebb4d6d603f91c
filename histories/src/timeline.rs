//! `timeline.html`: one self-contained page (no network) showing a
//! history as porcupine's visualiser does: one row per process, each
//! operation a bar from invocation to completion, the linearization (or,
//! for a violation, the longest partial one) numbered in order with the
//! model state after each step on hover, the operation that cannot be
//! placed marked, and faults as shaded bands. A caller that knows more than
//! the history adds it: each fault on its own row with the nodes it hit,
//! each node's role and term over time, and the verdicts of other checkers
//! (the harness does, for every run). Large histories are cut to a window
//! around the error so the page stays quick to open.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::{CheckReport, Verdict};
use crate::event::{Event, Process};
use crate::explain::when;
use crate::ops::{Operation, Outcome};

/// A fault in force from `start_ns` until `end_ns` (or the end).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultBand {
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    pub label: String,
    /// What kind of fault (`partition`, `crash`, ...): faults of one kind
    /// share a row while they do not overlap.
    pub kind: String,
    /// The nodes it was applied to, if known.
    pub nodes: Vec<u64>,
}

/// One node in one state from `start_ns` until `end_ns` (or the end).
/// `state` is a role name; `leader`, `follower`, `candidate`,
/// `pre-candidate`, `down` and `paused` have their own colours.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeBand {
    pub node: u64,
    pub start_ns: u64,
    pub end_ns: Option<u64>,
    pub state: String,
    pub term: Option<u64>,
    /// More to show on hover (e.g. commit and applied indexes).
    pub detail: String,
}

/// A labelled instant (e.g. "leader 2 elected").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    pub at_ns: u64,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct TimelineOptions {
    pub title: String,
    /// Most operations drawn; beyond this a window around the error (or
    /// the start) is shown.
    pub max_ops: usize,
    pub faults: Vec<FaultBand>,
    pub annotations: Vec<Annotation>,
    /// Each node's state over time, one row per node.
    pub nodes: Vec<NodeBand>,
    /// The overall verdict when more than linearizability was judged.
    pub verdict: Option<String>,
    /// Longer text under the header (every checker's explanation).
    pub details: Option<String>,
    /// The whole run's time range, so faults and node states before the
    /// first or after the last operation are drawn (unless a window of a
    /// large history is shown).
    pub span: Option<(u64, u64)>,
    /// Whether times are nanoseconds (else event numbers).
    pub timed: bool,
    /// Draw every key's operations even when one key failed (as long as
    /// they fit `max_ops`), rather than only the failing key's.
    pub every_key: bool,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            title: "faultline history".into(),
            max_ops: 3000,
            faults: Vec::new(),
            annotations: Vec::new(),
            nodes: Vec::new(),
            verdict: None,
            details: None,
            span: None,
            timed: true,
            every_key: false,
        }
    }
}

/// Whether a nemesis function ends faults rather than starting one.
fn is_heal(f: &str) -> bool {
    [
        "heal", "stop", "resume", "recover", "restore", "end", "clear", "reset",
    ]
    .iter()
    .any(|h| f.starts_with(h))
}

/// Fault bands from a history's nemesis events: each fault lasts until
/// the next healing event (or the end of the history). A nemesis event
/// with an error (a fault skipped or failed) did not take effect.
pub fn fault_bands(events: &[Event]) -> Vec<FaultBand> {
    let mut bands: Vec<FaultBand> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.process == Process::NEMESIS && e.error.is_none())
    {
        if is_heal(&e.f) {
            for i in open.drain(..) {
                bands[i].end_ns = Some(e.time);
            }
        } else {
            let label = if e.value.is_null() {
                e.f.clone()
            } else {
                format!("{} {}", e.f, e.value)
            };
            let nodes = e
                .value
                .get("nodes")
                .and_then(|n| n.as_array())
                .map(|n| n.iter().filter_map(|v| v.as_u64()).collect())
                .unwrap_or_default();
            open.push(bands.len());
            bands.push(FaultBand {
                start_ns: e.time,
                end_ns: None,
                label,
                kind: e.f.clone(),
                nodes,
            });
        }
    }
    bands
}

#[derive(Serialize)]
struct Bar {
    /// Lane (process).
    p: u64,
    s: u64,
    /// End, or `None` for an unknown outcome (drawn to the window's end).
    e: Option<u64>,
    label: String,
    cls: &'static str,
    /// Position in the (partial) linearization, from 1.
    order: Option<usize>,
    tip: String,
}

/// A fault as drawn: on its row, and as a shade over the whole chart.
#[derive(Serialize)]
struct FaultMark<'a> {
    start_ns: u64,
    end_ns: Option<u64>,
    label: &'a str,
    row: usize,
    tip: String,
}

/// A node's state as drawn.
#[derive(Serialize)]
struct NodeMark {
    node: u64,
    s: u64,
    e: Option<u64>,
    cls: &'static str,
    term: Option<u64>,
    tip: String,
}

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    verdict: Option<&'a str>,
    summary: String,
    sentence: Option<&'a str>,
    note: String,
    details: Option<&'a str>,
    timed: bool,
    t0: u64,
    t1: u64,
    bars: Vec<Bar>,
    /// The label of each fault row, top to bottom.
    fault_rows: Vec<&'a str>,
    faults: Vec<FaultMark<'a>>,
    nodes: Vec<NodeMark>,
    notes: Vec<&'a Annotation>,
    stuck: Option<usize>,
}

/// `[1.250s – 3.000s]`, or event numbers for untimed histories.
fn interval(start: u64, end: Option<u64>, timed: bool) -> String {
    let at = |t: u64| {
        if timed {
            format!("{:.3}s", t as f64 / 1e9)
        } else {
            format!("event {t}")
        }
    };
    format!("[{} – {}]", at(start), end.map_or("end".into(), at))
}

fn overlaps(start: u64, end: Option<u64>, t0: u64, t1: u64) -> bool {
    end.is_none_or(|e| e >= t0) && start <= t1
}

/// The faults in the window, each on the first row of its kind that is
/// free at its start (a new row when none is).
fn fault_marks<'a>(
    faults: &'a [FaultBand],
    t0: u64,
    t1: u64,
    timed: bool,
) -> (Vec<&'a str>, Vec<FaultMark<'a>>) {
    let mut shown: Vec<&FaultBand> = faults
        .iter()
        .filter(|f| overlaps(f.start_ns, f.end_ns, t0, t1))
        .collect();
    shown.sort_by_key(|f| f.start_ns);
    let mut rows: Vec<(&str, Option<u64>)> = Vec::new();
    let mut marks = Vec::new();
    for f in shown {
        let free = rows.iter().position(|(kind, busy_until)| {
            *kind == f.kind && busy_until.is_some_and(|b| b <= f.start_ns)
        });
        let row = match free {
            Some(r) => {
                rows[r].1 = f.end_ns;
                r
            }
            None => {
                rows.push((&f.kind, f.end_ns));
                rows.len() - 1
            }
        };
        let on = if f.nodes.is_empty() {
            String::new()
        } else {
            let nodes: Vec<String> = f.nodes.iter().map(|n| format!("n{n}")).collect();
            format!(" on {}", nodes.join(","))
        };
        marks.push(FaultMark {
            start_ns: f.start_ns,
            end_ns: f.end_ns,
            label: &f.label,
            row,
            tip: format!("{}{on} {}", f.label, interval(f.start_ns, f.end_ns, timed)),
        });
    }
    (rows.into_iter().map(|(k, _)| k).collect(), marks)
}

fn role_class(state: &str) -> &'static str {
    match state {
        "leader" => "leader",
        "follower" => "follower",
        "candidate" | "pre-candidate" => "candidate",
        "down" => "down",
        "paused" => "paused",
        _ => "other",
    }
}

fn node_marks(nodes: &[NodeBand], t0: u64, t1: u64, timed: bool) -> Vec<NodeMark> {
    nodes
        .iter()
        .filter(|n| overlaps(n.start_ns, n.end_ns, t0, t1))
        .map(|n| {
            let term = n.term.map_or(String::new(), |t| format!(" term {t}"));
            let detail = if n.detail.is_empty() {
                String::new()
            } else {
                format!(" {}", n.detail)
            };
            NodeMark {
                node: n.node,
                s: n.start_ns,
                e: n.end_ns,
                cls: role_class(&n.state),
                term: n.term,
                tip: format!(
                    "n{} {}{term}{detail} {}",
                    n.node,
                    n.state,
                    interval(n.start_ns, n.end_ns, timed)
                ),
            }
        })
        .collect()
}

fn op_label(op: &Operation) -> String {
    let mut s = op.f.clone();
    if let Some(k) = &op.key {
        s.push(' ');
        s.push_str(k);
    }
    if !op.value.is_null() {
        s.push(' ');
        s.push_str(&op.value.to_string());
    }
    match &op.outcome {
        Outcome::Ok { value } if op.f == "read" || op.f == "get" => {
            s.push_str(&format!(" -> {value}"));
        }
        _ => {}
    }
    s
}

/// Renders the page. `states` gives, for operations in the drawn
/// partition's (partial) linearization, their position and the model
/// state after them (see `command::linearization_states`).
pub fn render(
    ops: &[Operation],
    report: &CheckReport,
    states: &BTreeMap<usize, (usize, String)>,
    opts: &TimelineOptions,
) -> String {
    // Which partition to show: the first violation, else the first unknown.
    let focus = report
        .partitions
        .iter()
        .find(|p| p.verdict == Verdict::NotLinearizable)
        .or_else(|| {
            report
                .partitions
                .iter()
                .find(|p| p.verdict == Verdict::Unknown)
        });
    let explanation = focus.and_then(|p| p.explanation.as_ref());
    let stuck = explanation.and_then(|e| e.stuck.as_ref()).map(|s| s.op);
    let mut shown: Vec<usize> = match focus {
        Some(p) if (p.key.is_some() && !opts.every_key) || ops.len() > opts.max_ops => ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.key == p.key)
            .map(|(i, _)| i)
            .collect(),
        _ => (0..ops.len()).collect(),
    };
    let total = shown.len();
    let mut note = String::new();
    let windowed = shown.len() > opts.max_ops;
    if windowed {
        let centre = stuck
            .and_then(|s| shown.iter().position(|&i| i == s))
            .unwrap_or(0);
        let from = centre
            .saturating_sub(opts.max_ops / 2)
            .min(shown.len() - opts.max_ops);
        shown = shown[from..from + opts.max_ops].to_vec();
        note = format!(
            "Showing operations {}..{} of {total}{}.",
            from + 1,
            from + opts.max_ops,
            if stuck.is_some() {
                " around the error"
            } else {
                ""
            }
        );
    }
    if let Some(p) = focus.filter(|p| p.key.is_some()) {
        note = format!(
            "Key {}: {}. {note}",
            p.key.as_deref().unwrap_or_default(),
            p.verdict
        );
    }
    let mut t0 = shown.iter().map(|&i| ops[i].invoke_ns).min();
    let mut t1 = shown
        .iter()
        .map(|&i| ops[i].return_ns.unwrap_or(ops[i].invoke_ns))
        .max();
    if let (Some((start, end)), false) = (opts.span, windowed) {
        t0 = Some(t0.map_or(start, |t| t.min(start)));
        t1 = Some(t1.map_or(end, |t| t.max(end)));
    }
    let t0 = t0.unwrap_or(0);
    let t1 = t1.unwrap_or(0).max(t0 + 1);
    let bars = shown
        .iter()
        .map(|&i| {
            let op = &ops[i];
            let (order, state) = match states.get(&i) {
                Some((n, s)) => (Some(*n), Some(s.as_str())),
                None => (None, None),
            };
            let cls = if Some(i) == stuck {
                "stuck"
            } else {
                match (&op.outcome, order) {
                    (Outcome::Info, _) => "info",
                    (Outcome::Fail { .. }, _)
                        if op
                            .fail_error()
                            .is_some_and(|e| e == crate::event::CAS_MISMATCH) =>
                    {
                        "mismatch"
                    }
                    (Outcome::Fail { .. }, _) => "fail",
                    (_, Some(_)) => "lin",
                    _ => "ok",
                }
            };
            let mut tip = format!(
                "{}\nprocess {}\ninvoked {}\n{}",
                op_label(op),
                op.process,
                when(op.invoke_ns, op.invoke_index, opts.timed),
                match (op.return_ns, op.return_index) {
                    (Some(ns), Some(ix)) => format!("returned {}", when(ns, ix, opts.timed)),
                    _ => "outcome unknown".to_string(),
                }
            );
            if let Some(e) = op.fail_error() {
                tip.push_str(&format!(" (failed: {e})"));
            }
            if let (Some(n), Some(s)) = (order, state) {
                tip.push_str(&format!("\nlinearized #{n}; state after: {s}"));
            }
            Bar {
                p: op.process,
                s: op.invoke_ns,
                e: op.return_ns,
                label: op_label(op),
                cls,
                order,
                tip,
            }
        })
        .collect();
    let (fault_rows, faults) = fault_marks(&opts.faults, t0, t1, opts.timed);
    let page = Page {
        title: &opts.title,
        verdict: opts.verdict.as_deref(),
        details: opts.details.as_deref(),
        timed: opts.timed,
        summary: report
            .summary()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        sentence: explanation.map(|e| e.sentence.as_str()),
        note,
        t0,
        t1,
        bars,
        fault_rows,
        faults,
        nodes: node_marks(&opts.nodes, t0, t1, opts.timed),
        notes: opts
            .annotations
            .iter()
            .filter(|a| a.at_ns >= t0 && a.at_ns <= t1)
            .collect(),
        stuck: stuck.and_then(|s| shown.iter().position(|&i| i == s)),
    };
    let data = serde_json::to_string(&page)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    TEMPLATE
        .replace("{{TITLE}}", &html_escape(&opts.title))
        .replace("{{DATA}}", &data)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TEMPLATE: &str = include_str!("timeline.html");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;
    use serde_json::json;

    fn nemesis(time: u64, f: &str, value: serde_json::Value, error: Option<&str>) -> Event {
        Event {
            index: time,
            time,
            process: Process::NEMESIS,
            kind: EventType::Info,
            f: f.into(),
            key: None,
            value,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn bands_run_from_a_fault_to_its_heal_and_skipped_faults_are_not_drawn() {
        let events = vec![
            nemesis(10, "partition", json!({"nodes": [1, 2]}), None),
            nemesis(
                15,
                "crash",
                json!({"nodes": [3]}),
                Some("skipped: no leader"),
            ),
            nemesis(20, "heal", json!(null), None),
            nemesis(30, "pause", json!(null), None),
        ];
        let bands = fault_bands(&events);
        assert_eq!(bands.len(), 2, "{bands:?}");
        assert_eq!((bands[0].start_ns, bands[0].end_ns), (10, Some(20)));
        assert_eq!(
            (bands[0].kind.as_str(), &bands[0].nodes[..]),
            ("partition", &[1, 2][..])
        );
        assert_eq!((bands[1].kind.as_str(), bands[1].end_ns), ("pause", None));
    }

    #[test]
    fn faults_of_a_kind_share_a_row_unless_they_overlap() {
        let band = |start_ns, end_ns| FaultBand {
            start_ns,
            end_ns,
            label: "crash".into(),
            kind: "crash".into(),
            nodes: vec![1],
        };
        let faults = vec![band(0, Some(10)), band(5, Some(20)), band(12, None)];
        let (rows, marks) = fault_marks(&faults, 0, 100, true);
        assert_eq!(rows, vec!["crash", "crash"]);
        assert_eq!(
            marks.iter().map(|m| m.row).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        assert!(
            marks[2].tip.ends_with("on n1 [0.000s – end]"),
            "{}",
            marks[2].tip
        );
    }
}
