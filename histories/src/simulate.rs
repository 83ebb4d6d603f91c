//! Random concurrent histories of a real atomic object, for tests and
//! benchmarks. Each operation takes effect at one instant between its
//! invocation and its completion, so the history is linearizable by
//! construction; [`mutate`] then breaks one read.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::event::{Event, EventType, Process, CAS_MISMATCH};
use crate::hash::splitmix64;

/// A small deterministic RNG (SplitMix64), so that the crate needs no
/// random-number dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What the simulated clients do.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub clients: usize,
    pub keys: usize,
    /// Operations to invoke in total.
    pub ops: usize,
    /// Chance that a completion is lost (`info`): the effect happened or
    /// not, at random, and the process is replaced by a fresh one.
    pub info: f64,
    /// Whether clients also compare-and-set (registers) or only read and
    /// write (kv).
    pub cas: bool,
    /// Chance, at each step, that a running operation takes effect or
    /// completes rather than another client acting: lower means more
    /// concurrency.
    pub progress: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            clients: 5,
            keys: 1,
            ops: 100,
            info: 0.0,
            cas: true,
            progress: 0.5,
        }
    }
}

struct Running {
    process: u64,
    f: &'static str,
    key: String,
    value: Json,
    /// Its completion will be lost (`info`).
    lost: bool,
    /// The result once it took effect (or, if lost, was skipped).
    result: Option<(EventType, Json, Option<String>)>,
}

/// A linearizable history of integer registers (read, write of unique
/// values, and CAS when `cas`), keys `k0..`.
pub fn register_history(cfg: &SimConfig) -> Vec<Event> {
    let mut rng = Rng::new(cfg.seed);
    let mut state: BTreeMap<String, i64> = BTreeMap::new();
    let mut events: Vec<Event> = Vec::new();
    let mut running: Vec<Option<Running>> = (0..cfg.clients).map(|_| None).collect();
    let mut process: Vec<u64> = (0..cfg.clients as u64).collect();
    let mut next_process = cfg.clients as u64;
    let mut invoked = 0usize;
    let mut next_value = 1i64;
    let mut time = 0u64;
    let push =
        |events: &mut Vec<Event>, time: u64, p: u64, kind, f: &str, key: &str, value, error| {
            events.push(Event {
                index: events.len() as u64,
                time,
                process: Process::Client(p),
                kind,
                f: f.to_string(),
                key: Some(key.to_string()),
                value,
                error,
            });
        };
    loop {
        let busy = running.iter().filter(|r| r.is_some()).count();
        if invoked >= cfg.ops && busy == 0 {
            return events;
        }
        time += 1 + rng.below(1000);
        let c = rng.below(cfg.clients as u64) as usize;
        match &mut running[c] {
            None if invoked < cfg.ops => {
                let key = format!("k{}", rng.below(cfg.keys as u64));
                let roll = rng.below(if cfg.cas { 3 } else { 2 });
                let (f, value) = match roll {
                    0 => ("read", Json::Null),
                    1 => {
                        next_value += 1;
                        ("write", json!(next_value))
                    }
                    _ => {
                        next_value += 1;
                        let cur = state.get(&key).copied().unwrap_or(0);
                        // Half the time expect the current value, so that some succeed.
                        let from = if rng.chance(0.5) { cur } else { cur + 1 };
                        ("cas", json!([from, next_value]))
                    }
                };
                push(
                    &mut events,
                    time,
                    process[c],
                    EventType::Invoke,
                    f,
                    &key,
                    value.clone(),
                    None,
                );
                running[c] = Some(Running {
                    process: process[c],
                    f,
                    key,
                    value,
                    lost: rng.chance(cfg.info),
                    result: None,
                });
                invoked += 1;
            }
            None => {}
            Some(r) if !rng.chance(cfg.progress) => {
                let _ = r;
            }
            Some(r) if r.result.is_none() && r.lost && rng.chance(0.5) => {
                // A lost operation that never takes effect.
                r.result = Some((EventType::Info, Json::Null, None));
            }
            Some(r) if r.result.is_none() => {
                // Take effect now.
                let cur = state.get(&r.key).copied();
                r.result = Some(match r.f {
                    "read" => (EventType::Ok, json!(cur), None),
                    "write" => {
                        state.insert(r.key.clone(), r.value.as_i64().unwrap_or(0));
                        (EventType::Ok, r.value.clone(), None)
                    }
                    _ => {
                        let from = r.value[0].as_i64();
                        if cur == from {
                            state.insert(r.key.clone(), r.value[1].as_i64().unwrap_or(0));
                            (EventType::Ok, r.value.clone(), None)
                        } else {
                            (
                                EventType::Fail,
                                r.value.clone(),
                                Some(CAS_MISMATCH.to_string()),
                            )
                        }
                    }
                });
            }
            Some(_) => {
                let r = running[c].take().expect("running");
                let (kind, value, error) = r.result.expect("took effect");
                if r.lost {
                    // The client never learns the outcome, and Jepsen
                    // gives its thread a fresh process id.
                    push(
                        &mut events,
                        time,
                        r.process,
                        EventType::Info,
                        r.f,
                        &r.key,
                        r.value.clone(),
                        Some("timeout".into()),
                    );
                    process[c] = next_process;
                    next_process += 1;
                } else {
                    push(
                        &mut events,
                        time,
                        r.process,
                        kind,
                        r.f,
                        &r.key,
                        value,
                        error,
                    );
                }
            }
        }
    }
}

/// Changes one `ok` read's value: half the time to a value nobody wrote
/// (never linearizable), otherwise to another value some write or CAS
/// stored (usually not linearizable). Returns false if there is no read.
pub fn mutate(events: &mut [Event], rng: &mut Rng) -> bool {
    let reads: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventType::Ok && e.f == "read")
        .map(|(i, _)| i)
        .collect();
    if reads.is_empty() {
        return false;
    }
    let i = reads[rng.below(reads.len() as u64) as usize];
    let written: Vec<Json> = events
        .iter()
        .filter(|e| e.kind == EventType::Invoke && e.key == events[i].key)
        .filter_map(|e| match e.f.as_str() {
            "write" => Some(e.value.clone()),
            "cas" => Some(e.value[1].clone()),
            _ => None,
        })
        .filter(|v| *v != events[i].value)
        .collect();
    events[i].value = if written.is_empty() || rng.chance(0.5) {
        json!(-1 - rng.below(1000) as i64)
    } else {
        written[rng.below(written.len() as u64) as usize].clone()
    };
    true
}
