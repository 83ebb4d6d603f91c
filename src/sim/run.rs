//! [`run`]: one simulated run from its configuration to its outcome.
//!
//! Phases, on simulated time: the fault phase (clients run the workload,
//! the nemesis applies its schedule) until `duration_ms`; the heal (every
//! fault removed, clocks reset); the liveness probe (one leader, a fresh
//! write and read within `bounds.liveness_ms`); the reconciliation of the
//! membership with the schedule's intent (re-driving what the fault phase
//! dropped, within `reconcile_ms`; failing that is a liveness failure);
//! the final reads; and convergence (every running member holds the same
//! configuration and applies the same log to the same state within
//! `bounds.converge_ms`). Invariants are checked after every simulation
//! step throughout.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use faultline_histories::store::Header;
use faultline_histories::{Event, EventType, Process};
use faultline_nemesis::{FaultSpan, LeaderSpan, NodeId};
use faultline_workloads::Generator;
use serde::{Deserialize, Serialize};

use super::admin::AdminOutcome;
use super::availability::Availability;
use super::client::{nemesis_value, ClientPhase, Clients};
use super::config::RunConfig;
use super::disk::DiskStats;
use super::history::{history_hash, Recorder};
use super::monitor::Monitor;
use super::nemesis::{Cluster, Nemesis, NemesisRecord, Phase};
use super::reconcile::{self, Poll, Reconciler};
use super::trace::{NodeState, TraceLine, Tracer};
use super::world::{World, CLIENT_HOST};
use crate::kv::Entry;
use crate::node::NodeStatus;
use crate::raft::{Configuration, Role};

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
    /// Liveness: a sound quorum had a leader during the faults
    /// ([`super::availability`]), and the cluster served after the heal.
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

    /// Why the harness cannot vouch for this run: a panic or simulation
    /// error inside, or else a history that could not be written (the
    /// stored run would not be the one judged).
    pub fn harness_failure(&self) -> Option<String> {
        match (&self.crashed, &self.write_error) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(w)) => Some(format!("the history could not be written: {w}")),
            (None, None) => None,
        }
    }
}

/// An empty run that passed its in-run checks: a base for stand-in
/// simulations in tests.
impl Default for RunOutcome {
    fn default() -> RunOutcome {
        RunOutcome {
            seed: 0,
            history: Vec::new(),
            history_hash: String::new(),
            invariant_violation: None,
            agreement: Ok(()),
            liveness: Ok(()),
            stopped_early: false,
            faults_applied: Vec::new(),
            fault_spans: Vec::new(),
            leader_spans: Vec::new(),
            trace: Vec::new(),
            sim_time_ms: 0,
            wall_time_ms: 0,
            crashed: None,
            write_error: None,
            stats: RunStats::default(),
        }
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
/// and the per-step checks; returns the admin requests that ended.
fn step(
    world: &mut World,
    state: &mut RunState,
    nemesis: &mut Nemesis,
    recorder: &RefCell<Recorder>,
) -> Result<Vec<AdminOutcome>, Box<dyn std::error::Error>> {
    world.sim.step()?;
    state.stats.steps += 1;
    let t = now_ms(world);
    state.sim_time_ms = t;
    let ended = world.drive_admin(t);
    for outcome in &ended {
        nemesis.admin_ended(outcome, world);
    }
    flush_nemesis(recorder, nemesis, state);
    let changed = world.refresh_statuses();
    state
        .monitor
        .observe_changed(t, changed.iter().filter_map(|&id| world.cached_status(id)));
    // Fail-stops on damaged synced data or on a storage refusal: the
    // monitor judges them, knowing which nodes a disk fault touched.
    for (&id, h) in &world.nodes {
        if let Some(cause) = h.fail_stop.take() {
            let why = h.failure.borrow().clone().unwrap_or_default();
            state
                .monitor
                .fail_stopped(t, id, cause, nemesis.disk_faulted(id), &why);
        }
    }
    // Every node, not only the changed ones: the nemesis's pause shows in
    // the trace without the node's status changing.
    for s in world.cached_statuses() {
        state
            .tracer
            .observe(t * 1_000_000, s.id, node_state(s, nemesis));
    }
    Ok(ended)
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
        let error = match rec.phase {
            Phase::Skip => Some(format!(
                "skipped: {}",
                rec.detail.as_deref().unwrap_or("not applicable")
            )),
            Phase::Failed => Some(format!(
                "failed: {}",
                rec.detail.as_deref().unwrap_or("unknown")
            )),
            _ => None,
        };
        let value = nemesis_value(rec.id, &rec.nodes, &rec.description, rec.detail.as_deref());
        r.push(
            rec.time_ms * 1_000_000,
            Entry::nemesis(&rec.f, value, error),
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
    let mut availability = Availability::new(config);
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
        availability.observe(now_ms(&world), &nemesis, world.cached_statuses());
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
        // A leaderless stretch in the fault phase fails liveness even if
        // the heal got the cluster going again.
        if let Some(why) = availability.failure() {
            state.liveness = Some(Err(match state.liveness.take() {
                Some(Err(after)) => format!("{why}; and after the heal: {after}"),
                _ => why.to_string(),
            }));
        }
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
    let revived = revive_unremoved(world, nemesis);
    for &n in &revived {
        nemesis.reconcile_record(
            t,
            Phase::Step,
            vec![n],
            format!("heal: restart node {n}"),
            "its removal never took effect: it is a member that was stopped".into(),
        );
    }
    flush_nemesis(recorder, nemesis, state);
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
    let probe = match clients.probe_succeeded_ms.get() {
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
    };

    // The membership the schedule means to end with, before judging it.
    let reconciled = reconcile_membership(config, world, state, nemesis, recorder, &revived)?;
    if state.monitor.violation().is_some() {
        return Ok(());
    }
    state.liveness = Some(match (probe, &reconciled) {
        (Ok(()), Ok(())) => Ok(()),
        (Ok(()), Err(why)) => Err(why.clone()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(why)) => Err(format!("{e}; and {why}")),
    });

    // Final reads, retried until they succeed (bounded: a cluster that
    // cannot serve them has already failed liveness).
    clients.phase.set(ClientPhase::Final);
    let deadline = now_ms(world) + config.bounds.liveness_ms;
    while !clients.final_done.get() && now_ms(world) < deadline {
        step(world, state, nemesis, recorder)?;
    }

    // Convergence: every running member holds the same configuration
    // and applies the same state; after a reconciliation that succeeded,
    // the configuration is the schedule's.
    let intent = reconciled.is_ok().then(|| nemesis.members().clone());
    let deadline = now_ms(world) + config.bounds.converge_ms;
    let mut verdict = converged(world, intent.as_ref());
    while verdict.is_err() && now_ms(world) < deadline {
        step(world, state, nemesis, recorder)?;
        if state.monitor.violation().is_some() {
            return Ok(());
        }
        verdict = converged(world, intent.as_ref());
    }
    state.agreement = Some(verdict);

    Ok(())
}

/// Bring the membership to the schedule's final intent (its members as
/// voters, no learners): the requests still left from the fault phase are
/// dropped, and the configuration the leader holds is driven to the
/// intent one change at a time, within `config.reconcile_ms()`; the
/// `revived` nodes (see [`revive_unremoved`]) are stopped again once it
/// gets there. `Err` says why it did not. Stops early at an invariant
/// violation.
fn reconcile_membership(
    config: &RunConfig,
    world: &mut World,
    state: &mut RunState,
    nemesis: &mut Nemesis,
    recorder: &RefCell<Recorder>,
    revived: &[NodeId],
) -> Result<Result<(), String>, Box<dyn std::error::Error>> {
    const HANDED_OVER: &str =
        "not done by the heal phase, which reconciles the membership with the schedule instead";
    const RECONCILE: &str = "reconcile the membership with the schedule";
    const GAVE_UP: &str = "the heal phase's reconciliation of the membership ran out of time";
    let t = now_ms(world);
    for outcome in world.abandon_admin(t, HANDED_OVER) {
        nemesis.admin_handed_over(&outcome);
    }
    flush_nemesis(recorder, nemesis, state);
    let id = nemesis.reconcile_id();
    let mut reconciler = Reconciler::new(
        nemesis.members().clone(),
        t,
        config.reconcile_ms(),
        config.raft.heartbeat_ms,
    );
    loop {
        let t = now_ms(world);
        match reconciler.poll(t, &world.statuses(), world.admin_idle()) {
            Poll::Propose(op) => {
                nemesis.reconcile_record(
                    t,
                    Phase::Step,
                    Nemesis::admin_nodes(&op),
                    format!("reconcile: {op:?}"),
                    "proposed".into(),
                );
                world.admin(id, op);
            }
            Poll::Pending => {}
            Poll::Done(what) => {
                nemesis.reconcile_record(t, Phase::Done, vec![], RECONCILE.into(), what);
                // Out of the configuration now: stopped, as the schedule
                // meant them to be.
                for &n in revived {
                    world.crash(n);
                }
                let in_force = Configuration::with_voters(reconciler.target().iter().copied());
                nemesis.stop_removed(t, &in_force, world);
                flush_nemesis(recorder, nemesis, state);
                return Ok(Ok(()));
            }
            Poll::Failed(why) => {
                for outcome in world.abandon_admin(t, GAVE_UP) {
                    nemesis.admin_handed_over(&outcome);
                }
                nemesis.reconcile_record(t, Phase::Failed, vec![], RECONCILE.into(), why.clone());
                flush_nemesis(recorder, nemesis, state);
                return Ok(Err(why));
            }
        }
        flush_nemesis(recorder, nemesis, state);
        for outcome in step(world, state, nemesis, recorder)? {
            if let (true, Err(why)) = (outcome.id == id, &outcome.result) {
                reconciler.change_failed(outcome.time_ms, why);
            }
        }
        if state.monitor.violation().is_some() {
            return Ok(Ok(()));
        }
    }
}

/// Restart the nodes the nemesis stopped for a removal that never took
/// effect: they are members that are down, and the quorum to remove them
/// may need them. Which configuration is in force is what the most
/// up-to-date log (highest term, then last index) says, as last
/// published: members just restarted by the heal have not recovered yet,
/// and after heavy churn every node the schedule means to keep may be new.
/// Returns them, to be stopped again once the membership is reconciled.
fn revive_unremoved(world: &mut World, nemesis: &Nemesis) -> Vec<NodeId> {
    let statuses = world.statuses();
    let Some(latest) = statuses
        .values()
        .filter(|s| !s.config.voters.is_empty())
        .max_by_key(|s| (s.term, s.last_index, std::cmp::Reverse(s.id)))
        .map(|s| s.config.clone())
    else {
        return Vec::new();
    };
    let listed = |n: NodeId| latest.contains(n);
    let ids: Vec<NodeId> = world.nodes.keys().copied().collect();
    let mut revived = Vec::new();
    for n in ids {
        if nemesis.is_removed(n) && !world.is_running(n) && listed(n) {
            world.restart(n);
            revived.push(n);
        }
    }
    revived
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

/// Whether one leader's configuration is held by every running member of
/// it, is the schedule's `intent` (the members as voters, no learners)
/// when given (after the reconciliation got there), and every running
/// member has applied everything committed, to an identical state. Nodes
/// out of the configuration are not compared: a removed node stops
/// hearing of entries after its removal.
fn converged(world: &mut World, intent: Option<&BTreeSet<NodeId>>) -> Result<(), String> {
    let config = match leaders(world).as_slice() {
        [l] => world.statuses()[l].config.clone(),
        other => return Err(format!("nodes {other:?} lead; expected exactly one")),
    };
    if let Some(intent) = intent.filter(|i| !reconcile::is_target(i, &config)) {
        return Err(format!(
            "after the membership was reconciled with the schedule the voters are {:?} and the \
             learners {:?}; the schedule means the voters to be {intent:?}",
            config.voters, config.learners,
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
    // Members that disagree on the membership would count different
    // quorums: the divergence a change let through while another was
    // uncommitted leaves.
    for &id in &live {
        let theirs = &statuses[&id].config;
        if theirs != &config {
            return Err(format!(
                "member {id} holds voters {:?} and learners {:?}, the leader voters {:?} and learners {:?}",
                theirs.voters, theirs.learners, config.voters, config.learners
            ));
        }
    }
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
