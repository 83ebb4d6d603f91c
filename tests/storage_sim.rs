//! Durable storage on turmoil's simulated disk: what survives `Sim::crash`.
//!
//! The centrepiece is a crash-point exploration: a scripted workload is run
//! once per mutating file-system operation, "dying" just before that
//! operation (it and everything after fail, then the host is crashed, so all
//! unsynced writes are lost or torn), and the recovered state is checked
//! against a model of what had been acknowledged.

mod storage_support;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use faultline::node::storage::{
    DurableStore, FileSystem, Recovered, SimFs, StorageError, StoreIdentity, StoreOptions,
};
use faultline::raft::{Entry, HardState, Term};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use storage_support::{entries, run_boots, snapshot, Faults, FaultyFs};

const DIR: &str = "/data/node";

/// What one incarnation of the host hands to the test.
type Shared<T> = Rc<RefCell<T>>;

/// Entries acknowledged, entries handed over, whether the store failed,
/// and what the next boot recovered.
type Outcome = (Vec<Entry>, Vec<Entry>, bool, Option<Recovered>);

fn options() -> StoreOptions {
    StoreOptions {
        segment_bytes: 160,
        ..StoreOptions::default()
    }
}

fn open<F: FileSystem>(fs: F) -> Result<(DurableStore<F>, Recovered), StorageError> {
    DurableStore::open_with(fs, Path::new(DIR), options())
}

#[test]
fn crash_keeps_synced_state_and_loses_unsynced_appends() {
    let seen: Rc<RefCell<Vec<Recovered>>> = Rc::default();
    let hs = HardState {
        term: 3,
        vote: Some(2),
    };
    let out = seen.clone();
    run_boots(&turmoil::Builder::new(), 3, move |k| {
        let (mut store, rec) = open(SimFs).unwrap();
        out.borrow_mut().push(rec);
        match k {
            0 => {
                store.set_identity(&StoreIdentity::new("c", 1)).unwrap();
                store.save_hard_state(&hs).unwrap();
                store.append(&entries(1, 30, 3)).unwrap();
                store.sync().unwrap();
                store.save_snapshot(&snapshot(12, 3, &[1, 2, 3])).unwrap();
                store.append(&entries(31, 35, 3)).unwrap();
                // Never synced: gone after the crash.
            }
            1 => {
                store.append(&entries(31, 32, 4)).unwrap();
                store.sync().unwrap();
            }
            _ => {}
        }
    });
    let seen = seen.borrow();
    assert_eq!(seen[0], Recovered::default());
    assert_eq!(seen[1].hard_state, hs);
    assert_eq!(seen[1].identity, Some(StoreIdentity::new("c", 1)));
    assert_eq!(seen[1].snapshot, Some(snapshot(12, 3, &[1, 2, 3])));
    assert_eq!(seen[1].entries, entries(13, 30, 3));
    let mut want = entries(13, 30, 3);
    want.extend(entries(31, 32, 4));
    assert_eq!(seen[2].entries, want);
}

#[test]
fn entries_written_without_fsync_are_readable_but_lost_on_crash() {
    let seen: Rc<RefCell<Vec<Recovered>>> = Rc::default();
    let out = seen.clone();
    run_boots(&turmoil::Builder::new(), 2, move |k| {
        let (mut store, rec) = open(SimFs).unwrap();
        out.borrow_mut().push(rec);
        if k == 0 {
            store.append(&entries(1, 5, 1)).unwrap();
            store.sync().unwrap();
            store.append(&entries(6, 9, 1)).unwrap();
            store.write_without_fsync().unwrap();
            // The store believes them written: the planted bug's illusion.
            assert_eq!(store.synced_index(), 9);
            assert_eq!(store.term_of(9), Some(1));
        }
    });
    let seen = seen.borrow();
    assert_eq!(seen[1].entries, entries(1, 5, 1));
}

#[test]
fn a_directory_claimed_by_another_node_is_refused_after_restart() {
    let result: Rc<RefCell<Option<StorageError>>> = Rc::default();
    let out = result.clone();
    run_boots(&turmoil::Builder::new(), 2, move |k| {
        let (mut store, _) = open(SimFs).unwrap();
        if k == 0 {
            store.set_identity(&StoreIdentity::new("c", 1)).unwrap();
        } else {
            *out.borrow_mut() = store.set_identity(&StoreIdentity::new("c", 2)).err();
        }
    });
    let err = result.borrow_mut().take().expect("identity mismatch");
    assert!(
        matches!(err, StorageError::IdentityMismatch { .. }),
        "{err}"
    );
}

#[test]
fn torn_final_batch_recovers_acknowledged_prefix_for_many_seeds() {
    let (mut torn, mut survived) = (0, 0);
    for seed in 0..40u64 {
        let mut builder = turmoil::Builder::new();
        builder.rng_seed(seed).fs().block_size(8);
        let acked: Rc<RefCell<Vec<Entry>>> = Rc::default();
        let written: Rc<RefCell<Vec<Entry>>> = Rc::default();
        let seen: Rc<RefCell<Vec<Recovered>>> = Rc::default();
        let extra: Rc<RefCell<Vec<Entry>>> = Rc::default();
        let (acked2, written2, extra2, seen2) =
            (acked.clone(), written.clone(), extra.clone(), seen.clone());
        run_boots(&builder, 3, move |k| {
            let faults = Faults::default();
            let fs = FaultyFs {
                inner: SimFs,
                faults: faults.clone(),
            };
            let (mut store, rec) = open(fs).unwrap();
            seen2.borrow_mut().push(rec.clone());
            let mut rng = ChaCha8Rng::seed_from_u64(seed * 1000 + k as u64);
            if k == 2 {
                return;
            }
            let mut next = rec.entries.last().map_or(1, |e| e.index + 1);
            let batches = if k == 0 { rng.random_range(1..6) } else { 1 };
            for b in 0..=batches {
                let n = rng.random_range(1..8);
                let batch = entries(next, next + n - 1, 1 + k as Term);
                next += n;
                store.append(&batch).unwrap();
                if k == 0 {
                    written2.borrow_mut().extend(batch.iter().cloned());
                } else {
                    extra2.borrow_mut().extend(batch.iter().cloned());
                }
                if k == 0 && b == batches {
                    // Die with the batch written but not fsynced.
                    faults.fail_next.set(Some("fsync"));
                    store.sync().unwrap_err();
                    return;
                }
                store.sync().unwrap();
                if k == 0 {
                    acked2.borrow_mut().extend(batch);
                }
            }
        });
        let seen = seen.borrow();
        let acked = acked.borrow();
        let written = written.borrow();
        let after_crash = &seen[1].entries;
        assert!(
            after_crash.starts_with(&acked[..]) && written.starts_with(after_crash),
            "seed {seed}: recovered {} entries, acknowledged {}, written {}",
            after_crash.len(),
            acked.len(),
            written.len()
        );
        torn += usize::from(seen[1].torn_tail.is_some());
        survived += usize::from(after_crash.len() > acked.len());
        // The store keeps working after cutting a torn tail.
        let mut want = after_crash.clone();
        want.extend(extra.borrow().iter().cloned());
        assert_eq!(seen[2].entries, want, "seed {seed}");
        assert_eq!(seen[2].torn_tail, None, "seed {seed}");
    }
    // The seeds must actually exercise both outcomes of a torn write.
    assert!(
        torn >= 5 && survived >= 5,
        "torn tails {torn}, surviving unsynced entries {survived}"
    );
}

/// Append batches until the store fails or `limit` batches are in; return
/// (entries acknowledged, entries handed to the store, the failure).
fn append_until_failure<F: FileSystem>(
    store: &mut DurableStore<F>,
    rng: &mut ChaCha8Rng,
    limit: usize,
) -> (Vec<Entry>, Vec<Entry>, Option<StorageError>) {
    let (mut acked, mut written) = (Vec::new(), Vec::new());
    let mut next = store.last_index() + 1;
    for _ in 0..limit {
        let n = rng.random_range(1..10);
        let batch = entries(next, next + n - 1, 1);
        next += n;
        written.extend(batch.iter().cloned());
        if let Err(e) = store.append(&batch).and_then(|()| store.sync()) {
            return (acked, written, Some(e));
        }
        acked.extend(batch);
        if rng.random_bool(0.1) {
            let term = store.hard_state().term + 1;
            if let Err(e) = store.save_hard_state(&HardState { term, vote: None }) {
                return (acked, written, Some(e));
            }
        }
    }
    (acked, written, None)
}

/// Every later call of a poisoned store fails, naming the first failure.
fn assert_poisoned<F: FileSystem>(store: &mut DurableStore<F>, first: &StorageError) {
    assert!(matches!(first, StorageError::Io { .. }), "{first}");
    assert!(store.poisoned().is_some());
    let next = store.last_index() + 1;
    for result in [
        store.sync(),
        store.append(&entries(next, next, 1)),
        store.truncate_from(next),
        store.save_hard_state(&HardState::default()),
    ] {
        match result {
            Err(StorageError::Poisoned { cause }) => assert_eq!(cause, first.to_string()),
            other => panic!("poisoned store answered {other:?}"),
        }
    }
}

#[test]
fn injected_io_errors_poison_the_store_and_lose_nothing_acknowledged() {
    let mut failures = 0;
    for seed in 0..30u64 {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(seed)
            .fs()
            .io_error_probability(0.02)
            .block_size(16);
        let outcome: Shared<Outcome> = Rc::default();
        let out = outcome.clone();
        run_boots(&builder, 2, move |k| {
            // Reads fail too, so opening may take a few tries; a failed open
            // changes nothing on disk.
            let opened = (0..50).find_map(|_| open(SimFs).ok());
            let (mut store, rec) = opened.expect("open kept failing");
            let mut out = out.borrow_mut();
            if k == 1 {
                out.3 = Some(rec);
                return;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (acked, written, failure) = append_until_failure(&mut store, &mut rng, 200);
            if let Some(first) = &failure {
                assert_poisoned(&mut store, first);
            }
            *out = (acked, written, failure.is_some(), None);
        });
        let (acked, written, failed, rec) = outcome.borrow_mut().clone();
        let rec = rec.expect("recovered");
        failures += usize::from(failed);
        assert!(
            rec.entries.starts_with(&acked) && written.starts_with(&rec.entries),
            "seed {seed}: recovered {}, acknowledged {}, written {}",
            rec.entries.len(),
            acked.len(),
            written.len()
        );
    }
    assert!(failures >= 10, "only {failures} runs saw an injected error");
}

#[test]
fn a_full_disk_poisons_the_store_and_keeps_what_was_synced() {
    let mut builder = turmoil::Builder::new();
    builder.rng_seed(7).fs().capacity(4096);
    let outcome: Shared<(Vec<Entry>, Option<String>, Option<Recovered>)> = Rc::default();
    let out = outcome.clone();
    run_boots(&builder, 2, move |k| {
        let (mut store, rec) = open(SimFs).unwrap();
        let mut out = out.borrow_mut();
        if k == 1 {
            out.2 = Some(rec);
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (acked, _, failure) = append_until_failure(&mut store, &mut rng, 10_000);
        let first = failure.expect("a 4 KiB disk fills up");
        assert_poisoned(&mut store, &first);
        out.0 = acked;
        out.1 = Some(first.to_string());
    });
    let (acked, error, rec) = outcome.borrow_mut().clone();
    let error = error.unwrap();
    assert!(error.contains("No space left"), "{error}");
    assert!(acked.len() > 20, "only {} entries fit", acked.len());
    assert_eq!(rec.unwrap().entries, acked);
}

#[test]
fn silent_read_corruption_is_refused_never_served_or_repaired() {
    let mut builder = turmoil::Builder::new();
    builder.rng_seed(3).fs().corruption_probability(0.2);
    let outcome: Rc<RefCell<(Vec<Entry>, usize, usize)>> = Rc::default();
    let out = outcome.clone();
    run_boots(&builder, 2, move |k| {
        let mut out = out.borrow_mut();
        if k == 0 {
            // Writing reads nothing back, so nothing here can be corrupted.
            let (mut store, _) = open(SimFs).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let (acked, _, failure) = append_until_failure(&mut store, &mut rng, 40);
            assert!(failure.is_none(), "{failure:?}");
            out.0 = acked;
            return;
        }
        for _ in 0..200 {
            match open(SimFs) {
                Ok((_, rec)) => {
                    assert_eq!(
                        rec.entries, out.0,
                        "served data that is not what was written"
                    );
                    assert_eq!(rec.torn_tail, None);
                    out.1 += 1;
                }
                Err(StorageError::Corrupt { .. }) => out.2 += 1,
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    });
    let (_, clean, refused) = *outcome.borrow();
    assert!(
        clean > 0 && refused > 0,
        "{clean} clean opens, {refused} refused"
    );
}

/// One faulty run, told as text: every call's outcome and what was recovered.
fn faulty_run_transcript(seed: u64) -> String {
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .fs()
        .io_error_probability(0.01)
        .sync_probability(0.1)
        .block_size(8);
    let transcript: Shared<String> = Rc::default();
    let out = transcript.clone();
    run_boots(&builder, 3, move |k| {
        let mut out = out.borrow_mut();
        match open(SimFs) {
            Ok((mut store, rec)) => {
                out.push_str(&format!("boot {k}: {rec:?}\n"));
                let mut rng = ChaCha8Rng::seed_from_u64(seed + k as u64);
                let (acked, _, failure) = append_until_failure(&mut store, &mut rng, 30);
                out.push_str(&format!("acked {} then {failure:?}\n", acked.len()));
            }
            Err(e) => out.push_str(&format!("boot {k}: {e}\n")),
        }
    });
    Rc::try_unwrap(transcript).unwrap().into_inner()
}

#[test]
fn faulty_runs_are_deterministic_per_seed() {
    let runs: Vec<String> = (0..4).map(faulty_run_transcript).collect();
    for (seed, first) in runs.iter().enumerate() {
        assert_eq!(
            *first,
            faulty_run_transcript(seed as u64),
            "seed {seed} replayed differently"
        );
    }
    assert!(
        runs.windows(2).any(|w| w[0] != w[1]),
        "seeds made no difference"
    );
}
