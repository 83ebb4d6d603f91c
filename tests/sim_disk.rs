//! The nemesis's disk faults (`sim::disk`) against the node's real store on
//! turmoil's simulated disk: each fault is seen by the store, which refuses
//! to go on rather than acknowledge what it did not store, and each heals;
//! and a stall against a whole cluster, where it holds back I/O only.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

mod suite_support;
use suite_support::{run_valid, scripted_config};

use faultline::node::storage::{DurableStore, FileSystem, SimFs, StorageError, WritableFile};
use faultline::raft::{Entry, EntryPayload, HardState};
use faultline::sim::{DiskControl, DiskMode, FaultyFs, FlipOutcome, Phase, RunConfig};
use faultline_histories::{EventType, Process};
use faultline_nemesis::{DiskFault, Fault, StoredFile, Target};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DIR: &str = "/data/n1";

type Store = DurableStore<FaultyFs<SimFs>>;

/// What one incarnation of the host keeps between commands.
struct Ctx {
    fs: FaultyFs<SimFs>,
    store: Option<Store>,
}

type Command = Box<dyn FnOnce(&mut Ctx) -> String>;

/// One simulated machine whose disk the test controls, running commands
/// the test sends it, one at a time, inside the host.
struct Machine {
    sim: turmoil::Sim<'static>,
    disk: DiskControl,
    inbox: Rc<RefCell<VecDeque<Command>>>,
    outbox: Rc<RefCell<Vec<String>>>,
}

impl Machine {
    fn new() -> Machine {
        let mut builder = turmoil::Builder::new();
        builder.simulation_duration(Duration::from_secs(3600));
        let mut sim = builder.build();
        let disk = DiskControl::new(DIR);
        let inbox: Rc<RefCell<VecDeque<Command>>> = Rc::default();
        let outbox: Rc<RefCell<Vec<String>>> = Rc::default();
        {
            let (disk, inbox, outbox) = (disk.clone(), inbox.clone(), outbox.clone());
            sim.host("n1", move || {
                let (disk, inbox, outbox) = (disk.clone(), inbox.clone(), outbox.clone());
                async move {
                    disk.attach_current_host();
                    let mut ctx = Ctx {
                        fs: disk.wrap(SimFs),
                        store: None,
                    };
                    loop {
                        let next = inbox.borrow_mut().pop_front();
                        match next {
                            Some(cmd) => {
                                let out = cmd(&mut ctx);
                                outbox.borrow_mut().push(out);
                            }
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                }
            });
        }
        Machine {
            sim,
            disk,
            inbox,
            outbox,
        }
    }

    /// Run `cmd` inside the host and return what it says.
    fn run(&mut self, cmd: impl FnOnce(&mut Ctx) -> String + 'static) -> String {
        let before = self.outbox.borrow().len();
        self.inbox.borrow_mut().push_back(Box::new(cmd));
        for _ in 0..1000 {
            self.sim.step().expect("simulation");
            if self.outbox.borrow().len() > before {
                return self.outbox.borrow()[before].clone();
            }
        }
        panic!("the host never ran the command");
    }

    /// Power-cut the machine and boot it again: unsynced writes are lost.
    fn reboot(&mut self) {
        self.sim.crash("n1");
        self.sim.bounce("n1");
    }
}

fn entries(from: u64, to: u64, term: u64) -> Vec<Entry> {
    (from..=to)
        .map(|index| Entry {
            term,
            index,
            payload: EntryPayload::Command(format!("cmd {index}").into_bytes()),
        })
        .collect()
}

fn open(ctx: &mut Ctx) -> Result<Vec<Entry>, StorageError> {
    let (store, recovered) = DurableStore::open(ctx.fs.clone(), Path::new(DIR))?;
    ctx.store = Some(store);
    Ok(recovered.entries)
}

fn store(ctx: &mut Ctx) -> &mut Store {
    ctx.store.as_mut().expect("opened")
}

/// Open, append `from..=to`, sync: "ok" or the error.
fn append_synced(from: u64, to: u64) -> impl FnOnce(&mut Ctx) -> String {
    move |ctx| {
        if ctx.store.is_none() {
            if let Err(e) = open(ctx) {
                return format!("open: {e}");
            }
        }
        let s = store(ctx);
        match s.append(&entries(from, to, 1)).and_then(|_| s.sync()) {
            Ok(()) => "ok".into(),
            Err(e) => format!("err: {e}"),
        }
    }
}

fn recovered_last_index() -> impl FnOnce(&mut Ctx) -> String {
    |ctx| match open(ctx) {
        Ok(entries) => format!("last {}", entries.last().map_or(0, |e| e.index)),
        Err(e) => format!("open: {e}"),
    }
}

#[test]
fn failed_fsync_poisons_the_store_and_the_unsynced_data_is_lost() {
    let mut m = Machine::new();
    assert_eq!(m.run(append_synced(1, 5)), "ok");
    m.disk.inject(DiskMode::FsyncFail);
    let out = m.run(append_synced(6, 9));
    assert!(out.starts_with("err") && out.contains("fsync"), "{out}");
    // Poisoned: even once the disk works again, this store never writes.
    m.disk.heal();
    let out = m.run(append_synced(10, 10));
    assert!(out.contains("unusable after an earlier failure"), "{out}");
    assert_eq!(m.disk.stats().fsync_failures, 1);
    m.reboot();
    assert_eq!(m.run(recovered_last_index()), "last 5");
    assert_eq!(m.run(append_synced(6, 7)), "ok");
}

#[test]
fn write_errors_are_reported_and_reads_still_work() {
    let mut m = Machine::new();
    assert_eq!(m.run(append_synced(1, 3)), "ok");
    m.disk.inject(DiskMode::WriteEio);
    let out = m.run(|ctx| {
        let err = ctx.fs.create(Path::new("/data/n1/x")).err().unwrap();
        let read = ctx.fs.list_dir(Path::new("/data/n1")).is_ok();
        format!("{:?} {read}", err.raw_os_error())
    });
    assert_eq!(out, format!("{:?} true", Some(libc::EIO)));
    let out = m.run(append_synced(4, 4));
    assert!(out.starts_with("err"), "{out}");
    m.disk.heal();
    m.reboot();
    assert_eq!(m.run(recovered_last_index()), "last 3");
}

#[test]
fn a_full_disk_refuses_growth_allows_removal_and_recovers_when_space_returns() {
    let mut m = Machine::new();
    assert_eq!(m.run(append_synced(1, 3)), "ok");
    let made = m.run(|ctx| {
        let mut f = ctx.fs.create(Path::new("/data/n1/junk")).unwrap();
        f.write_all_at(b"junk", 0).unwrap();
        f.sync_all().unwrap();
        "made".into()
    });
    assert_eq!(made, "made");
    m.disk.inject(DiskMode::Full);
    let out = m.run(|ctx| {
        let grow = ctx
            .fs
            .create(Path::new("/data/n1/more"))
            .err()
            .and_then(|e: io::Error| e.raw_os_error());
        let removed = ctx.fs.remove_file(Path::new("/data/n1/junk")).is_ok();
        format!("{grow:?} {removed}")
    });
    assert_eq!(out, format!("{:?} true", Some(libc::ENOSPC)));
    let out = m.run(|ctx| {
        let s = store(ctx);
        match s.save_hard_state(&HardState {
            term: 2,
            vote: Some(1),
        }) {
            Ok(()) => "saved".into(),
            Err(e) => format!("err: {e}"),
        }
    });
    assert!(out.starts_with("err"), "{out}");
    assert!(m.disk.stats().enospc >= 2);
    m.disk.heal();
    m.reboot();
    assert_eq!(m.run(recovered_last_index()), "last 3");
    assert_eq!(m.run(append_synced(4, 6)), "ok");
}

#[test]
fn a_stall_makes_io_wait_until_healed_and_nothing_else() {
    let mut m = Machine::new();
    assert_eq!(m.run(append_synced(1, 2)), "ok");
    let ask = |ctx: &mut Ctx| format!("wait {}", ctx.fs.io_wait().is_some());
    assert_eq!(m.run(ask), "wait false");
    m.disk.inject(DiskMode::Stall);
    assert_eq!(m.disk.stats().stalls, 0, "no I/O asked for, none held");
    // A task of the host waits for the disk; the host's other work goes on.
    let answered = Rc::new(Cell::new(false));
    let flag = answered.clone();
    let out = m.run(move |ctx| match ctx.fs.io_wait() {
        Some(wait) => {
            tokio::task::spawn_local(async move {
                wait.await;
                flag.set(true);
            });
            "waiting".into()
        }
        None => "no wait".into(),
    });
    assert_eq!(out, "waiting");
    assert!(m.disk.is_holding_io());
    assert_eq!(
        m.run(|_| "the host still runs".into()),
        "the host still runs"
    );
    for _ in 0..50 {
        m.sim.step().unwrap();
    }
    assert!(
        !answered.get(),
        "the wait outlasts simulated time until the heal"
    );
    assert_eq!(m.run(ask), "wait true");
    assert_eq!(m.disk.stats().stalls, 1, "one stall, counted once");
    m.disk.heal();
    m.sim.step().unwrap();
    assert!(answered.get());
    assert!(!m.disk.is_holding_io());
    assert_eq!(m.run(ask), "wait false");
    assert_eq!(m.run(append_synced(3, 4)), "ok");
}

/// A leader whose disk stalls keeps its followers (its heartbeats go on),
/// but nothing proposed during the stall commits until the disk answers,
/// and what a follower commits meanwhile is what the leader had stored.
#[test]
fn a_stalled_leader_keeps_heartbeating_but_commits_nothing_until_its_disk_answers() {
    const STALL: (u64, u64) = (2_000, 4_000);
    let config = cluster_config(
        31,
        vec![(
            STALL.0,
            Some(STALL.1),
            Fault::Disk {
                target: Target::Leader,
                disk: DiskFault::Stall,
            },
        )],
    );
    // Linearizable, every invariant (durability included) after every
    // step, agreement and liveness.
    let out = run_valid(&config, None);
    let stalled = out
        .faults_applied
        .iter()
        .find(|r| r.phase == Phase::Inject)
        .map(|r| r.nodes.clone())
        .expect("the stall was injected");
    let [stalled] = stalled[..] else {
        panic!("one node stalls: {stalled:?}")
    };
    assert_eq!(out.stats.disk[&stalled].stalls, 1, "its I/O waited");

    // Timers and network went on: the stalled node led throughout, and no
    // follower moved to another term or leader.
    let ms = |t: u64| t * 1_000_000;
    assert!(
        out.leader_spans.iter().any(|s| s.node == stalled
            && s.start_ns < ms(STALL.0)
            && s.end_ns.is_none_or(|e| e > ms(STALL.1))),
        "{:?}",
        out.leader_spans
    );
    let at_start = |node: u64| {
        out.trace
            .iter()
            .rfind(|l| l.node == node && l.time_ns <= ms(STALL.0))
            .map(|l| l.state)
            .expect("seen before the stall")
    };
    let followers: Vec<u64> = config
        .nodes
        .iter()
        .copied()
        .filter(|&n| n != stalled)
        .collect();
    for &f in &followers {
        let before = at_start(f);
        for l in out
            .trace
            .iter()
            .filter(|l| l.node == f && l.time_ns > ms(STALL.0) && l.time_ns < ms(STALL.1))
        {
            assert_eq!(
                (l.state.term, l.state.leader),
                (before.term, Some(stalled)),
                "node {f} left the stalled leader: {l}"
            );
        }
    }

    // Writes waited: none invoked during the stall succeeded before it
    // ended, and followers' commit indexes stopped within a few entries of
    // where they were (entries the leader had stored before the stall).
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut writes_ok_during = Vec::new();
    for e in &out.history {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                invoked.insert(p, e.time);
            }
            EventType::Ok if matches!(e.f.as_str(), "write" | "cas") => {
                let at = invoked.get(&p).copied().unwrap_or(0);
                if at >= ms(STALL.0 + 100) && e.time < ms(STALL.1) {
                    writes_ok_during.push(e.index);
                }
            }
            _ => {}
        }
    }
    assert!(
        writes_ok_during.is_empty(),
        "writes {writes_ok_during:?} succeeded while the leader's disk stalled"
    );
    let commit_in = |node: u64, from: u64, to: u64| {
        out.trace
            .iter()
            .filter(|l| l.node == node && l.time_ns >= ms(from) && l.time_ns < ms(to))
            .map(|l| l.state.commit)
            .max()
    };
    let writes_after = out
        .history
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == "write" && e.time > ms(STALL.1))
        .count();
    assert!(writes_after > 10, "writes go on after the stall");
    for &f in &followers {
        let start = at_start(f).commit;
        let during = commit_in(f, STALL.0 + 200, STALL.1).unwrap_or(start);
        assert!(
            during <= start + 16,
            "node {f} committed {during} during the stall, from {start}"
        );
        let after = commit_in(f, STALL.1, config.heal_at_ms()).unwrap_or(0);
        assert!(after > during, "node {f} commits again after the stall");
    }
}

/// `config` of `seed` without nemesis, its schedule `faults`, a 6 s fault
/// phase.
fn cluster_config(seed: u64, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    scripted_config(seed, 6_000, faults)
}

#[test]
fn a_flipped_bit_in_the_stable_state_makes_the_node_fail_stop() {
    let mut m = Machine::new();
    let out = m.run(|ctx| {
        open(ctx).unwrap();
        store(ctx)
            .save_hard_state(&HardState {
                term: 7,
                vote: Some(2),
            })
            .unwrap();
        "ok".into()
    });
    assert_eq!(out, "ok");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let outcome = m.disk.flip_bits(StoredFile::Stable, 1, &mut rng);
    assert!(
        matches!(outcome, FlipOutcome::Flipped { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        m.disk.flip_bits(StoredFile::Snapshot, 1, &mut rng),
        FlipOutcome::NoFile
    );
    m.reboot();
    let out = m.run(recovered_last_index());
    assert!(out.starts_with("open:") && out.contains("corrupt"), "{out}");
}

#[test]
fn flipped_bits_in_the_log_are_never_served() {
    for seed in 0..8 {
        let mut m = Machine::new();
        for chunk in 0..4 {
            assert_eq!(m.run(append_synced(chunk * 10 + 1, chunk * 10 + 10)), "ok");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let outcome = m.disk.flip_bits(StoredFile::Log, 3, &mut rng);
        assert!(
            matches!(outcome, FlipOutcome::Flipped { .. }),
            "{outcome:?}"
        );
        m.reboot();
        let out = m.run(|ctx| match open(ctx) {
            Ok(got) => {
                if got == entries(1, 40, 1) {
                    "intact".into()
                } else {
                    format!("served altered data: {} entries", got.len())
                }
            }
            Err(e) => format!("refused: {e}"),
        });
        assert!(out.starts_with("refused"), "seed {seed}: {out}");
    }
}

#[test]
fn flips_need_a_started_node() {
    let disk = DiskControl::new(DIR);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        disk.flip_bits(StoredFile::Log, 1, &mut rng),
        FlipOutcome::NoDisk
    );
}
