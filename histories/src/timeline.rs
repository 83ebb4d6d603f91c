//! `timeline.html`: one self-contained page (no network) showing a
//! history as porcupine's visualiser does: one row per process, each
//! operation a bar from invocation to completion, the linearization (or,
//! for a violation, the longest partial one) numbered in order with the
//! model state after each step on hover, the operation that cannot be
//! placed marked, and faults as shaded bands. Large histories are cut to a
//! window around the error so the page stays quick to open.

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
    /// Whether times are nanoseconds (else event numbers).
    pub timed: bool,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            title: "faultline history".into(),
            max_ops: 3000,
            faults: Vec::new(),
            annotations: Vec::new(),
            timed: true,
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
/// the next healing event (or the end of the history).
pub fn fault_bands(events: &[Event]) -> Vec<FaultBand> {
    let mut bands: Vec<FaultBand> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for e in events.iter().filter(|e| e.process == Process::NEMESIS) {
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
            open.push(bands.len());
            bands.push(FaultBand {
                start_ns: e.time,
                end_ns: None,
                label,
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

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    summary: String,
    sentence: Option<&'a str>,
    note: String,
    t0: u64,
    t1: u64,
    bars: Vec<Bar>,
    faults: Vec<&'a FaultBand>,
    notes: Vec<&'a Annotation>,
    stuck: Option<usize>,
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
        Some(p) if p.key.is_some() || ops.len() > opts.max_ops => ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.key == p.key)
            .map(|(i, _)| i)
            .collect(),
        _ => (0..ops.len()).collect(),
    };
    let total = shown.len();
    let mut note = String::new();
    if shown.len() > opts.max_ops {
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
    let t0 = shown.iter().map(|&i| ops[i].invoke_ns).min().unwrap_or(0);
    let t1 = shown
        .iter()
        .map(|&i| ops[i].return_ns.unwrap_or(ops[i].invoke_ns))
        .max()
        .unwrap_or(0)
        .max(t0 + 1);
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
    let page = Page {
        title: &opts.title,
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
        faults: opts
            .faults
            .iter()
            .filter(|f| f.end_ns.is_none_or(|e| e >= t0) && f.start_ns <= t1)
            .collect(),
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

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{TITLE}}</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;color:#222}
header{padding:8px 12px;background:#f4f4f4;border-bottom:1px solid #ccc;position:sticky;top:0;z-index:5}
h1{font-size:15px;margin:0 0 4px}
#sentence{color:#a00;max-width:1100px}
#note{color:#555}
button{margin-right:6px}
#wrap{overflow:auto;position:relative;height:calc(100vh - 130px)}
#chart{position:relative}
.lane{position:absolute;left:0;height:22px;border-bottom:1px solid #eee;width:100%}
.lname{position:sticky;left:0;width:70px;background:#fff;z-index:3;font-size:11px;padding:3px;display:inline-block}
.bar{position:absolute;height:16px;top:3px;border-radius:3px;font-size:10px;overflow:hidden;white-space:nowrap;padding:0 2px;box-sizing:border-box;cursor:default}
.ok{background:#9cc3e6}.lin{background:#8fd18f}.info{background:repeating-linear-gradient(45deg,#ddd,#ddd 4px,#eee 4px,#eee 8px);border:1px dashed #999}
.fail{background:#eee;color:#999}.mismatch{background:#f6c28b}.stuck{background:#f77;outline:2px solid #a00}
.flash{outline:3px solid #000}
.fault{position:absolute;top:0;background:rgba(255,150,0,.13);border-left:1px solid rgba(200,100,0,.5);z-index:1;font-size:10px;color:#a50;overflow:hidden;white-space:nowrap}
.mark{position:absolute;top:0;width:0;border-left:1px dashed #66c;z-index:1;font-size:10px;color:#44a;white-space:nowrap}
.legend span{display:inline-block;padding:0 6px;margin-right:4px;border-radius:3px}
</style></head><body>
<header><h1 id="title"></h1><div id="summary"></div><div id="sentence"></div><div id="note"></div>
<div><button id="jump">Jump to first error</button><button id="zin">Zoom in</button><button id="zout">Zoom out</button>
<span class="legend"><span class="lin">linearized</span><span class="ok">ok</span><span class="info">unknown outcome</span><span class="mismatch">cas mismatch</span><span class="fail">failed</span><span class="stuck">cannot be placed</span></span></div></header>
<div id="wrap"><div id="chart"></div></div>
<script>
const D = {{DATA}};
const $ = id => document.getElementById(id);
$('title').textContent = D.title;
$('summary').textContent = D.summary;
$('sentence').textContent = D.sentence || '';
$('note').textContent = D.note;
const lanes = [...new Set(D.bars.map(b => b.p))].sort((a, b) => a - b);
const laneOf = new Map(lanes.map((p, i) => [p, i]));
const span = Math.max(1, D.t1 - D.t0);
let width = Math.max(1200, Math.min(60000, D.bars.length * 40));
const chart = $('chart');
function draw() {
  chart.textContent = '';
  const H = lanes.length * 22 + 20;
  chart.style.height = H + 'px';
  chart.style.width = (width + 90) + 'px';
  const x = t => 80 + (Math.min(Math.max(t, D.t0), D.t1) - D.t0) / span * width;
  const frag = document.createDocumentFragment();
  for (const f of D.faults) {
    const d = document.createElement('div');
    d.className = 'fault';
    const a = x(f.start_ns), b = x(f.end_ns == null ? D.t1 : f.end_ns);
    d.style.left = a + 'px'; d.style.width = Math.max(2, b - a) + 'px'; d.style.height = H + 'px';
    d.textContent = f.label; d.title = f.label;
    frag.appendChild(d);
  }
  for (const n of D.notes) {
    const d = document.createElement('div');
    d.className = 'mark'; d.style.left = x(n.at_ns) + 'px'; d.style.height = H + 'px';
    d.textContent = n.label; d.title = n.label;
    frag.appendChild(d);
  }
  lanes.forEach((p, i) => {
    const l = document.createElement('div');
    l.className = 'lane'; l.style.top = (i * 22 + 16) + 'px';
    const name = document.createElement('span');
    name.className = 'lname'; name.textContent = 'process ' + p;
    l.appendChild(name);
    frag.appendChild(l);
  });
  D.bars.forEach((b, i) => {
    const d = document.createElement('div');
    d.className = 'bar ' + b.cls; d.id = 'op' + i;
    const a = x(b.s), e = x(b.e == null ? D.t1 : b.e);
    d.style.left = a + 'px'; d.style.width = Math.max(3, e - a) + 'px';
    d.style.top = (laneOf.get(b.p) * 22 + 19) + 'px';
    d.textContent = (b.order ? '#' + b.order + ' ' : '') + b.label;
    d.title = b.tip;
    frag.appendChild(d);
  });
  chart.appendChild(frag);
}
draw();
$('zin').onclick = () => { width = Math.min(width * 2, 2000000); draw(); };
$('zout').onclick = () => { width = Math.max(width / 2, 400); draw(); };
$('jump').onclick = () => {
  if (D.stuck == null) { alert('No error in this history.'); return; }
  const el = $('op' + D.stuck);
  el.scrollIntoView({block: 'center', inline: 'center'});
  el.classList.add('flash'); setTimeout(() => el.classList.remove('flash'), 1500);
};
if (D.stuck == null) $('jump').disabled = true;
</script></body></html>
"##;
