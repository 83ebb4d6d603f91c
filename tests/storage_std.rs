//! Durable storage on real files: round trips, restarts, torn tails,
//! corruption, identity and poisoning.

mod storage_support;

use std::fs;
use std::path::{Path, PathBuf};

use faultline::node::storage::{
    DurableStore, Recovered, StdFs, StorageError, StoreIdentity, StoreOptions,
};
use faultline::raft::{Configuration, Entry, EntryPayload, HardState};
use storage_support::{entries, entry, frame_offsets, snapshot, Faults, FaultyFs};

fn open(dir: &Path) -> (DurableStore<StdFs>, Recovered) {
    DurableStore::open(StdFs, dir).expect("open")
}

fn open_small(dir: &Path) -> (DurableStore<StdFs>, Recovered) {
    DurableStore::open_with(
        StdFs,
        dir,
        StoreOptions {
            segment_bytes: 256,
            ..StoreOptions::default()
        },
    )
    .expect("open")
}

fn reopen_err(dir: &Path) -> StorageError {
    match DurableStore::open(StdFs, dir) {
        Ok(_) => panic!("expected opening {} to fail", dir.display()),
        Err(e) => e,
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_directory_opens_empty_and_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/node");
    let (store, rec) = open(&dir);
    assert_eq!(rec, Recovered::default());
    assert_eq!(store.last_index(), 0);
    assert!(dir.join("log").is_dir());
}

#[test]
fn restart_recovers_term_vote_log_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = entries(1, 3, 1);
    log.push(Entry {
        term: 2,
        index: 4,
        payload: EntryPayload::Config(Configuration::with_voters([1, 2, 3])),
    });
    log.push(Entry {
        term: 2,
        index: 5,
        payload: EntryPayload::Noop,
    });
    log.extend(entries(6, 40, 2));
    let hs = HardState {
        term: 2,
        vote: Some(3),
    };
    {
        let (mut store, _) = open(tmp.path());
        store.save_hard_state(&hs).unwrap();
        store.append(&log[..10]).unwrap();
        store.append(&log[10..]).unwrap();
        assert_eq!(store.synced_index(), 0);
        store.sync().unwrap();
        assert_eq!(store.synced_index(), 40);
    }
    let (store, rec) = open(tmp.path());
    assert_eq!(rec.hard_state, hs);
    assert_eq!(rec.entries, log);
    assert_eq!(rec.snapshot, None);
    assert_eq!(rec.torn_tail, None);
    assert_eq!(store.last_index(), 40);
    assert_eq!(store.term_of(4), Some(2));
}

#[test]
fn appends_without_sync_are_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open(tmp.path());
        store.append(&entries(1, 5, 1)).unwrap();
        store.sync().unwrap();
        store.append(&entries(6, 9, 1)).unwrap();
    }
    let (_, rec) = open(tmp.path());
    assert_eq!(rec.entries, entries(1, 5, 1));
}

#[test]
fn segments_roll_and_read_back_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=60 {
            store.append(&[entry(i, 1)]).unwrap();
            if i % 4 == 0 {
                store.sync().unwrap();
            }
        }
        store.sync().unwrap();
        assert!(store.segment_count() > 3, "{}", store.segment_count());
    }
    let (store, rec) = open_small(tmp.path());
    assert_eq!(rec.entries, entries(1, 60, 1));
    assert_eq!(store.segment_count(), segments(tmp.path()).len());
}

#[test]
fn truncate_across_segments_then_overwrite_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=40 {
            store.append(&[entry(i, 1)]).unwrap();
            store.sync().unwrap();
        }
        store.truncate_from(12).unwrap();
        assert_eq!(store.last_index(), 11);
        store.append(&entries(12, 20, 3)).unwrap();
        store.sync().unwrap();
        // Truncating what is only buffered touches nothing on disk.
        store.append(&entries(21, 25, 3)).unwrap();
        store.truncate_from(23).unwrap();
        store.append(&entries(23, 24, 4)).unwrap();
        store.sync().unwrap();
    }
    let (_, rec) = open_small(tmp.path());
    let mut want = entries(1, 11, 1);
    want.extend(entries(12, 22, 3));
    want.extend(entries(23, 24, 4));
    assert_eq!(rec.entries, want);
}

#[test]
fn append_with_a_gap_is_refused_without_poisoning() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(tmp.path());
    store.append(&entries(1, 3, 1)).unwrap();
    let err = store.append(&[entry(5, 1)]).unwrap_err();
    assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
    let err = store.append(&[entry(3, 1)]).unwrap_err();
    assert!(err.to_string().contains("truncate first"), "{err}");
    assert!(store.poisoned().is_none());
    store.append(&[entry(4, 1)]).unwrap();
    store.sync().unwrap();
    assert_eq!(store.synced_index(), 4);
}

#[test]
fn snapshot_survives_restart_and_drops_covered_segments() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=50 {
            store.append(&[entry(i, 2)]).unwrap();
            store.sync().unwrap();
        }
        let before = store.segment_count();
        store.save_snapshot(&snapshot(20, 2, &[1, 2])).unwrap();
        assert!(store.segment_count() < before);
        store.save_snapshot(&snapshot(30, 2, &[1, 2, 3])).unwrap();
        let snaps: Vec<String> = file_names(tmp.path())
            .into_iter()
            .filter(|n| n.starts_with("snapshot-"))
            .collect();
        assert_eq!(
            snaps,
            ["snapshot-00000000000000000030-00000000000000000002.snap"]
        );
    }
    let (store, rec) = open_small(tmp.path());
    assert_eq!(rec.snapshot, Some(snapshot(30, 2, &[1, 2, 3])));
    assert_eq!(rec.entries, entries(31, 50, 2));
    assert_eq!(store.term_of(30), Some(2));
    assert_eq!(store.last_index(), 50);
}

#[test]
fn snapshot_that_disagrees_with_the_log_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        store.append(&entries(1, 30, 1)).unwrap();
        store.sync().unwrap();
        // A leader's snapshot whose last entry has another term than ours.
        store.save_snapshot(&snapshot(20, 5, &[1])).unwrap();
        assert_eq!(store.last_index(), 20);
        assert_eq!(store.segment_count(), 0);
        let err = store.append(&[entry(25, 5)]).unwrap_err();
        assert!(matches!(err, StorageError::Invalid { .. }));
        store.append(&entries(21, 22, 5)).unwrap();
        store.sync().unwrap();
    }
    let (_, rec) = open_small(tmp.path());
    assert_eq!(rec.snapshot.unwrap().meta.index, 20);
    assert_eq!(rec.entries, entries(21, 22, 5));
}

#[test]
fn snapshot_past_the_end_of_the_log_starts_a_fresh_log() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open(tmp.path());
        store.append(&entries(1, 5, 1)).unwrap();
        store.sync().unwrap();
        store.save_snapshot(&snapshot(100, 3, &[1, 2, 3])).unwrap();
        store.append(&entries(101, 102, 3)).unwrap();
        store.sync().unwrap();
    }
    let (_, rec) = open(tmp.path());
    assert_eq!(rec.snapshot.unwrap().meta.index, 100);
    assert_eq!(rec.entries, entries(101, 102, 3));
}

#[test]
fn older_snapshots_and_compaction_past_the_snapshot_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open_small(tmp.path());
    store.append(&entries(1, 40, 1)).unwrap();
    store.sync().unwrap();
    store.save_snapshot(&snapshot(10, 1, &[1])).unwrap();
    let err = store.save_snapshot(&snapshot(9, 1, &[1])).unwrap_err();
    assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
    let err = store.compact_to(11).unwrap_err();
    assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
    store.compact_to(10).unwrap();
    assert!(store.poisoned().is_none());
}

#[test]
fn truncation_at_or_before_the_snapshot_empties_the_log_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open_small(tmp.path());
    store.append(&entries(1, 40, 1)).unwrap();
    store.sync().unwrap();
    store.save_snapshot(&snapshot(10, 1, &[1])).unwrap();
    store.truncate_from(4).unwrap();
    assert_eq!(store.last_index(), 10);
    drop(store);
    let (_, rec) = open_small(tmp.path());
    assert_eq!(rec.entries, []);
    assert_eq!(rec.snapshot.unwrap().meta.index, 10);
}

/// The order a node acts on a `Ready` that installs a leader's snapshot
/// over a conflicting log: snapshot, truncation from the old log's start,
/// then the leader's entries, some of which the snapshot already covers.
#[test]
fn ready_installing_a_conflicting_snapshot_applies_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        store.append(&entries(1, 30, 1)).unwrap();
        store.sync().unwrap();
        store.save_snapshot(&snapshot(20, 5, &[1, 2, 3])).unwrap();
        store.truncate_from(1).unwrap();
        store.append(&entries(15, 25, 5)).unwrap();
        store.sync().unwrap();
        let err = store.append(&entries(20, 26, 6)).unwrap_err();
        assert!(
            err.to_string().contains("contradicts the snapshot"),
            "{err}"
        );
        assert!(store.poisoned().is_none());
    }
    let (_, rec) = open_small(tmp.path());
    assert_eq!(rec.snapshot.unwrap().meta.index, 20);
    assert_eq!(rec.entries, entries(21, 25, 5));
}

#[test]
fn torn_tail_is_truncated_and_earlier_records_kept() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open(tmp.path());
        store.append(&entries(1, 8, 1)).unwrap();
        store.sync().unwrap();
    }
    let seg = segments(tmp.path()).pop().unwrap();
    let good = fs::read(&seg).unwrap();
    // Half of a record that was being written when the machine died.
    let mut partial = Vec::new();
    {
        let other = tempfile::tempdir().unwrap();
        let (mut s, _) = open(other.path());
        s.append(&entries(1, 9, 1)).unwrap();
        s.sync().unwrap();
        let bytes = fs::read(segments(other.path()).pop().unwrap()).unwrap();
        let last = *frame_offsets(&bytes).last().unwrap();
        partial.extend_from_slice(&bytes[last..last + (bytes.len() - last) / 2]);
    }
    let mut torn = good.clone();
    torn.extend_from_slice(&partial);
    fs::write(&seg, &torn).unwrap();

    let (mut store, rec) = open(tmp.path());
    assert_eq!(rec.entries, entries(1, 8, 1));
    let tail = rec.torn_tail.expect("torn tail reported");
    assert_eq!(tail.path, seg);
    assert_eq!(tail.offset, good.len() as u64);
    assert_eq!(tail.discarded, partial.len() as u64);
    assert_eq!(fs::read(&seg).unwrap(), good, "tail cut off the file");
    store.append(&entries(9, 10, 2)).unwrap();
    store.sync().unwrap();
    drop(store);
    let (_, rec) = open(tmp.path());
    let mut want = entries(1, 8, 1);
    want.extend(entries(9, 10, 2));
    assert_eq!(rec.entries, want);
    assert_eq!(rec.torn_tail, None);
}

#[test]
fn flipped_byte_inside_synced_data_is_corruption_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open(tmp.path());
        store.append(&entries(1, 10, 1)).unwrap();
        store.sync().unwrap();
    }
    let seg = segments(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let offsets = frame_offsets(&bytes);
    bytes[offsets[3] + 11] ^= 0x08;
    fs::write(&seg, &bytes).unwrap();
    match reopen_err(tmp.path()) {
        StorageError::Corrupt { path, offset, .. } => {
            assert_eq!(path, seg);
            assert_eq!(offset, offsets[3] as u64);
        }
        other => panic!("expected corruption, got {other}"),
    }
    let shown = reopen_err(tmp.path()).to_string();
    assert!(shown.contains(&seg.display().to_string()), "{shown}");
    assert!(shown.contains(&format!("offset {}", offsets[3])), "{shown}");
    // Nothing was "repaired": the data is still there for a human to inspect.
    assert_eq!(fs::read(&seg).unwrap(), bytes);
}

#[test]
fn damage_at_the_end_of_an_earlier_segment_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=30 {
            store.append(&[entry(i, 1)]).unwrap();
            store.sync().unwrap();
        }
    }
    let first = segments(tmp.path()).remove(0);
    let bytes = fs::read(&first).unwrap();
    fs::write(&first, &bytes[..bytes.len() - 3]).unwrap();
    let err = reopen_err(tmp.path());
    assert!(
        matches!(&err, StorageError::Corrupt { path, .. } if *path == first),
        "{err}"
    );
}

#[test]
fn a_missing_segment_is_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=30 {
            store.append(&[entry(i, 1)]).unwrap();
            store.sync().unwrap();
        }
    }
    let segs = segments(tmp.path());
    assert!(segs.len() >= 3);
    fs::remove_file(&segs[1]).unwrap();
    let err = reopen_err(tmp.path());
    assert!(err.to_string().contains("log gap"), "{err}");
}

#[test]
fn corrupt_hard_state_and_snapshot_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (mut store, _) = open(tmp.path());
        store
            .save_hard_state(&HardState {
                term: 7,
                vote: None,
            })
            .unwrap();
        store.append(&entries(1, 5, 7)).unwrap();
        store.save_snapshot(&snapshot(3, 7, &[1])).unwrap();
    }
    let hs = tmp.path().join("hardstate");
    let good = fs::read(&hs).unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    fs::write(&hs, &bad).unwrap();
    let err = reopen_err(tmp.path());
    assert!(
        matches!(&err, StorageError::Corrupt { path, .. } if *path == hs),
        "{err}"
    );
    fs::write(&hs, &good).unwrap();

    let snap = tmp
        .path()
        .join("snapshot-00000000000000000003-00000000000000000007.snap");
    let mut bytes = fs::read(&snap).unwrap();
    bytes.truncate(bytes.len() - 1);
    fs::write(&snap, &bytes).unwrap();
    let err = reopen_err(tmp.path());
    assert!(
        matches!(&err, StorageError::Corrupt { path, .. } if *path == snap),
        "{err}"
    );
}

#[test]
fn stray_files_in_the_log_directory_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    fs::write(tmp.path().join("log/notes.txt"), b"hello").unwrap();
    let err = reopen_err(tmp.path());
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn leftover_temporary_files_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    fs::write(tmp.path().join("hardstate.tmp"), b"half written").unwrap();
    let (_, rec) = open(tmp.path());
    assert_eq!(rec.hard_state, HardState::default());
    assert!(!tmp.path().join("hardstate.tmp").exists());
}

#[test]
fn identity_is_claimed_once_and_checked_after() {
    let tmp = tempfile::tempdir().unwrap();
    let me = StoreIdentity::new("cluster-a", 1);
    {
        let (mut store, rec) = open(tmp.path());
        assert_eq!(rec.identity, None);
        store.set_identity(&me).unwrap();
        store.set_identity(&me).unwrap();
        assert_eq!(store.identity(), Some(&me));
    }
    let (mut store, rec) = open(tmp.path());
    assert_eq!(rec.identity, Some(me.clone()));
    store.set_identity(&me).unwrap();
    for stranger in [
        StoreIdentity::new("cluster-a", 2),
        StoreIdentity::new("cluster-b", 1),
    ] {
        let err = store.set_identity(&stranger).unwrap_err();
        match &err {
            StorageError::IdentityMismatch {
                expected, found, ..
            } => {
                assert_eq!(expected, &stranger);
                assert_eq!(found, &me);
            }
            other => panic!("expected an identity mismatch, got {other}"),
        }
        let shown = err.to_string();
        assert!(
            shown.contains("cluster-a") && shown.contains(&tmp.path().display().to_string()),
            "{shown}"
        );
    }
}

#[test]
fn a_failed_fsync_poisons_the_store_but_synced_data_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let fs = FaultyFs {
        inner: StdFs,
        faults: faults.clone(),
    };
    {
        let (mut store, _) = DurableStore::open(fs.clone(), tmp.path()).unwrap();
        store.append(&entries(1, 4, 1)).unwrap();
        store.sync().unwrap();
        store.append(&entries(5, 6, 1)).unwrap();
        faults.fail_next.set(Some("fsync"));
        let err = store.sync().unwrap_err();
        assert!(matches!(err, StorageError::Io { op: "fsync", .. }), "{err}");
        assert_eq!(store.synced_index(), 4);
        // The disk would accept a retry now; the store must not.
        for result in [
            store.sync(),
            store.append(&entries(7, 7, 1)),
            store.save_hard_state(&HardState::default()),
        ] {
            let err = result.unwrap_err();
            assert!(matches!(err, StorageError::Poisoned { .. }), "{err}");
            assert!(err.to_string().contains("injected fsync failure"), "{err}");
        }
    }
    let (_, rec) = DurableStore::open(StdFs, tmp.path()).unwrap();
    assert!(rec.entries.starts_with(&entries(1, 4, 1)));
    assert!(rec.entries.len() <= 6);
}

#[test]
fn a_failed_hard_state_write_keeps_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let fs = FaultyFs {
        inner: StdFs,
        faults: faults.clone(),
    };
    let old = HardState {
        term: 3,
        vote: Some(1),
    };
    {
        let (mut store, _) = DurableStore::open(fs, tmp.path()).unwrap();
        store.save_hard_state(&old).unwrap();
        faults.fail_next.set(Some("rename"));
        let err = store
            .save_hard_state(&HardState {
                term: 4,
                vote: Some(2),
            })
            .unwrap_err();
        assert!(
            matches!(err, StorageError::Io { op: "rename", .. }),
            "{err}"
        );
        assert_eq!(store.hard_state(), old);
    }
    let (_, rec) = open(tmp.path());
    assert_eq!(rec.hard_state, old);
}

#[test]
fn entries_larger_than_a_segment_get_a_segment_each() {
    let tmp = tempfile::tempdir().unwrap();
    let big = |i: u64| Entry {
        term: 1,
        index: i,
        payload: EntryPayload::Command(vec![i as u8; 1000 + i as usize]),
    };
    {
        let (mut store, _) = open_small(tmp.path());
        for i in 1..=5 {
            store.append(&[big(i)]).unwrap();
            store.sync().unwrap();
        }
        assert_eq!(store.segment_count(), 5);
        store.truncate_from(3).unwrap();
        assert_eq!(store.segment_count(), 2);
        store.append(&[big(3)]).unwrap();
        store.sync().unwrap();
    }
    let (_, rec) = open_small(tmp.path());
    assert_eq!(rec.entries, (1..=3).map(big).collect::<Vec<_>>());
}

#[test]
fn a_segment_named_for_index_zero_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    fs::write(tmp.path().join("log/00000000000000000000.seg"), b"").unwrap();
    let err = reopen_err(tmp.path());
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

/// Every file of a populated store, relative to its directory.
fn store_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = file_names(dir)
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| p != Path::new("log"))
        .collect();
    files.extend(
        segments(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().to_path_buf()),
    );
    files
}

/// Damage of any kind to any file never panics and never serves altered
/// data: opening either fails or returns entries equal to what was written.
#[test]
fn damaged_files_never_panic_or_serve_altered_data() {
    use rand::{Rng, SeedableRng};
    let pristine = tempfile::tempdir().unwrap();
    let mut written = entries(1, 40, 2);
    written.push(Entry {
        term: 3,
        index: 41,
        payload: EntryPayload::Config(Configuration::with_voters([1, 2])),
    });
    {
        let (mut store, _) = open_small(pristine.path());
        store.set_identity(&StoreIdentity::new("c", 1)).unwrap();
        store
            .save_hard_state(&HardState {
                term: 3,
                vote: Some(1),
            })
            .unwrap();
        for chunk in written.chunks(3) {
            store.append(chunk).unwrap();
            store.sync().unwrap();
        }
        store.save_snapshot(&snapshot(12, 2, &[1, 2])).unwrap();
    }
    let files = store_files(pristine.path());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (mut opened, mut refused) = (0, 0);
    for round in 0..300 {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("log")).unwrap();
        for f in &files {
            fs::copy(pristine.path().join(f), tmp.path().join(f)).unwrap();
        }
        let victim = tmp.path().join(&files[rng.random_range(0..files.len())]);
        let mut bytes = fs::read(&victim).unwrap();
        match rng.random_range(0..4) {
            0 if !bytes.is_empty() => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= rng.random_range(1..=255u8);
            }
            1 => bytes.truncate(rng.random_range(0..=bytes.len())),
            2 => {
                let n = rng.random_range(1..64);
                bytes.extend((0..n).map(|_| rng.random::<u8>()));
            }
            _ => {
                let from = rng.random_range(0..=bytes.len());
                bytes[from..].fill(0);
            }
        }
        fs::write(&victim, &bytes).unwrap();
        match DurableStore::open_with(
            StdFs,
            tmp.path(),
            StoreOptions {
                segment_bytes: 256,
                ..StoreOptions::default()
            },
        ) {
            Ok((_, rec)) => {
                opened += 1;
                for e in &rec.entries {
                    assert_eq!(e, &written[e.index as usize - 1], "round {round}");
                }
                if let Some(snap) = &rec.snapshot {
                    assert_eq!(snap, &snapshot(12, 2, &[1, 2]), "round {round}");
                }
                assert_eq!(rec.hard_state.term, 3, "round {round}");
            }
            Err(e) => {
                refused += 1;
                assert!(
                    matches!(e, StorageError::Corrupt { .. } | StorageError::Io { .. }),
                    "round {round}: {e}"
                );
            }
        }
    }
    assert!(
        opened > 0 && refused > 0,
        "{opened} opened, {refused} refused"
    );
}

#[test]
fn open_as_refuses_a_foreign_directory_before_repairing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let owner = StoreIdentity::new("c", 1);
    {
        let (store, rec) = DurableStore::open_as(StdFs, tmp.path(), &owner).unwrap();
        assert_eq!(rec.identity, Some(owner.clone()));
        assert_eq!(store.identity(), Some(&owner));
    }
    {
        let (mut store, _) = open(tmp.path());
        store.append(&entries(1, 3, 1)).unwrap();
        store.sync().unwrap();
    }
    // A torn tail the owner's recovery would cut.
    let seg = segments(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
    fs::write(&seg, &bytes).unwrap();
    fs::write(tmp.path().join("hardstate.tmp"), b"junk").unwrap();

    let stranger = StoreIdentity::new("c", 2);
    let err = match DurableStore::open_as(StdFs, tmp.path(), &stranger) {
        Ok(_) => panic!("opened another node's directory"),
        Err(e) => e,
    };
    assert!(
        matches!(err, StorageError::IdentityMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        fs::read(&seg).unwrap(),
        bytes,
        "the foreign log was touched"
    );
    assert!(tmp.path().join("hardstate.tmp").exists());

    let (_, rec) = DurableStore::open_as(StdFs, tmp.path(), &owner).unwrap();
    assert_eq!(rec.entries, entries(1, 3, 1));
    assert!(rec.torn_tail.is_some());
}
