//! The commands end to end over a stand-in simulation: a deterministic
//! function of the configuration that fails in known ways, so the wiring
//! (store, capsule, ledger, repro, shrink, determinism) is tested apart
//! from the real simulation.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use faultline_histories::{Event, EventType, Process};
use serde_json::json;

use super::*;
use crate::harness::ledger;
use crate::harness::report::Capsule;
use crate::harness::shrink::fault_ids;
use crate::harness::store::{HISTORY, LEDGER, REPORT};
use crate::sim::{RunConfig, RunOutcome};

/// Seeds divisible by 5 break agreement when at least 3 faults and 2
/// clients are in play; everything else is valid.
fn fake(config: &RunConfig, _dir: Option<&Path>) -> RunOutcome {
    let mut history = Vec::new();
    for (i, c) in (0..config.clients as u64).enumerate() {
        let v = config.seed as i64 + i as i64;
        for (k, kind) in [EventType::Invoke, EventType::Ok].into_iter().enumerate() {
            history.push(Event {
                index: history.len() as u64,
                time: (2 * i + k) as u64 * 1_000,
                process: Process::Client(c),
                kind,
                f: "write".into(),
                key: Some(format!("r{c}")),
                value: json!(v),
                error: None,
            });
        }
    }
    let faults = fault_ids(&config.schedule).len();
    let broken = config.seed.is_multiple_of(5) && faults >= 3 && config.clients >= 2;
    RunOutcome {
        history_hash: format!("{:x}-{}-{}", config.seed, faults, config.clients),
        history,
        agreement: if broken {
            Err("node 1 and node 2 differ at index 4".into())
        } else {
            Ok(())
        },
        sim_time_ms: config.duration_ms,
        ..RunOutcome::default()
    }
}

fn parse(args: &[&str]) -> Command {
    Cli::try_parse_from(std::iter::once("faultline").chain(args.iter().copied()))
        .unwrap()
        .command
}

fn exit(code: ExitCode) -> ExitCode {
    code
}

fn out(dir: &Path) -> String {
    dir.display().to_string()
}

/// The one run directory under `root` whose name contains `part`.
fn run_dir(root: &Path, part: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir() && !p.is_symlink() && p.file_name().unwrap().to_str().unwrap().contains(part)
        })
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no run dir with {part} in {}", root.display()))
}

const FAST: [&str; 4] = ["--nemesis", "partition,crash", "--nemesis-interval", "1s"];

#[test]
fn run_stores_a_capsule_and_repro_replays_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut argv = vec![
        "run",
        "--seed",
        "10",
        "--out",
        &*Box::leak(out(tmp.path()).into_boxed_str()),
    ];
    argv.extend(FAST);
    let Command::Run(cmd) = parse(&argv) else {
        unreachable!()
    };
    assert_eq!(exit(run::run(&cmd, fake).unwrap()), ExitCode::from(1));
    let dir = run_dir(tmp.path(), "seed-10");
    let capsule = Capsule::read(&dir.join(REPORT)).unwrap();
    assert_eq!(capsule.seed, 10);
    assert_eq!(
        capsule.verdicts.caught_by,
        vec![crate::harness::verdict::Checker::Agreement]
    );
    assert!(capsule
        .repro
        .starts_with("faultline run --seed 10 --nemesis partition,crash"));
    assert!(dir.join(HISTORY).exists());
    assert!(tmp.path().join("latest").exists());

    let report = dir.join(REPORT).display().to_string();
    let o = out(tmp.path());
    let Command::Repro(cmd) = parse(&["repro", &report, "--out", &o]) else {
        unreachable!()
    };
    assert_eq!(repro::run(&cmd, fake).unwrap(), ExitCode::from(1));

    // A tampered hash is a determinism bug: exit 4.
    let mut tampered = capsule.clone();
    tampered.history_hash = "0".into();
    let tdir = tmp.path().join("tampered");
    std::fs::create_dir(&tdir).unwrap();
    tampered.write(&tdir).unwrap();
    let t = tdir.display().to_string();
    let Command::Repro(cmd) = parse(&["repro", &t, "--out", &o]) else {
        unreachable!()
    };
    assert_eq!(
        repro::run(&cmd, fake).unwrap(),
        ExitCode::from(EXIT_HARNESS)
    );

    // Not a report: usage error.
    let Command::Repro(cmd) = parse(&["repro", "/no/such/report.json"]) else {
        unreachable!()
    };
    assert_eq!(repro::run(&cmd, fake).unwrap_err().code, EXIT_USAGE);
}

#[test]
fn soak_writes_a_ledger_and_keeps_only_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let o = out(tmp.path());
    let mut argv = vec!["soak", "--seeds", "0..12", "--jobs", "2", "--out", &o];
    argv.extend(FAST);
    let Command::Soak(cmd) = parse(&argv) else {
        unreachable!()
    };
    assert_eq!(soak::run(&cmd, fake).unwrap(), ExitCode::from(1));
    let dir = run_dir(tmp.path(), "soak");
    let mut records = ledger::read(&dir.join(LEDGER)).unwrap();
    records.sort_by_key(|r| r.seed);
    assert_eq!(
        records.iter().map(|r| r.seed).collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
    let failed: Vec<u64> = records
        .iter()
        .filter(|r| r.is_failure())
        .map(|r| r.seed)
        .collect();
    assert_eq!(failed, vec![0, 5, 10]);
    for r in &records {
        assert_eq!(r.dir.is_some(), r.is_failure(), "seed {}", r.seed);
        assert_eq!(
            dir.join(format!("seed-{}", r.seed)).exists(),
            r.is_failure()
        );
    }

    // Shard 2/3 of the same range: seeds 1, 4, 7, 10.
    let mut argv = vec![
        "soak", "--seeds", "0..12", "--shard", "2/3", "--jobs", "1", "--out", &o,
    ];
    argv.extend(FAST);
    let Command::Soak(cmd) = parse(&argv) else {
        unreachable!()
    };
    assert_eq!(soak::run(&cmd, fake).unwrap(), ExitCode::from(1));

    // No end at all: usage error.
    let Command::Soak(cmd) = parse(&["soak", "--seeds", "5..", "--out", &o]) else {
        unreachable!()
    };
    assert_eq!(soak::run(&cmd, fake).unwrap_err().code, EXIT_USAGE);
}

#[test]
fn shrink_keeps_the_failure_and_writes_a_smaller_capsule() {
    let tmp = tempfile::tempdir().unwrap();
    let o = out(tmp.path());
    let mut argv = vec!["run", "--seed", "15", "--out", &o];
    argv.extend(FAST);
    let Command::Run(cmd) = parse(&argv) else {
        unreachable!()
    };
    assert_eq!(run::run(&cmd, fake).unwrap(), ExitCode::from(1));
    let report = run_dir(tmp.path(), "seed-15").join(REPORT);
    let original = Capsule::read(&report).unwrap();
    let r = report.display().to_string();
    let Command::Shrink(cmd) = parse(&["shrink", &r, "--out", &o]) else {
        unreachable!()
    };
    assert_eq!(shrink::run(&cmd, fake).unwrap(), ExitCode::from(1));
    let minimal = Capsule::read(&run_dir(tmp.path(), "shrunk").join(REPORT)).unwrap();
    let info = minimal.shrunk.clone().unwrap();
    assert_eq!(info.faults.1, 3, "{info:?}");
    assert_eq!(info.clients.1, 2, "{info:?}");
    assert!(
        info.faults.0 > 3 && info.duration_ms.1 < info.duration_ms.0,
        "{info:?}"
    );
    assert_eq!(minimal.verdicts.caught_by, original.verdicts.caught_by);
    assert!(minimal.repro.starts_with("faultline repro "));

    // A valid run cannot be shrunk.
    let mut argv = vec!["run", "--seed", "16", "--out", &o];
    argv.extend(FAST);
    let Command::Run(cmd) = parse(&argv) else {
        unreachable!()
    };
    assert_eq!(run::run(&cmd, fake).unwrap(), ExitCode::SUCCESS);
    let r = run_dir(tmp.path(), "seed-16")
        .join(REPORT)
        .display()
        .to_string();
    let Command::Shrink(cmd) = parse(&["shrink", &r]) else {
        unreachable!()
    };
    assert_eq!(shrink::run(&cmd, fake).unwrap_err().code, EXIT_USAGE);
}

/// Differs between the two runs of a seed: the first run of every
/// configuration gets one history, later runs another.
fn flaky(config: &RunConfig, dir: Option<&Path>) -> RunOutcome {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut f = fake(config, dir);
    if CALLS.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
        f.history[1].time += 1;
        f.history_hash.push('x');
    }
    f
}

#[test]
fn determinism_reports_divergence() {
    let Command::Determinism(cmd) =
        parse(&["determinism", "--count", "4", "--start", "1", "--jobs", "1"])
    else {
        unreachable!()
    };
    assert_eq!(determinism::run(&cmd, fake).unwrap(), ExitCode::SUCCESS);
    let r = determinism::check_seed(flaky, &cmd.run, 3);
    assert!(r.is_failure());
    assert!(r.reason.contains("differ at event 1"), "{}", r.reason);
}

#[test]
fn bench_reports_figures_and_rejects_bad_input() {
    let Command::Bench(cmd) = parse(&["bench", "--seeds", "2", "--start", "5", "--json"]) else {
        unreachable!()
    };
    assert_eq!(bench::run(&cmd, fake).unwrap(), ExitCode::SUCCESS);
    for argv in [
        &["bench", "--seeds", "0"][..],
        &["bench", "--history", "/no/such/history.jsonl"],
        &["bench", "--start", "18446744073709551615", "--seeds", "2"],
    ] {
        let Command::Bench(cmd) = parse(argv) else {
            unreachable!()
        };
        assert_eq!(
            bench::run(&cmd, fake).unwrap_err().code,
            EXIT_USAGE,
            "{argv:?}"
        );
    }
}
