//! [`run`]: one simulated run from its configuration to its outcome.
//!
//! Phases, on simulated time: the fault phase (clients run the workload,
//! the nemesis applies its schedule) until `duration_ms`; the heal (every
//! fault removed, clocks reset); the liveness probe (one leader, a fresh
//! write and read within `bounds.liveness_ms`); the final reads; and
//! convergence (every running replica applies the same log to the same
//! state within `bounds.converge_ms`). Invariants are checked after every
//! simulation step throughout.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use faultline_histories::store::Header;
use faultline_histories::{Event, EventType, Process};
use faultline_nemesis::{FaultSpan, LeaderSpan, NodeId};
use faultline_workloads::Generator;
use serde::{Deserialize, Serialize};

use super::client::{nemesis_value, ClientPhase, Clients};
use super::config::RunConfig;
use super::disk::DiskStats;
use super::history::{history_hash, Recorder};
use super::monitor::Monitor;
use super::nemesis::{Cluster, Nemesis, NemesisRecord, Phase};
use super::trace::{NodeState, TraceLine, Tracer};
use super::world::{World, CLIENT_HOST};
use crate::node::NodeStatus;
use crate::raft::Role;

/// Counts for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    pub invoked: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub leader_changes: u64,
    /// Simulation steps taken.
    pub steps: u64,
    /// Cluster-wide invariant checks made (one per step in which some node
    /// changed).
    pub invariant_checks: u64,
    pub disk: BTreeMap<NodeId, DiskStats>,
    /// Nodes that fail-stopped, with why (last failure of each).
    pub failures: BTreeMap<NodeId, String>,
}

/// What one run did and what the in-run checks found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunOutcome {
    pub seed: u64,
    pub history: Vec<Event>,
    /// sha256 (hex) over the history's canonical JSON lines.
    pub history_hash: String,
    /// The first Raft invariant broken, with time and node.
    pub invariant_violation: Option<String>,
    /// Replica agreement at quiescence.
    pub agreement: Result<(), String>,
    /// Liveness after the heal.
    pub liveness: Result<(), String>,
    /// The run stopped at the invariant violation: what it did not reach
    /// (liveness, agreement) was not checked, and `liveness` and
    /// `agreement` say so rather than judge.
    #[serde(default)]
    pub stopped_early: bool,
    /// Every fault, heal and skip the nemesis applied.
    pub faults_applied: Vec<NemesisRecord>,
    /// Applied faults with resolved targets, for effectiveness.
    pub fault_spans: Vec<FaultSpan>,
    pub leader_spans: Vec<LeaderSpan>,
    pub trace: Vec<TraceLine>,
    pub sim_time_ms: u64,
    pub wall_time_ms: u64,
    /// A panic or simulation error inside the harness, not a verdict on
    /// the system under test.
    pub crashed: Option<String>,
    /// The history file could not be written.
    pub write_error: Option<String>,
    pub stats: RunStats,
}

impl RunOutcome {
    /// Whether the in-run checks found nothing wrong (the history's own
    /// checks are the harness's).
    pub fn in_run_checks_passed(&self) -> bool {
        self.crashed.is_none()
            && self.invariant_violation.is_none()
            && self.agreement.is_ok()
            && self.liveness.is_ok()
    }
}

/// Run `config`; with `out_dir`, write `history.jsonl` (as it happens) and
/// `trace.log` there. Never panics: a panic or simulation error inside
/// becomes `crashed`, with the history recorded up to it.
pub fn run(config: &RunConfig, out_dir: Option<&Path>) -> RunOutcome {
    let wall = std::time::Instant::now();
    let header = Header::new(
        config.seed,
        serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
    );
    let history_path = out_dir.map(|d| d.join("history.jsonl"));
    let recorder = Rc::new(RefCell::new(Recorder::new(
        history_path.as_deref(),
        &header,
    )));
    let mut state = RunState::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        simulate(config, recorder.clone(), &mut state)
    }));
    let crashed = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("simulation error: {e}")),
        Err(panic) => Some(format!("panic: {}", panic_message(&panic))),
    };
    // A panic may have left the recorder borrowed by an unwound frame; the
    // events themselves are complete up to the panic.
    let (history, hash, write_error) = match Rc::try_unwrap(recorder) {
        Ok(cell) => {
            let r = cell.into_inner();
            let (hash, err) = (r.hash(), r.write_error().map(str::to_string));
            (r.into_events(), hash, err)
        }
        Err(shared) => {
            let r = shared.borrow();
            let events = r.events().to_vec();
            (
                events.clone(),
                history_hash(&events),
                r.write_error().map(str::to_string),
            )
        }
    };
    let mut stats = state.stats;
    for e in &history {
        if let Process::Client(_) = e.process {
            match e.kind {
                EventType::Invoke => stats.invoked += 1,
                EventType::Ok => stats.ok += 1,
                EventType::Fail => stats.fail += 1,
                EventType::Info => stats.info += 1,
            }
        }
    }
    stats.leader_changes = state.tracer.leader_changes();
    let trace = state.tracer.lines().to_vec();
    if let Some(dir) = out_dir {
        let _ = std::fs::write(dir.join("trace.log"), state.tracer.render());
    }
    RunOutcome {
        seed: config.seed,
        history,
        history_hash: hash,
        invariant_violation: state.monitor.violation().map(str::to_string),
        agreement: state
            .agreement
            .unwrap_or_else(|| Err("the run ended before replicas could be compared".into())),
        liveness: state
            .liveness
            .unwrap_or_else(|| Err("the run ended before the liveness probe".into())),
        stopped_early: state.stopped_early,
        faults_applied: state.records,
        fault_spans: state.fault_spans,
        leader_spans: state.tracer.leader_spans(),
        trace,
        sim_time_ms: state.sim_time_ms,
        wall_time_ms: wall.elapsed().as_millis() as u64,
        crashed,
        write_error,
        stats,
    }
}

/// What the run loop accumulates, kept outside the unwinding closure so a
/// panic leaves it readable.
#[derive(Default)]
struct RunState {
    monitor: Monitor,
    tracer: Tracer,
    records: Vec<NemesisRecord>,
    fault_spans: Vec<FaultSpan>,
    liveness: Option<Result<(), String>>,
    agreement: Option<Result<(), String>>,
    sim_time_ms: u64,
    stats: RunStats,
    /// Nemesis records already in the history.
    recorded: usize,
    /// The run stopped at an invariant violation; liveness and agreement
    /// were not checked.
    stopped_early: bool,
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

fn now_ms(world: &World) -> u64 {
    world.sim.elapsed().as_millis() as u64
}

/// One step of the simulation followed by the admin requests' progress
/// and the per-step checks.
fn step(
    world: &mut World,
    state: &mut RunState,
    nemesis: &mut Nemesis,
    recorder: &RefCell<Recorder>,
) -> Result<(), Box<dyn std::error::Error>> {
    world.sim.step()?;
    state.stats.steps += 1;
    let t = now_ms(world);
    state.sim_time_ms = t;
    for outcome in world.drive_admin(t) {
        nemesis.admin_ended(&outcome, world);
    }
    flush_nemesis(recorder, nemesis, state);
    let changed = world.refresh_statuses();
    state
        .monitor
        .observe_changed(t, changed.iter().filter_map(|&id| world.cached_status(id)));
    // A node that fsyncs what it acknowledges finds its synced data intact
    // after any crash; damage there, with no disk fault aimed at the node,
    // means it treated unsynced writes as durable.
    for (&id, h) in &world.nodes {
        if h.found_corrupt.replace(false) && !nemesis.disk_faulted(id) {
            let why = h.failure.borrow().clone().unwrap_or_default();
            state.monitor.report(
                t,
                id,
                &format!(
                    "durability: after a crash the node found data it had fsynced damaged, \
                     with no disk fault injected ({why})"
                ),
            );
        }
    }
    // Every node, not only the changed ones: the nemesis's pause shows in
    // the trace without the node's status changing.
    for s in world.cached_statuses() {
        state
            .tracer
            .observe(t * 1_000_000, s.id, node_state(s, nemesis));
    }
    Ok(())
}

fn node_state(s: &NodeStatus, nemesis: &Nemesis) -> NodeState {
    NodeState {
        role: s.running.then_some(s.role),
        term: s.term,
        commit: s.commit,
        applied: s.applied,
        last_index: s.last_index,
        leader: s.leader,
        paused: s.paused || nemesis.is_paused(s.id),
    }
}

/// Put the nemesis records not yet in the history there.
fn flush_nemesis(recorder: &RefCell<Recorder>, nemesis: &Nemesis, state: &mut RunState) {
    let records = nemesis.records();
    if records.len() > state.recorded {
        record_nemesis(recorder, &records[state.recorded..]);
        state.recorded = records.len();
    }
}

fn record_nemesis(recorder: &RefCell<Recorder>, records: &[NemesisRecord]) {
    let mut r = recorder.borrow_mut();
    for rec in records {
        r.push(
            rec.time_ms * 1_000_000,
            Process::NEMESIS,
            EventType::Info,
            &rec.f,
            None,
            nemesis_value(rec.id, &rec.nodes, &rec.description, rec.detail.as_deref()),
            match rec.phase {
                Phase::Skip => Some(format!(
                    "skipped: {}",
                    rec.detail.as_deref().unwrap_or("not applicable")
                )),
                Phase::Failed => Some(format!(
                    "failed: {}",
                    rec.detail.as_deref().unwrap_or("unknown")
                )),
                _ => None,
            },
        );
    }
}

fn simulate(
    config: &RunConfig,
    recorder: Rc<RefCell<Recorder>>,
    state: &mut RunState,
) -> Result<(), Box<dyn std::error::Error>> {
    config.validate()?;
    let mut world = World::new(config);
    for &id in &config.nodes {
        world.start_node(id);
    }
    let generator = Generator::new(config.workload, config.generator.clone())?;
    let clients = Clients::new(
        recorder.clone(),
        generator,
        config.seed,
        world.client_addrs(),
        Duration::from_millis(config.bounds.op_timeout_ms),
    );
    world.sim.client(CLIENT_HOST, clients.clone().run_host());
    let mut nemesis = Nemesis::new(config.schedule.clone(), config.seed);

    // The fault phase.
    let heal_at = config.heal_at_ms();
    while now_ms(&world) < heal_at {
        let t = now_ms(&world);
        if nemesis.next_due_ms().is_some_and(|due| due <= t) {
            nemesis.step(t, &mut world);
            flush_nemesis(&recorder, &nemesis, state);
        }
        step(&mut world, state, &mut nemesis, &recorder)?;
        if state.monitor.violation().is_some() {
            break;
        }
    }

    // The heal: clients stop issuing, every fault goes.
    clients.phase.set(ClientPhase::Draining);
    let t = now_ms(&world);
    nemesis.heal_all(t, &mut world);
    flush_nemesis(&recorder, &nemesis, state);
    state.records = nemesis.records().to_vec();
    state.fault_spans = nemesis.fault_spans(t);

    // The run stops at the first broken invariant: the phases after it
    // would judge a cluster already known to be broken, and their verdicts
    // would only hide the one that caught it.
    if state.monitor.violation().is_none() {
        after_heal(config, &mut world, state, &mut nemesis, &recorder, &clients)?;
    }
    state.stopped_early = state.monitor.violation().is_some()
        && (state.liveness.is_none() || state.agreement.is_none());
    // With the outcomes of admin requests that ended after the heal.
    state.records = nemesis.records().to_vec();

    clients.phase.set(ClientPhase::Done);
    for (&id, h) in &world.nodes {
        state.stats.disk.insert(id, h.disk.stats());
        if let Some(f) = h.failure.borrow().as_ref() {
            state.stats.failures.insert(id, f.clone());
        }
    }
    state.stats.invariant_checks = state.monitor.checks();
    Ok(())
}

/// Liveness, final reads and convergence, after every fault is healed at
/// `t`. Stops early at an invariant violation.
fn after_heal(
    config: &RunConfig,
    world: &mut World,
    state: &mut RunState,
    nemesis: &mut Nemesis,
    recorder: &RefCell<Recorder>,
    clients: &Clients,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = now_ms(world);
    // Liveness: one leader and a fresh write and read, within the bound.
    clients.probe_requested.set(true);
    let deadline = t + config.bounds.liveness_ms;
    while clients.probe_succeeded_ms.get().is_none()
        && now_ms(world) < deadline
        && state.monitor.violation().is_none()
    {
        step(world, state, nemesis, recorder)?;
    }
    if state.monitor.violation().is_some() {
        return Ok(());
    }
    let leaders = leaders(world);
    state.liveness = Some(match clients.probe_succeeded_ms.get() {
        Some(at) if leaders.len() == 1 => {
            let _ = at;
            Ok(())
        }
        Some(_) => Err(format!(
            "after the heal a write and a read succeeded, but nodes {leaders:?} all claim to lead"
        )),
        None => Err(format!(
            "no fresh write and read succeeded within {} ms of the heal (leaders: {leaders:?}; the last attempt failed at {})",
            config.bounds.liveness_ms,
            clients
                .probe_failure
                .borrow()
                .as_deref()
                .unwrap_or("nothing: no attempt ended")
        )),
    });

    // Final reads, retried until they succeed (bounded: a cluster that
    // cannot serve them has already failed liveness).
    clients.phase.set(ClientPhase::Final);
    let deadline = now_ms(world) + config.bounds.liveness_ms;
    while !clients.final_done.get() && now_ms(world) < deadline {
        step(world, state, nemesis, recorder)?;
    }

    // Convergence: every running member applies the same state.
    let deadline = now_ms(world) + config.bounds.converge_ms;
    let mut verdict = converged(world, nemesis);
    while verdict.is_err() && now_ms(world) < deadline {
        step(world, state, nemesis, recorder)?;
        if state.monitor.violation().is_some() {
            return Ok(());
        }
        verdict = converged(world, nemesis);
    }
    state.agreement = Some(verdict);

    Ok(())
}

/// Running, unpaused nodes that claim to lead, with the highest term.
fn leaders(world: &World) -> Vec<NodeId> {
    let statuses = world.statuses();
    let top = statuses
        .values()
        .filter(|s| s.running && !s.paused && s.role == Role::Leader)
        .map(|s| s.term)
        .max();
    statuses
        .values()
        .filter(|s| s.running && !s.paused && s.role == Role::Leader && Some(s.term) == top)
        .map(|s| s.id)
        .collect()
}

/// Whether the membership the schedule means to have is in force (every
/// admin request ended, the leader's voters are the schedule's members) and
/// every running member of it has applied everything the leader committed,
/// to an identical state. Nodes out of the configuration are not compared:
/// a removed node stops hearing of entries after its removal.
fn converged(world: &mut World, nemesis: &Nemesis) -> Result<(), String> {
    if !world.admin_idle() {
        return Err("membership changes are still under way".into());
    }
    let config = match leaders(world).as_slice() {
        [l] => world.statuses()[l].config.clone(),
        other => return Err(format!("nodes {other:?} lead; expected exactly one")),
    };
    if &config.voters != nemesis.members() || !config.learners.is_empty() {
        return Err(format!(
            "after the heal the voters are {:?} and the learners {:?}; the schedule means the voters to be {:?}",
            config.voters,
            config.learners,
            nemesis.members()
        ));
    }
    let ids: Vec<NodeId> = world.nodes.keys().copied().collect();
    let mut live = Vec::new();
    for id in ids {
        if config.contains(id) && world.is_running(id) {
            live.push(id);
        }
    }
    let statuses = world.statuses();
    let commit = statuses
        .values()
        .filter(|s| live.contains(&s.id))
        .map(|s| s.commit)
        .max()
        .unwrap_or(0);
    let mut images: BTreeMap<NodeId, Vec<u8>> = BTreeMap::new();
    for &id in &live {
        let s = &statuses[&id];
        if s.applied < commit {
            return Err(format!(
                "node {id} applied only through {} of the {commit} committed entries",
                s.applied
            ));
        }
        match world.nodes[&id].controls.state_image() {
            Some(img) => {
                images.insert(id, img);
            }
            None => return Err(format!("node {id} has no state machine to compare")),
        }
    }
    let mut first: Option<(NodeId, &Vec<u8>)> = None;
    for (&id, img) in &images {
        match first {
            None => first = Some((id, img)),
            Some((f, fimg)) if fimg != img => {
                return Err(format!(
                    "nodes {f} and {id} applied the same {commit} entries but hold different states"
                ))
            }
            Some(_) => {}
        }
    }
    if live.is_empty() {
        return Err("no node is running".into());
    }
    Ok(())
}
