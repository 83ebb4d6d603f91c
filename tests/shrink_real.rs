//! The failure workflow on the real simulation, through the `faultline`
//! binary as a user runs it: a planted bug fails a recorded seed, the last
//! line printed is the command that reproduces it, `shrink` turns the run
//! into a smaller one that fails the same way (on fewer nodes too), and
//! `repro` replays the
//! shrunk capsule with the same history hash. Also: a run's timeline shows
//! its faults and each node's role over time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use faultline::cli::args::RunArgs;
use faultline::harness::report::Capsule;
use faultline::harness::run::{run, simulate, write_outputs};
use faultline::harness::store::{HISTORY, REPORT, TIMELINE};
use faultline::harness::verdict::{Checker, Verdict};

/// `faultline soak --seeds 0..8 --bug minority-quorum --nemesis partition
/// --duration 10s` found seeds 1, 2, 3, 4, 5 and 7 invalid (0 and 6
/// valid); seed 2 is the smallest run among them.
const RECORDED_SEED: u64 = 2;
const FLAGS: [&str; 6] = [
    "--nemesis",
    "partition",
    "--duration",
    "10s",
    "--bug",
    "minority-quorum",
];

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_string()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed by a signal")
}

/// The directory a command printed as `stored in DIR`.
fn stored_in(o: &Output) -> PathBuf {
    let text = stdout(o);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("stored in "))
        .unwrap_or_else(|| panic!("no `stored in` line in:\n{text}"));
    PathBuf::from(line)
}

/// What the closing note reports of a capsule.
struct Figures {
    faults: usize,
    nodes: usize,
    clients: usize,
    ops: usize,
    duration_ms: u64,
    report_bytes: u64,
    history_bytes: u64,
}

impl Figures {
    fn of(dir: &Path) -> Figures {
        let c = Capsule::read(&dir.join(REPORT)).unwrap();
        let history = std::fs::read_to_string(dir.join(HISTORY)).unwrap();
        let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len();
        Figures {
            faults: c.schedule["items"].as_array().map_or(0, |items| {
                items
                    .iter()
                    .filter(|i| i["action"].get("inject").is_some())
                    .count()
            }),
            nodes: c.config["nodes"].as_array().map_or(0, Vec::len),
            clients: c.config["clients"].as_u64().unwrap_or(0) as usize,
            ops: history
                .lines()
                .filter(|l| l.contains(r#""type":"invoke""#))
                .count(),
            duration_ms: c.config["duration_ms"].as_u64().unwrap_or(0),
            report_bytes: size(REPORT),
            history_bytes: size(HISTORY),
        }
    }
}

#[test]
fn a_planted_bug_shrinks_to_a_smaller_run_that_replays_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().display().to_string();

    // The recorded seed; should a change to the simulation make it pass,
    // the next failing seed stands in (and the message says to re-record).
    let mut found = None;
    for seed in RECORDED_SEED..RECORDED_SEED + 10 {
        let s = seed.to_string();
        let mut args = vec!["run", "--seed", &s, "--out", &out];
        args.extend(FLAGS);
        let o = faultline(&args);
        if code(&o) == 1 {
            found = Some((seed, o));
            break;
        }
        eprintln!("seed {seed} no longer fails; re-record RECORDED_SEED");
    }
    let (seed, ran) = found.expect("minority-quorum is found within 10 seeds");
    assert_eq!(
        last_line(&ran),
        format!("faultline run --seed {seed} {}", FLAGS.join(" ")),
        "the last line of an invalid run is its repro command"
    );
    let original_dir = stored_in(&ran);
    let original = Capsule::read(&original_dir.join(REPORT)).unwrap();
    assert_eq!(original.verdicts.overall, Verdict::Invalid);
    let target = original.verdicts.caught_by[0];

    let started = Instant::now();
    let report = original_dir.join(REPORT).display().to_string();
    let shrunk_run = faultline(&["shrink", &report, "--out", &out]);
    let shrink_wall = started.elapsed();
    assert_eq!(code(&shrunk_run), 1, "{}", stdout(&shrunk_run));
    let repro_line = last_line(&shrunk_run);
    let shrunk_report = repro_line
        .strip_prefix("faultline repro ")
        .unwrap_or_else(|| panic!("shrink's last line is not a repro command: {repro_line}"));
    let shrunk_dir = Path::new(shrunk_report).parent().unwrap().to_path_buf();
    let shrunk = Capsule::read(Path::new(shrunk_report)).unwrap();

    // The same failure: invalid, caught by the checker that caught the original.
    assert_eq!(shrunk.verdicts.overall, Verdict::Invalid);
    assert!(
        shrunk.verdicts.caught_by.contains(&target),
        "original caught by {target}, shrunk by {:?}",
        shrunk.verdicts.caught_by
    );
    // Smaller on some axis and larger on none.
    let (a, b) = (Figures::of(&original_dir), Figures::of(&shrunk_dir));
    assert!(
        b.faults <= a.faults
            && b.nodes <= a.nodes
            && b.clients <= a.clients
            && b.duration_ms <= a.duration_ms
    );
    assert!(
        b.faults < a.faults
            || b.nodes < a.nodes
            || b.clients < a.clients
            || b.duration_ms < a.duration_ms,
        "nothing shrank"
    );
    // The kept faults are renumbered onto the smaller cluster, so the node
    // count shrinks too (minority-quorum's quorum of n/2 fails on 3 nodes).
    assert!(b.nodes < a.nodes, "nodes {} -> {}", a.nodes, b.nodes);
    let info = shrunk.shrunk.as_ref().expect("the shrunk capsule says so");
    // Its timeline shows its faults (if any are left) and the nodes' roles,
    // and marks the operation a linearizability failure could not place.
    let html = std::fs::read_to_string(shrunk_dir.join(TIMELINE)).unwrap();
    let fault_rows = if b.faults > 0 {
        r#""fault_rows":["partition"]"#
    } else {
        r#""fault_rows":[]"#
    };
    assert!(html.contains(fault_rows));
    if target == Checker::Linearizability {
        assert!(html.contains(r#""cls":"stuck""#));
    }
    assert!(html.contains(r#""cls":"leader""#));
    assert_eq!(info.faults, (a.faults, b.faults));

    // The printed command replays it exactly.
    let replay = faultline(&["repro", shrunk_report, "--out", &out]);
    assert_eq!(code(&replay), 1, "{}", stdout(&replay));
    assert!(stdout(&replay).contains("history hash matches the report"));
    assert_eq!(last_line(&replay), repro_line);
    let replayed = Capsule::read(&stored_in(&replay).join(REPORT)).unwrap();
    assert_eq!(replayed.history_hash, shrunk.history_hash);
    assert_eq!(replayed.verdicts.caught_by, shrunk.verdicts.caught_by);

    eprintln!(
        "seed {seed} (minority-quorum, caught by {target}); shrink took {:.1} s in {} runs\n\
         {:<10} {:>6} {:>6} {:>7} {:>6} {:>11} {:>12} {:>13}\n\
         {:<10} {:>6} {:>6} {:>7} {:>6} {:>11} {:>12} {:>13}\n\
         {:<10} {:>6} {:>6} {:>7} {:>6} {:>11} {:>12} {:>13}",
        shrink_wall.as_secs_f64(),
        info.runs,
        "",
        "faults",
        "nodes",
        "clients",
        "ops",
        "duration ms",
        "report bytes",
        "history bytes",
        "original",
        a.faults,
        a.nodes,
        a.clients,
        a.ops,
        a.duration_ms,
        a.report_bytes,
        a.history_bytes,
        "shrunk",
        b.faults,
        b.nodes,
        b.clients,
        b.ops,
        b.duration_ms,
        b.report_bytes,
        b.history_bytes,
    );
}

#[test]
fn a_runs_timeline_shows_its_faults_and_each_nodes_role() {
    let args = RunArgs {
        nemesis: "partition,crash".into(),
        duration: Some(Duration::from_secs(6)),
        nemesis_interval: Some(Duration::from_secs(1)),
        ..RunArgs::default()
    };
    let config = args.config(11).unwrap();
    let judged = run(simulate, &config, None);
    assert!(!judged.facts.fault_spans.is_empty(), "the run had faults");
    let tmp = tempfile::tempdir().unwrap();
    write_outputs(tmp.path(), &judged, &args.repro_command(11)).unwrap();
    let html = std::fs::read_to_string(tmp.path().join(TIMELINE)).unwrap();
    for f in &judged.facts.fault_spans {
        let nodes: Vec<String> = f.nodes.iter().map(|n| format!("n{n}")).collect();
        let tip = format!("fault {} {}", f.id, f.name);
        assert!(html.contains(&tip), "{tip} is drawn");
        if !nodes.is_empty() {
            assert!(html.contains(&format!(" on {}", nodes.join(","))));
        }
    }
    assert!(html.contains(r#""fault_rows":["#) && !html.contains(r#""fault_rows":[]"#));
    // Every node has a row, and someone led.
    for n in &config.nodes {
        assert!(
            html.contains(&format!(r#""node":{n},"#)),
            "node {n} has a row"
        );
    }
    assert!(html.contains(r#""cls":"leader""#) && html.contains(r#""cls":"follower""#));
    assert!(
        html.contains(r#""cls":"down""#),
        "a crashed node is drawn down"
    );
    assert!(html.contains(&format!(r#""verdict":"{}"#, judged.verdicts.headline())));
}
