//! The nemesis's disk faults (`sim::disk`) against the node's real store on
//! turmoil's simulated disk: each fault is seen by the store, which refuses
//! to go on rather than acknowledge what it did not store, and each heals.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faultline::node::storage::{DurableStore, FileSystem, SimFs, StorageError, WritableFile};
use faultline::raft::{Entry, EntryPayload, HardState};
use faultline::sim::{DiskControl, DiskMode, FaultyFs, FlipOutcome};
use faultline_nemesis::StoredFile;
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
fn a_stall_freezes_the_node_at_its_first_disk_call_until_healed() {
    let mut m = Machine::new();
    let frozen = Arc::new(AtomicI32::new(0));
    {
        let frozen = frozen.clone();
        m.disk.set_freeze_hook(Arc::new(move |on| {
            frozen.fetch_add(if on { 1 } else { -1 }, Ordering::SeqCst);
        }));
    }
    assert_eq!(m.run(append_synced(1, 2)), "ok");
    m.disk.inject(DiskMode::Stall);
    assert_eq!(frozen.load(Ordering::SeqCst), 0, "no I/O, no freeze");
    assert_eq!(m.run(append_synced(3, 4)), "ok");
    assert_eq!(m.run(append_synced(5, 6)), "ok");
    assert_eq!(frozen.load(Ordering::SeqCst), 1, "frozen once");
    assert!(m.disk.is_frozen());
    m.disk.heal();
    assert_eq!(frozen.load(Ordering::SeqCst), 0);
    assert_eq!(m.disk.stats().stalls, 1);
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
