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

fn options() -> StoreOptions {
    StoreOptions { segment_bytes: 160 }
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
