//! Running many seeds in parallel: `jobs` worker threads take seeds from a
//! shared iterator (each simulation is single-threaded and self-contained,
//! so seeds are independent), and the calling thread collects results in
//! completion order, so it alone writes the ledger and draws progress.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::ledger::{SeedRecord, Status};

/// Worker threads get a large stack: a simulation runs a whole cluster's
/// futures on one thread, and deep async state machines live on it.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// How to run a batch of seeds.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub jobs: usize,
    /// Stop taking new seeds after the first failure (valid runs excepted).
    pub fail_fast: bool,
    /// Stop taking new seeds after this much wall time.
    pub time_limit: Option<Duration>,
}

/// What a batch did.
#[derive(Clone, Debug, Default)]
pub struct BatchSummary {
    pub records: Vec<SeedRecord>,
    pub elapsed: Duration,
    /// The batch stopped early (fail-fast or the time limit).
    pub stopped_early: bool,
}

impl BatchSummary {
    pub fn count(&self, status: Status) -> usize {
        self.records.iter().filter(|r| r.status == status).count()
    }

    /// Failures, by seed.
    pub fn failures(&self) -> Vec<&SeedRecord> {
        let mut f: Vec<&SeedRecord> = self.records.iter().filter(|r| r.is_failure()).collect();
        f.sort_by_key(|r| r.seed);
        f
    }

    /// The worst status of all seeds (valid if none ran).
    pub fn worst(&self) -> Status {
        self.records
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(Status::Valid)
    }

    pub fn seeds_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.records.len() as f64 / s
        } else {
            0.0
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Run `run_seed` on every seed from `seeds` with `opts.jobs` threads,
/// calling `on_record` on this thread for each result as it arrives. A
/// panic in `run_seed` is recorded as a harness crash of that seed, made
/// by `crashed(seed, message)`.
pub fn run_batch<I, F, C, R>(
    seeds: I,
    opts: &BatchOptions,
    run_seed: F,
    crashed: C,
    mut on_record: R,
) -> BatchSummary
where
    I: Iterator<Item = u64> + Send,
    F: Fn(u64) -> SeedRecord + Sync,
    C: Fn(u64, String) -> SeedRecord + Sync,
    R: FnMut(&SeedRecord),
{
    let start = Instant::now();
    let deadline = opts.time_limit.map(|d| start + d);
    let seeds = Mutex::new(seeds);
    let stop = AtomicBool::new(false);
    let fail_fast = opts.fail_fast;
    let mut summary = BatchSummary::default();
    let (tx, rx) = mpsc::channel::<SeedRecord>();
    thread::scope(|scope| {
        for worker in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (seeds, stop, run_seed, crashed) = (&seeds, &stop, &run_seed, &crashed);
            thread::Builder::new()
                .name(format!("seed-worker-{worker}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, move || loop {
                    if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
                    {
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    // A worker that panicked while holding the lock cannot
                    // exist (run_seed runs outside it), so poison is moot.
                    let next = seeds.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some(seed) = next else { return };
                    let record = catch_unwind(AssertUnwindSafe(|| run_seed(seed)))
                        .unwrap_or_else(|p| crashed(seed, panic_message(p.as_ref())));
                    if fail_fast && record.is_failure() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send(record).is_err() {
                        return;
                    }
                })
                .expect("spawning a worker thread");
        }
        drop(tx);
        for record in rx {
            on_record(&record);
            summary.records.push(record);
        }
    });
    summary.elapsed = start.elapsed();
    summary.stopped_early = stop.load(Ordering::Relaxed);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seed: u64, status: Status) -> SeedRecord {
        SeedRecord {
            seed,
            status,
            caught_by: vec![],
            reason: String::new(),
            wall_ms: 0,
            sim_ms: 0,
            history_hash: String::new(),
            dir: None,
            repro: format!("faultline run --seed {seed}"),
        }
    }

    fn crash(seed: u64, why: String) -> SeedRecord {
        SeedRecord {
            reason: why,
            ..record(seed, Status::HarnessCrash)
        }
    }

    #[test]
    fn runs_every_seed_once_across_threads() {
        let opts = BatchOptions {
            jobs: 4,
            fail_fast: false,
            time_limit: None,
        };
        let mut seen = 0;
        let s = run_batch(
            0..200u64,
            &opts,
            |seed| {
                record(
                    seed,
                    if seed % 50 == 7 {
                        Status::Invalid
                    } else {
                        Status::Valid
                    },
                )
            },
            crash,
            |_| seen += 1,
        );
        assert_eq!(seen, 200);
        let mut seeds: Vec<u64> = s.records.iter().map(|r| r.seed).collect();
        seeds.sort();
        assert_eq!(seeds, (0..200).collect::<Vec<_>>());
        assert_eq!(
            s.failures().iter().map(|r| r.seed).collect::<Vec<_>>(),
            vec![7, 57, 107, 157]
        );
        assert_eq!(s.worst(), Status::Invalid);
        assert!(!s.stopped_early);
    }

    #[test]
    fn fail_fast_stops_taking_seeds() {
        let opts = BatchOptions {
            jobs: 2,
            fail_fast: true,
            time_limit: None,
        };
        let s = run_batch(
            0..10_000u64,
            &opts,
            |seed| {
                record(
                    seed,
                    if seed == 3 {
                        Status::Invalid
                    } else {
                        Status::Valid
                    },
                )
            },
            crash,
            |_| {},
        );
        assert!(s.stopped_early);
        assert!(s.records.len() < 10_000);
        assert_eq!(s.count(Status::Invalid), 1);
    }

    #[test]
    fn time_limit_ends_an_endless_range() {
        let opts = BatchOptions {
            jobs: 2,
            fail_fast: false,
            time_limit: Some(Duration::from_millis(50)),
        };
        let s = run_batch(
            0u64..,
            &opts,
            |seed| {
                thread::sleep(Duration::from_millis(1));
                record(seed, Status::Valid)
            },
            crash,
            |_| {},
        );
        assert!(s.stopped_early);
        assert!(!s.records.is_empty());
        assert!(s.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn a_panicking_seed_is_a_harness_crash_not_the_end() {
        let opts = BatchOptions {
            jobs: 2,
            fail_fast: false,
            time_limit: None,
        };
        let s = run_batch(
            0..20u64,
            &opts,
            |seed| {
                if seed == 5 {
                    panic!("boom at {seed}");
                }
                record(seed, Status::Valid)
            },
            crash,
            |_| {},
        );
        assert_eq!(s.records.len(), 20);
        let f = s.failures();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::HarnessCrash);
        assert_eq!(f[0].reason, "boom at 5");
        assert_eq!(s.worst(), Status::HarnessCrash);
    }
}
