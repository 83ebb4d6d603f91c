//! `timeline.html`: one self-contained page (inline SVG, no scripts fetched)
//! drawing the run on one time axis: faults as bands, each node's role and
//! term, and every client operation from invocation to completion. Hovering
//! any mark shows what it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use faultline_histories::{Event, EventType, Process};
use faultline_nemesis::FaultSpan;

use super::verdict::Verdicts;
use crate::raft::Role;
use crate::sim::TraceLine;

const LEFT: f64 = 110.0;
const ROW: f64 = 16.0;
/// Pixels per simulated second, and the page's minimum drawing width.
const PX_PER_SEC: f64 = 40.0;
const MIN_WIDTH: f64 = 1000.0;

/// What the page draws.
pub struct TimelineInput<'a> {
    pub title: String,
    pub history: &'a [Event],
    pub faults: &'a [FaultSpan],
    pub trace: &'a [TraceLine],
    pub verdicts: &'a Verdicts,
    /// Where the run ended, in simulated nanoseconds.
    pub end_ns: u64,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

struct Axis {
    end_ns: u64,
    width: f64,
}

impl Axis {
    fn x(&self, ns: u64) -> f64 {
        LEFT + self.width * (ns.min(self.end_ns) as f64 / self.end_ns.max(1) as f64)
    }
}

/// The whole page.
pub fn render(input: &TimelineInput) -> String {
    let end_ns = input
        .end_ns
        .max(input.history.iter().map(|e| e.time).max().unwrap_or(0))
        .max(1);
    let axis = Axis {
        end_ns,
        width: (end_ns as f64 / 1e9 * PX_PER_SEC).max(MIN_WIDTH),
    };
    let mut rows = String::new();
    let mut y = 30.0;
    let mut labels = String::new();

    // Time ticks every second (or every 10 for long runs).
    let step_s = if end_ns > 120_000_000_000 { 10 } else { 1 };
    let mut ticks = String::new();
    let mut t = 0u64;
    while t * 1_000_000_000 <= end_ns {
        let x = axis.x(t * 1_000_000_000);
        let _ = write!(
            ticks,
            r##"<line x1="{x:.1}" y1="20" x2="{x:.1}" y2="100%" class="tick"/><text x="{x:.1}" y="14" class="t">{t}s</text>"##
        );
        t += step_s;
    }

    // Faults: one row each.
    for f in input.faults {
        let (x0, x1) = (axis.x(f.start_ns), axis.x(f.end_ns));
        let nodes: Vec<String> = f.nodes.iter().map(|n| format!("n{n}")).collect();
        let what = format!(
            "fault {} {} on {} [{} – {}]",
            f.id,
            f.name,
            nodes.join(","),
            secs(f.start_ns),
            secs(f.end_ns)
        );
        let _ = write!(
            rows,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" class="fault"><title>{}</title></rect>"##,
            (x1 - x0).max(2.0),
            ROW - 3.0,
            esc(&what)
        );
        let _ = write!(
            labels,
            r##"<text x="4" y="{:.1}" class="l">{}</text>"##,
            y + 11.0,
            esc(&f.name)
        );
        y += ROW;
    }
    y += 6.0;

    // Nodes: role and term over time.
    let mut by_node: BTreeMap<u64, Vec<&TraceLine>> = BTreeMap::new();
    for l in input.trace {
        by_node.entry(l.node).or_default().push(l);
    }
    for (node, lines) in &by_node {
        for (i, l) in lines.iter().enumerate() {
            let next = lines.get(i + 1).map_or(end_ns, |n| n.time_ns);
            let s = &l.state;
            let (class, role) = match (s.role, s.paused) {
                (None, _) => ("down", "down"),
                (Some(_), true) => ("paused", "paused"),
                (Some(Role::Leader), _) => ("leader", "leader"),
                (Some(Role::Candidate), _) => ("candidate", "candidate"),
                (Some(Role::PreCandidate), _) => ("candidate", "pre-candidate"),
                (Some(Role::Follower), _) => ("follower", "follower"),
            };
            let (x0, x1) = (axis.x(l.time_ns), axis.x(next));
            let what = format!(
                "n{node} {role} term {} commit {} applied {} last {} [{} – {}]",
                s.term,
                s.commit,
                s.applied,
                s.last_index,
                secs(l.time_ns),
                secs(next)
            );
            let _ = write!(
                rows,
                r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" class="{class}"><title>{}</title></rect>"##,
                (x1 - x0).max(0.5),
                ROW - 3.0,
                esc(&what)
            );
            if class == "leader" && x1 - x0 > 24.0 {
                let _ = write!(
                    rows,
                    r##"<text x="{:.1}" y="{:.1}" class="in">t{}</text>"##,
                    x0 + 2.0,
                    y + 10.0,
                    s.term
                );
            }
        }
        let _ = write!(
            labels,
            r##"<text x="4" y="{:.1}" class="l">node {node}</text>"##,
            y + 11.0
        );
        y += ROW;
    }
    y += 6.0;

    // Client operations, one row per process.
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut lanes: BTreeMap<u64, f64> = BTreeMap::new();
    let mut ops = String::new();
    let lane_of =
        |p: u64, lanes: &mut BTreeMap<u64, f64>, y: &mut f64, labels: &mut String| -> f64 {
            *lanes.entry(p).or_insert_with(|| {
                let here = *y;
                let _ = write!(
                    labels,
                    r##"<text x="4" y="{:.1}" class="l">process {p}</text>"##,
                    here + 11.0
                );
                *y += ROW;
                here
            })
        };
    let draw = |inv: &Event, done: Option<&Event>, ly: f64, ops: &mut String| {
        let end = done.map_or(end_ns, |d| d.time);
        let class = match done.map(|d| d.kind) {
            Some(EventType::Ok) => "ok",
            Some(EventType::Fail) => "fail",
            _ => "info",
        };
        let key = inv
            .key
            .as_deref()
            .map_or(String::new(), |k| format!(" {k}"));
        let result = done.map_or("no completion".to_string(), |d| {
            let err = d
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(" ({e})"));
            format!("{} {}{err}", class, d.value)
        });
        let what = format!(
            "event {} p{}: {}{key} {} -> {result} [{} – {}]",
            inv.index,
            match inv.process {
                Process::Client(p) => p,
                Process::Nemesis(_) => 0,
            },
            inv.f,
            inv.value,
            secs(inv.time),
            secs(end)
        );
        let (x0, x1) = (axis.x(inv.time), axis.x(end));
        let _ = write!(
            ops,
            r##"<rect x="{x0:.1}" y="{ly:.1}" width="{:.1}" height="{:.1}" class="{class}"><title>{}</title></rect>"##,
            (x1 - x0).max(1.0),
            ROW - 4.0,
            esc(&what)
        );
    };
    for e in input.history {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                open.insert(p, e);
            }
            _ => {
                if let Some(inv) = open.remove(&p) {
                    let ly = lane_of(p, &mut lanes, &mut y, &mut labels);
                    draw(inv, Some(e), ly, &mut ops);
                }
            }
        }
    }
    for (p, inv) in std::mem::take(&mut open) {
        let ly = lane_of(p, &mut lanes, &mut y, &mut labels);
        draw(inv, None, ly, &mut ops);
    }

    let height = y + 20.0;
    let width = LEFT + axis.width + 20.0;
    let verdict = esc(&input.verdicts.headline());
    let explain = esc(&input.verdicts.explain());
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; }}
pre {{ white-space: pre-wrap; background: #f6f6f6; padding: 8px; }}
.t {{ font-size: 10px; fill: #666; }} .l {{ font-size: 11px; fill: #222; }} .in {{ font-size: 9px; fill: #000; }}
.tick {{ stroke: #eee; }}
.fault {{ fill: #e8a0a0; }} .leader {{ fill: #f0c040; }} .follower {{ fill: #d8d8d8; }}
.candidate {{ fill: #f09040; }} .down {{ fill: #444; }} .paused {{ fill: #7aa0e0; }}
.ok {{ fill: #5cb85c; }} .fail {{ fill: #d9534f; }} .info {{ fill: #f0ad4e; opacity: 0.6; }}
rect:hover {{ stroke: #000; stroke-width: 1; }}
.legend span {{ display: inline-block; padding: 1px 6px; margin-right: 6px; }}
</style></head><body>
<h2>{title}</h2>
<p>verdict: <b>{verdict}</b></p>
<pre>{explain}</pre>
<p class="legend"><span class="fault" style="background:#e8a0a0">fault</span><span style="background:#f0c040">leader</span><span style="background:#d8d8d8">follower</span><span style="background:#f09040">candidate</span><span style="background:#444;color:#fff">down</span><span style="background:#7aa0e0">paused</span><span style="background:#5cb85c">ok</span><span style="background:#d9534f">fail</span><span style="background:#f0ad4e">info (may have happened)</span> Hover a mark for details.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}">
{ticks}{labels}{rows}{ops}
</svg>
</body></html>
"##,
        title = esc(&input.title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::verdict::{CheckResult, Checker, Verdict};
    use crate::sim::NodeState;

    #[test]
    fn draws_faults_roles_and_operations() {
        let ev = |index, time, process, kind, value: serde_json::Value| Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: "write".into(),
            key: Some("k<1>".into()),
            value,
            error: None,
        };
        let history = vec![
            ev(0, 0, 1, EventType::Invoke, 1.into()),
            ev(1, 5_000_000, 2, EventType::Invoke, 2.into()),
            ev(2, 9_000_000, 1, EventType::Ok, 1.into()),
        ];
        let faults = vec![FaultSpan {
            id: 3,
            name: "partition".into(),
            start_ns: 1_000_000,
            end_ns: 2_000_000_000,
            nodes: [1u64, 2].into_iter().collect(),
            aimed_at_leader: false,
        }];
        let st = |role| NodeState {
            role,
            term: 4,
            commit: 1,
            applied: 1,
            last_index: 2,
            leader: Some(1),
            paused: false,
        };
        let trace = vec![
            TraceLine {
                time_ns: 0,
                node: 1,
                state: st(Some(Role::Leader)),
            },
            TraceLine {
                time_ns: 1_500_000_000,
                node: 1,
                state: st(None),
            },
        ];
        let verdicts = Verdicts::combine(vec![CheckResult::new(
            Checker::Agreement,
            Verdict::Invalid,
            "a < b",
        )]);
        let html = render(&TimelineInput {
            title: "seed 7".into(),
            history: &history,
            faults: &faults,
            trace: &trace,
            verdicts: &verdicts,
            end_ns: 3_000_000_000,
        });
        assert!(html.contains("fault 3 partition on n1,n2"));
        assert!(html.contains("n1 leader term 4"));
        assert!(html.contains("n1 down"));
        assert!(html.contains(r#"class="ok""#) && html.contains(r#"class="info""#));
        assert!(html.contains("k&lt;1&gt;"), "keys are escaped");
        assert!(html.contains("a &lt; b"));
        assert!(html.contains("process 2"));
    }
}
