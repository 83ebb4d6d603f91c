//! Crash-point exploration of durable storage on turmoil's simulated disk.
//!
//! A scripted workload (identity, votes, appends, syncs, truncations across
//! segments, snapshots that agree and disagree with the log, compaction) is
//! run once per mutating file-system operation it performs. Run `n` dies
//! just before operation `n`: it and every later one fail, then the host is
//! crashed, losing (or, with a block size set, tearing) everything not
//! synced. The next boot must recover a state the model allows, and the
//! boot after that must find the store still working.

mod storage_support;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use faultline::node::storage::{
    DurableStore, FileSystem, Recovered, SimFs, StoreIdentity, StoreOptions,
};
use faultline::raft::{Entry, HardState, Index, Snapshot, Term};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use storage_support::{entries, entry, run_boots, snapshot, Faults, FaultyFs};

const DIR: &str = "/data/node";

/// Small segments, so the workloads roll and drop several.
fn options() -> StoreOptions {
    StoreOptions {
        segment_bytes: 160,
        ..StoreOptions::default()
    }
}

fn open<F: FileSystem>(fs: F) -> (DurableStore<F>, Recovered) {
    DurableStore::open_with(fs, Path::new(DIR), options())
        .unwrap_or_else(|e| panic!("open failed: {e}"))
}

#[derive(Clone, Debug)]
enum Op {
    Identity(StoreIdentity),
    HardState(HardState),
    Append(Vec<Entry>),
    Sync,
    Truncate(Index),
    Snapshot(Snapshot),
    Compact(Index),
}

fn hs(term: Term, vote: Option<u64>) -> Op {
    Op::HardState(HardState { term, vote })
}

fn script() -> Vec<Op> {
    vec![
        Op::Identity(StoreIdentity::new("cluster", 1)),
        hs(1, Some(1)),
        Op::Append(entries(1, 5, 1)),
        Op::Sync,
        Op::Append(entries(6, 12, 1)),
        Op::Sync,
        hs(2, Some(2)),
        Op::Append(entries(13, 20, 2)),
        Op::Sync,
        Op::Truncate(9),
        Op::Append(entries(9, 15, 3)),
        Op::Sync,
        Op::Append(entries(16, 18, 3)),
        // Agrees with the log; syncs the buffered 16..=18 first.
        Op::Snapshot(snapshot(10, 3, &[1, 2])),
        Op::Compact(10),
        Op::Append(entries(19, 24, 3)),
        Op::Sync,
        hs(4, None),
        // Disagrees with the log (term 3 at index 22): replaces it.
        Op::Snapshot(snapshot(22, 9, &[1, 2, 3])),
        Op::Append(entries(23, 26, 9)),
        Op::Sync,
        // A Ready installing a leader's conflicting snapshot: truncation from
        // the old log's start, then entries partly covered by the snapshot.
        Op::Snapshot(snapshot(24, 11, &[1, 2, 3])),
        Op::Truncate(23),
        Op::Append(entries(22, 26, 11)),
        Op::Sync,
        Op::Truncate(26),
        Op::Append(entries(26, 27, 12)),
        Op::Sync,
    ]
}

/// What is durable: what a crash at that moment must recover.
#[derive(Clone, Debug, Default, PartialEq)]
struct Durable {
    hard_state: HardState,
    identity: Option<StoreIdentity>,
    snapshot: Option<Snapshot>,
    /// Entries after the snapshot.
    log: Vec<Entry>,
}

impl Durable {
    fn snap_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }

    fn term_at(&self, index: Index) -> Option<Term> {
        match &self.snapshot {
            Some(s) if s.meta.index == index => Some(s.meta.term),
            _ => self.log.iter().find(|e| e.index == index).map(|e| e.term),
        }
    }

    /// The log after `index`, if this state knows it.
    fn after(&self, index: Index) -> Option<Vec<Entry>> {
        (self.snap_index() <= index).then(|| {
            self.log
                .iter()
                .filter(|e| e.index > index)
                .cloned()
                .collect()
        })
    }
}

/// The model: durable state plus what is appended but not synced.
#[derive(Clone, Debug, Default)]
struct Model {
    durable: Durable,
    buffered: Vec<Entry>,
}

impl Model {
    /// Apply `op`, returning the durable states it passes through, in order:
    /// a crash during `op` may leave any of them, or anything between two
    /// neighbours.
    fn apply(&mut self, op: &Op) -> Vec<Durable> {
        let before = self.durable.clone();
        match op {
            Op::Identity(id) => self.durable.identity = Some(id.clone()),
            Op::HardState(h) => self.durable.hard_state = *h,
            Op::Append(es) => {
                let snap = self.durable.snap_index();
                self.buffered
                    .extend(es.iter().filter(|e| e.index > snap).cloned());
            }
            Op::Sync => self.durable.log.append(&mut self.buffered),
            Op::Truncate(i) => {
                self.durable.log.retain(|e| e.index < *i);
                self.buffered.retain(|e| e.index < *i);
            }
            Op::Compact(_) => {}
            Op::Snapshot(snap) => {
                self.durable.log.append(&mut self.buffered);
                let synced = self.durable.clone();
                let agrees = synced.term_at(snap.meta.index) == Some(snap.meta.term);
                self.durable.snapshot = Some(snap.clone());
                let stored = self.durable.clone();
                if agrees {
                    self.durable.log.retain(|e| e.index > snap.meta.index);
                } else {
                    self.durable.log.clear();
                }
                return vec![before, synced, stored, self.durable.clone()];
            }
        }
        vec![before, self.durable.clone()]
    }
}

fn common_prefix(a: &[Entry], b: &[Entry]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Whether `rec` lies between two neighbouring states of `path`.
fn explains(path: &[Durable], rec: &Recovered) -> Result<(), String> {
    let windows: Vec<(&Durable, &Durable)> = if path.len() == 1 {
        vec![(&path[0], &path[0])]
    } else {
        path.windows(2).map(|w| (&w[0], &w[1])).collect()
    };
    let s = rec.snapshot.as_ref().map_or(0, |s| s.meta.index);
    for (x, y) in windows {
        let either = |f: &dyn Fn(&Durable) -> bool| f(x) || f(y);
        if !either(&|d| d.hard_state == rec.hard_state)
            || !either(&|d| d.identity == rec.identity)
            || !either(&|d| d.snapshot == rec.snapshot)
        {
            continue;
        }
        let logs: Vec<Vec<Entry>> = [x, y].iter().filter_map(|d| d.after(s)).collect();
        let Some(first) = logs.first() else { continue };
        let must_have = logs.iter().map(|l| common_prefix(first, l)).min().unwrap();
        if rec.entries.len() >= must_have
            && rec.entries[..must_have] == first[..must_have]
            && logs.iter().any(|l| l.starts_with(&rec.entries))
        {
            return Ok(());
        }
    }
    Err(format!(
        "recovered hard state {:?}, snapshot at {s}, entries {:?}\nnot between neighbours of {path:#?}",
        rec.hard_state,
        rec.entries.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>()
    ))
}

/// Outcome of one run: the workload dies before its mutating operation
/// `crash_at`; the first recovery may die too, before its operation
/// `recovery_crash_at`; a second recovery must then make sense of it.
struct Run {
    ops_done: usize,
    path: Vec<Durable>,
    /// Mutating operations the first recovery performed (repairs).
    recovery_ops: usize,
    /// What the first recovery saw, if it got through.
    first_recovery: Option<Recovered>,
    after_crash: Option<Recovered>,
    after_restart: Option<Recovered>,
    appended_after_crash: Option<Entry>,
}

fn faulty(crash_at: Option<usize>) -> (FaultyFs<SimFs>, Faults) {
    let faults = Faults::default();
    faults.crash_at.set(crash_at);
    let fs = FaultyFs {
        inner: SimFs,
        faults: faults.clone(),
    };
    (fs, faults)
}

fn run(script: &[Op], crash_at: Option<usize>, recovery_crash_at: Option<usize>, seed: u64) -> Run {
    let result = Rc::new(RefCell::new(Run {
        ops_done: 0,
        path: vec![Durable::default()],
        recovery_ops: 0,
        first_recovery: None,
        after_crash: None,
        after_restart: None,
        appended_after_crash: None,
    }));
    let mut builder = turmoil::Builder::new();
    builder.rng_seed(seed).fs().block_size(8);
    let out = result.clone();
    let script = script.to_vec();
    run_boots(&builder, 4, move |k| {
        let mut out = out.borrow_mut();
        match k {
            0 => {
                let (fs, faults) = faulty(crash_at);
                let Ok((mut store, _)) = DurableStore::open_with(fs, Path::new(DIR), options())
                else {
                    out.ops_done = faults.ops.get();
                    return;
                };
                let mut model = Model::default();
                for op in &script {
                    let path = model.apply(op);
                    let result = match op {
                        Op::Identity(id) => store.set_identity(id),
                        Op::HardState(h) => store.save_hard_state(h),
                        Op::Append(es) => store.append(es),
                        Op::Sync => store.sync(),
                        Op::Truncate(i) => store.truncate_from(*i),
                        Op::Snapshot(s) => store.save_snapshot(s),
                        Op::Compact(i) => store.compact_to(*i),
                    };
                    out.path = path;
                    if let Err(e) = result {
                        assert!(crash_at.is_some(), "{op:?} failed without injection: {e}");
                        break;
                    }
                    out.path = vec![model.durable.clone()];
                }
                out.ops_done = faults.ops.get();
            }
            1 => {
                let (fs, faults) = faulty(recovery_crash_at);
                out.first_recovery = DurableStore::open_with(fs, Path::new(DIR), options())
                    .ok()
                    .map(|(_, rec)| rec);
                out.recovery_ops = faults.ops.get();
            }
            2 => {
                let (mut store, rec) = open(SimFs);
                let next = store.last_index() + 1;
                let e = entry(next, 100);
                store.append(std::slice::from_ref(&e)).unwrap();
                store.sync().unwrap();
                out.appended_after_crash = Some(e);
                out.after_crash = Some(rec);
            }
            _ => out.after_restart = Some(open(SimFs).1),
        }
    });
    Rc::try_unwrap(result).ok().unwrap().into_inner()
}

/// Check one run; return whether a recovery found a torn tail.
fn check(run: Run, at: &str) -> bool {
    let rec = run.after_crash.expect("recovered after the crash");
    if let Err(why) = explains(&run.path, &rec) {
        panic!("{at}: {why}");
    }
    let mut torn = rec.torn_tail.is_some();
    if let Some(first) = run.first_recovery {
        // The repairs of a completed recovery change nothing it reported.
        torn |= first.torn_tail.is_some();
        assert_eq!(
            Recovered {
                torn_tail: None,
                ..first
            },
            Recovered {
                torn_tail: None,
                ..rec.clone()
            },
            "{at}: recovering again changed the state"
        );
    }
    let mut want = rec.entries.clone();
    want.extend(run.appended_after_crash);
    let again = run.after_restart.expect("recovered after a clean restart");
    assert_eq!(again.entries, want, "{at}");
    assert_eq!(again.hard_state, rec.hard_state, "{at}");
    assert_eq!(again.snapshot, rec.snapshot, "{at}");
    torn
}

/// How much of the crash space an exploration covered.
#[derive(Default)]
struct Coverage {
    /// Crash points whose recovery found a torn tail.
    torn_tails: usize,
    /// Crash points inside a recovery's own repairs.
    repair_crashes: usize,
}

/// Crash `script` before each of its mutating operations in turn, and the
/// recovery that follows before each of its own.
fn explore(script: &[Op], label: &str) -> Coverage {
    let total = run(script, None, None, 0).ops_done;
    let mut coverage = Coverage::default();
    for crash_at in 0..=total {
        let seed = crash_at as u64;
        let clean = run(script, Some(crash_at), None, seed);
        let repairs = clean.recovery_ops;
        let at = format!("{label}: crash before operation {crash_at} of {total}");
        coverage.torn_tails += usize::from(check(clean, &at));
        coverage.repair_crashes += repairs;
        for recovery_crash_at in 0..repairs {
            let run = run(script, Some(crash_at), Some(recovery_crash_at), seed);
            let at = format!("{at}, then before repair {recovery_crash_at} of {repairs}");
            check(run, &at);
        }
    }
    coverage
}

#[test]
fn every_crash_point_recovers_an_acknowledged_state() {
    let script = script();
    let total = run(&script, None, None, 0).ops_done;
    assert!(
        total > 50,
        "the script performs only {total} mutating operations"
    );
    let coverage = explore(&script, "scripted");
    assert!(coverage.torn_tails > 0, "no crash point left a torn tail");
    assert!(
        coverage.repair_crashes > 0,
        "no recovery had repairs to crash in"
    );
}

/// A random but valid workload: the model decides what is legal next.
fn random_script(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut script = vec![Op::Identity(StoreIdentity::new("cluster", seed))];
    let mut term = 1;
    while script.len() < len {
        let snap = model.durable.snap_index();
        let last = model
            .buffered
            .last()
            .or(model.durable.log.last())
            .map_or(snap, |e| e.index);
        let op = match rng.random_range(0..12) {
            0..=3 => {
                let n = rng.random_range(1..6);
                Op::Append(entries(last + 1, last + n, term))
            }
            4..=6 => Op::Sync,
            7 if last > 0 => Op::Truncate(rng.random_range(1..=last)),
            8 if last > 0 => {
                let index = rng.random_range(snap.max(1)..=last);
                let mut all = model.durable.clone();
                all.log.extend(model.buffered.iter().cloned());
                let agreeing = all.term_at(index);
                let t = match agreeing {
                    Some(t) if rng.random_bool(0.7) => t,
                    _ => term + 5,
                };
                Op::Snapshot(snapshot(index, t, &[1, 2, 3]))
            }
            9 => Op::Compact(rng.random_range(0..=snap)),
            10 | 11 => {
                term += 1;
                hs(term, rng.random_bool(0.5).then_some(term % 3))
            }
            _ => continue,
        };
        model.apply(&op);
        script.push(op);
    }
    script
}

#[test]
fn every_crash_point_of_random_workloads_recovers_an_acknowledged_state() {
    let mut torn_tails = 0;
    for seed in 0..20 {
        let script = random_script(seed, 60);
        torn_tails += explore(&script, &format!("random workload {seed}")).torn_tails;
    }
    assert!(torn_tails > 0, "no crash point left a torn tail");
}

#[test]
fn the_model_rejects_lost_acknowledged_entries() {
    // The checker itself must be able to say no.
    let mut model = Model::default();
    model.apply(&Op::Append(entries(1, 3, 1)));
    let path = model.apply(&Op::Sync);
    let mut rec = Recovered {
        entries: entries(1, 3, 1),
        ..Recovered::default()
    };
    assert!(explains(&path, &rec).is_ok());
    rec.entries = entries(1, 1, 1);
    assert!(
        explains(&path, &rec).is_ok(),
        "a torn batch may keep a prefix"
    );
    let path = model.apply(&Op::HardState(HardState {
        term: 2,
        vote: None,
    }));
    assert!(
        explains(&path, &rec).is_err(),
        "entries synced earlier were lost"
    );
    rec.entries = entries(1, 3, 1);
    rec.hard_state = HardState {
        term: 3,
        vote: None,
    };
    assert!(explains(&path, &rec).is_err(), "a hard state never saved");
}
