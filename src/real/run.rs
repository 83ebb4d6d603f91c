//! `faultline real-run`: a Jepsen-style run against real processes. Starts
//! a local cluster, drives the workload's clients over HTTP, injects a
//! seeded schedule of kills, pauses and partitions into the processes,
//! records the history in the simulation's format, judges it with the same
//! checkers and writes the same store directory.
//!
//! A real run is not deterministic: the seed fixes the fault schedule and
//! the operations' order per client, not the timing of processes, sockets
//! and disks. Its report says so, and its repro line re-runs the schedule,
//! not the interleaving.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::HttpClient;
use super::cluster::wait_for_leader;
use super::driver::{run_op, start_clients, Source};
use super::nemesis::{RealNemesis, SUPPORTED};
use super::process::{ClusterSpec, LocalCluster};
use super::recorder::Recorder;
use crate::bugs::Bug;
use crate::harness::judge::judge_history;
use crate::harness::report::{
    faultline_version, git_commit, Capsule, CAPSULE_FORMAT, CAPSULE_VERSION,
};
use crate::harness::store::{Store, HISTORY};
use crate::harness::verdict::{CheckResult, Checker, Verdict, Verdicts};
use crate::harness::workload_check::BankParams;
use crate::kv::Outcome;
use crate::raft::NodeId;
use faultline_histories::store::Header;
use faultline_histories::Event;
use faultline_nemesis::{FaultKind, Profile, Schedule};
use faultline_workloads::{Generator, GeneratorConfig, Workload};

/// `faultline real-run` options.
#[derive(clap::Args, Clone, Debug)]
pub struct RealRunArgs {
    /// Nodes in the cluster (1 to 9).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// How long faults are injected, e.g. `60s`; a heal phase and final
    /// reads follow.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Fault families: any of kill (or crash), pause, partition; or none.
    #[arg(long, default_value = "kill,pause,partition", value_parser = parse_real_nemesis)]
    pub nemesis: Profile,
    /// Mean time between faults.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Seeds the fault schedule and the operations [default: random, printed].
    #[arg(long, short = 's')]
    pub seed: Option<u64>,
    /// The workload: register, kv, list-append, set, bank or counter.
    #[arg(long, default_value = "register", value_parser = parse_workload)]
    pub workload: Workload,
    /// Client processes.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Operations per second over all clients.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Budget of one operation, in ms.
    #[arg(long, default_value_t = 3000)]
    pub op_timeout_ms: u64,
    /// Time the linearizability checker may take.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub check_budget: Duration,
    /// Store root; the run goes to `<out>/<time>-real-seed-<S>/`.
    #[arg(long, default_value = "store")]
    pub out: PathBuf,
    /// Switch on a planted bug in every node; repeatable.
    #[arg(long = "bug", value_parser = |s: &str| s.parse::<Bug>())]
    pub bugs: Vec<Bug>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("bad duration {s:?} (e.g. 60s, 2m): {e}"))
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    Workload::ALL
        .into_iter()
        .find(|w| w.name() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
            format!(
                "unknown workload {s:?}; expected one of {}",
                names.join(", ")
            )
        })
}

/// `kill,pause,partition` (kill is crash under its real name) or `none`.
pub fn parse_real_nemesis(s: &str) -> Result<Profile, String> {
    let s = s.trim();
    if s == "none" {
        return Ok(Profile::none());
    }
    let mut kinds = std::collections::BTreeSet::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match name {
            "kill" | "crash" => FaultKind::Crash,
            other => other.parse::<FaultKind>().map_err(|e| e.to_string())?,
        };
        if !SUPPORTED.contains(&kind) {
            return Err(format!(
                "{name} faults need the simulation; a real run supports kill, pause and partition"
            ));
        }
        kinds.insert(kind);
    }
    if kinds.is_empty() {
        return Err("--nemesis needs kill, pause, partition or none".into());
    }
    Ok(Profile {
        kinds,
        failpoints: Default::default(),
    })
}

/// What a real run was asked to do, as the report records it.
#[derive(Clone, Debug, Serialize)]
struct RealRunConfig {
    kind: &'static str,
    deterministic: bool,
    seed: u64,
    nodes: u64,
    duration_ms: u64,
    interval_ms: u64,
    nemesis: Vec<&'static str>,
    workload: Workload,
    clients: usize,
    rate_per_sec: f64,
    op_timeout_ms: u64,
    bugs: Vec<String>,
    generator: GeneratorConfig,
}

/// How a real run ended: its verdict, or a failure to run it at all.
pub enum RealRunExit {
    Verdict(Verdict),
    Usage(String),
    Harness(String),
}

/// How long the cluster gets to elect a leader, at start and after the heal.
const LEADER_WAIT: Duration = Duration::from_secs(20);
/// Final reads are retried until they succeed or this passes.
const FINAL_READS_WAIT: Duration = Duration::from_secs(20);

pub fn run(args: &RealRunArgs) -> RealRunExit {
    let seed = args.seed.unwrap_or_else(rand::random);
    println!("seed {seed}");
    println!(
        "note: a real run is not deterministic. The seed fixes the fault schedule and each \
         client's operations; process, network and disk timing are the machine's. The schedule \
         and everything applied are recorded in the report."
    );
    if args.clients == 0 {
        return RealRunExit::Usage("--clients must be at least 1".into());
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return RealRunExit::Usage("--rate must be a positive number".into());
    }
    let mut gen_config = GeneratorConfig::for_workload(args.workload);
    gen_config.concurrency = args.clients;
    gen_config.clients_per_key = gen_config.clients_per_key.min(args.clients);
    gen_config.rate_per_sec = args.rate;
    let generator = match Generator::new(args.workload, gen_config.clone()) {
        Ok(g) => g,
        Err(e) => return RealRunExit::Usage(e.to_string()),
    };
    let ids: Vec<NodeId> = (1..=args.nodes).collect();
    let duration_ms = args.duration.as_millis() as u64;
    let interval_ms = (args.interval.as_millis() as u64).max(1);
    let schedule =
        match faultline_nemesis::generate(seed, &args.nemesis, &ids, duration_ms, interval_ms) {
            Ok(s) => s,
            Err(e) => return RealRunExit::Usage(e.to_string()),
        };
    let config = RealRunConfig {
        kind: "real-run",
        deterministic: false,
        seed,
        nodes: args.nodes,
        duration_ms,
        interval_ms,
        nemesis: args.nemesis.kinds.iter().map(|k| k.name()).collect(),
        workload: args.workload,
        clients: args.clients,
        rate_per_sec: args.rate,
        op_timeout_ms: args.op_timeout_ms,
        bugs: args.bugs.iter().map(|b| b.to_string()).collect(),
        generator: gen_config,
    };

    let store = Store::new(&args.out);
    let dir = match store.create_run(&format!("real-seed-{seed}")) {
        Ok(d) => d,
        Err(e) => return RealRunExit::Harness(format!("cannot create the run directory: {e}")),
    };
    println!("store {}", dir.display());
    let started = Instant::now();
    let outcome = match drive(args, seed, &config, &schedule, generator, &dir) {
        Ok(o) => o,
        Err(e) => return RealRunExit::Harness(e),
    };
    let wall_ms = started.elapsed().as_millis() as u64;

    println!("checking {} events", outcome.history.len());
    let bank = BankParams::from_history(&outcome.history);
    let mut checks = match judge_history(
        args.workload,
        &outcome.history,
        bank.as_ref(),
        args.check_budget,
    ) {
        Ok(c) => c,
        Err(e) => return RealRunExit::Harness(format!("the recorded history is malformed: {e}")),
    };
    checks.push(outcome.liveness.clone());
    let verdicts = Verdicts::combine(checks);

    let capsule = Capsule {
        format: CAPSULE_FORMAT.into(),
        version: CAPSULE_VERSION,
        faultline_version: faultline_version().into(),
        git_commit: git_commit().into(),
        seed,
        repro: repro_line(args, seed),
        config: serde_json::to_value(&config).unwrap_or_default(),
        schedule: serde_json::to_value(&schedule).unwrap_or_default(),
        faults_applied: json!(outcome.faults_applied),
        verdicts: verdicts.clone(),
        effectiveness: None,
        history_hash: history_hash(&outcome.history),
        events: outcome.history.len(),
        sim_time_ms: wall_ms,
        wall_ms,
        bugs: config.bugs.clone(),
        shrunk: None,
    };
    if let Err(e) = capsule.write(&dir) {
        return RealRunExit::Harness(format!("cannot write the report: {e}"));
    }
    let _ = store.point_latest(&dir);
    println!("verdict {}", verdicts.headline());
    let explained = verdicts.explain();
    if !explained.is_empty() {
        println!("{explained}");
    }
    println!("report {}", dir.join("report.json").display());
    println!(
        "re-run the same schedule (not the same interleaving): {}",
        capsule.repro
    );
    RealRunExit::Verdict(verdicts.overall)
}

fn repro_line(args: &RealRunArgs, seed: u64) -> String {
    let nemesis: Vec<&str> = args
        .nemesis
        .kinds
        .iter()
        .map(|k| {
            if *k == FaultKind::Crash {
                "kill"
            } else {
                k.name()
            }
        })
        .collect();
    let nemesis = if nemesis.is_empty() {
        "none".to_string()
    } else {
        nemesis.join(",")
    };
    let mut line = format!(
        "faultline real-run --seed {seed} --nodes {} --duration {} --nemesis {nemesis} --interval {} \
         --workload {} --clients {} --rate {}",
        args.nodes,
        ms(args.duration),
        ms(args.interval),
        args.workload,
        args.clients,
        args.rate
    );
    for b in &args.bugs {
        line.push_str(&format!(" --bug {b}"));
    }
    line
}

/// A duration as a command-line value without spaces (`1500ms`).
fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// SHA-256 of the history's JSON lines.
fn history_hash(history: &[Event]) -> String {
    let mut h = Sha256::new();
    for e in history {
        h.update(serde_json::to_vec(e).unwrap_or_default());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Driven {
    history: Vec<Event>,
    faults_applied: Vec<serde_json::Value>,
    liveness: CheckResult,
}

/// Start the cluster, run clients and nemesis, heal, read back, stop.
fn drive(
    args: &RealRunArgs,
    seed: u64,
    config: &RealRunConfig,
    schedule: &Schedule,
    generator: Generator,
    dir: &Path,
) -> Result<Driven, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the faultline binary: {e}"))?;
    let mut spec = ClusterSpec::local(args.nodes as usize, &dir.join("cluster"), exe)
        .map_err(|e| format!("cannot pick ports: {e}"))?;
    spec.extra_args.extend([
        "--op-timeout-ms".to_string(),
        args.op_timeout_ms.to_string(),
    ]);
    for b in &args.bugs {
        spec.extra_args.extend(["--bug".to_string(), b.to_string()]);
    }
    let header = Header::new(seed, serde_json::to_value(config).unwrap_or_default());
    let recorder = Recorder::create(Some(&dir.join(HISTORY)), &header)
        .map_err(|e| format!("cannot create the history file: {e}"))?;
    let mut cluster =
        LocalCluster::start(spec.clone()).map_err(|e| format!("cannot start the nodes: {e}"))?;
    let status_client = HttpClient::new(Duration::from_secs(1));
    if let Err(e) = wait_for_leader(&spec, &spec.ids(), &status_client, LEADER_WAIT) {
        let tail = cluster.log_tail(1, 20);
        cluster.stop(Duration::from_secs(2));
        return Err(format!(
            "the cluster did not come up: {e}\n--- node 1 log ---\n{tail}"
        ));
    }
    println!(
        "cluster up: {} nodes, {} faults scheduled",
        spec.nodes.len(),
        schedule.items.len()
    );

    let op_timeout = Duration::from_millis(args.op_timeout_ms + 2000);
    let http: Vec<_> = spec.nodes.iter().map(|n| n.http).collect();
    let source = Arc::new(Mutex::new(Source::new(generator, seed)));
    // Setup operations (the bank's opening balances), retried until done.
    let setup_client = HttpClient::new(op_timeout);
    let initial = source
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .generator()
        .initial_ops();
    let setup_process = 1_000_000;
    for op in initial {
        let deadline = Instant::now() + FINAL_READS_WAIT;
        let mut p = setup_process;
        loop {
            let (outcome, _) = run_op(&setup_client, &http, 0, &recorder, p, &op);
            match outcome {
                Outcome::Ok(_) => break,
                _ if Instant::now() > deadline => {
                    cluster.stop(Duration::from_secs(2));
                    return Err(format!("the setup operation {op:?} never succeeded"));
                }
                Outcome::Info(_) => p += 1,
                Outcome::Fail(_) => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(
        args.clients,
        http.clone(),
        source.clone(),
        recorder.clone(),
        stop.clone(),
        op_timeout,
    )
    .map_err(|e| format!("cannot start the clients: {e}"))?;

    // The nemesis runs on this thread, which spawned the nodes: a node
    // started from a thread that exits would die with it (PDEATHSIG).
    let mut nemesis = RealNemesis::new(recorder.clone());
    let start = Instant::now();
    let mut unexpected: Vec<String> = Vec::new();
    for item in &schedule.items {
        wait_until(
            start,
            item.at_ms,
            &mut nemesis,
            &mut cluster,
            &mut unexpected,
        );
        nemesis.apply(item.at_ms, &item.action, &mut cluster);
    }
    wait_until(
        start,
        duration_ms_of(args),
        &mut nemesis,
        &mut cluster,
        &mut unexpected,
    );
    nemesis.heal_all(duration_ms_of(args), &mut cluster);
    // Nodes that died on their own are restarted for the final reads, and
    // reported below.
    let ids = spec.ids();
    for &id in &ids {
        let _ = cluster.ensure_started(id);
    }
    nemesis.sync(&mut cluster);
    println!("fault phase over; healed");

    let liveness = match wait_for_leader(&spec, &ids, &status_client, LEADER_WAIT) {
        Ok(leader) => {
            println!("node {leader} leads after the heal");
            Ok(())
        }
        Err(e) => Err(format!("after the heal: {e}")),
    };
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }

    let finals = source
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .generator()
        .final_ops();
    let mut final_failures = Vec::new();
    let final_process = 2_000_000;
    for (i, op) in finals.iter().enumerate() {
        let deadline = Instant::now() + FINAL_READS_WAIT;
        let mut p = final_process + i as u64 * 1000;
        loop {
            let (outcome, _) = run_op(&setup_client, &http, i, &recorder, p, op);
            match outcome {
                Outcome::Ok(_) => break,
                other if Instant::now() > deadline => {
                    final_failures.push(format!("{op:?}: {other:?}"));
                    break;
                }
                Outcome::Info(_) => p += 1,
                Outcome::Fail(_) => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (id, status) in cluster.exited() {
        unexpected.push(format!("node {id} exited on its own ({status})"));
    }
    cluster.stop(Duration::from_secs(3));
    if let Some(e) = recorder.write_error() {
        return Err(e);
    }

    let mut problems = Vec::new();
    if let Err(e) = liveness {
        problems.push(e);
    }
    if !final_failures.is_empty() {
        problems.push(format!(
            "{} final reads never succeeded: {}",
            final_failures.len(),
            final_failures.join("; ")
        ));
    }
    for u in &unexpected {
        problems.push(format!(
            "{u}; see its log under {}",
            dir.join("cluster").display()
        ));
    }
    let liveness = if problems.is_empty() {
        CheckResult::new(
            Checker::Liveness,
            Verdict::Valid,
            "after the heal a leader was elected and every final read succeeded; no node exited on its own",
        )
    } else {
        CheckResult::new(Checker::Liveness, Verdict::Invalid, problems.join("\n"))
    };
    Ok(Driven {
        history: recorder.events(),
        faults_applied: nemesis.log,
        liveness,
    })
}

fn duration_ms_of(args: &RealRunArgs) -> u64 {
    args.duration.as_millis() as u64
}

/// Sleep until `at_ms` into the run, keeping failpoints in sync and
/// noticing nodes that exit on their own (and restarting them, so the run
/// goes on; they are reported).
fn wait_until(
    start: Instant,
    at_ms: u64,
    nemesis: &mut RealNemesis,
    cluster: &mut LocalCluster,
    unexpected: &mut Vec<String>,
) {
    let at = start + Duration::from_millis(at_ms);
    loop {
        for (id, status) in cluster.exited() {
            unexpected.push(format!("node {id} exited on its own ({status})"));
            let _ = cluster.ensure_started(id);
        }
        nemesis.sync(cluster);
        let now = Instant::now();
        if now >= at {
            return;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(200)));
    }
}
