//! `cargo bench -p faultline-histories --bench checker`: time the checker
//! on the peer histories in `corpus/` and on generated large histories,
//! beside porcupine v1.3.0's published times for the same files.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline_histories::command::{check_ops, ModelSpec};
use faultline_histories::import;
use faultline_histories::ops::pair;
use faultline_histories::simulate::{register_history, SimConfig};
use faultline_histories::{CheckOptions, Event, Verdict};

/// Runs `f` until `min_runs` runs and at least `min_time` have passed;
/// returns the fastest run in ms.
fn time_min(min_runs: usize, min_time: Duration, mut f: impl FnMut() -> Verdict) -> (f64, Verdict) {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    let mut verdict = Verdict::Unknown;
    while runs < min_runs || (start.elapsed() < min_time && runs < 1000) {
        let t = Instant::now();
        verdict = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        runs += 1;
    }
    (best, verdict)
}

fn bench(
    name: &str,
    events: &[Event],
    spec: &ModelSpec,
    timed: bool,
    porcupine: &str,
    runs: usize,
) {
    let ops = pair(events).expect("pairable history");
    let opts = CheckOptions {
        budget: Some(Duration::from_secs(120)),
        timed,
        ..CheckOptions::default()
    };
    let (ms, verdict) = time_min(runs, Duration::from_millis(300), || {
        check_ops(spec, &ops, &opts).expect("decodable").verdict
    });
    println!(
        "{name:<44} {:>7} ops  {:<14} {:<17} {ms:>10.3} ms   porcupine: {porcupine}",
        ops.len(),
        spec.to_string(),
        verdict.to_string()
    );
}

fn main() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    // (file, model, porcupine v1.3.0 time on a like machine, from shared/data/README.md)
    let files: &[(&str, Option<&str>, &str)] = &[
        ("porcupine/jepsen/etcd_000.log", None, "0.05-0.4 ms"),
        ("porcupine/jepsen/etcd_002.log", None, "170 ms"),
        ("porcupine/jepsen/etcd_005.log", None, "0.05-0.4 ms"),
        ("porcupine/jepsen/etcd_007.log", None, "120 ms"),
        ("porcupine/jepsen/etcd_040.log", None, "0.05-0.4 ms"),
        ("porcupine/jepsen/etcd_080.log", None, "0.05-0.4 ms"),
        ("porcupine/jepsen/etcd_097.log", None, "0.05-0.4 ms"),
        ("porcupine/jepsen/etcd_100.log", None, "0.05-0.4 ms"),
        ("porcupine/kv/c01-ok.txt", None, "-"),
        ("porcupine/kv/c01-bad.txt", None, "-"),
        ("porcupine/kv/c10-ok.txt", None, "0.4-0.8 ms"),
        ("porcupine/kv/c10-bad.txt", None, "0.4-0.8 ms"),
        ("porcupine/kv/c10-ok.txt", Some("kv-map"), "about 3 s"),
        ("porcupine/kv/c10-bad.txt", Some("kv-map"), "about 3 s"),
        ("knossos/cas-register/bad/cas-failure.edn", None, "-"),
        (
            "knossos/cas-register/good/mongodb-v0-ack-rollback-0.edn",
            None,
            "-",
        ),
    ];
    for &(file, model, porcupine) in files {
        let label = format!(
            "{file}{}",
            model.map_or(String::new(), |m| format!(" [{m}]"))
        );
        if !wanted(&label) {
            continue;
        }
        let loaded = import::load(&corpus.join(file), None).expect("corpus file");
        let spec = match model {
            Some(m) => m.parse().expect("model"),
            None => ModelSpec::default_for(&loaded),
        };
        bench(&label, &loaded.events, &spec, loaded.timed, porcupine, 5);
    }
    let big = SimConfig {
        seed: 7,
        clients: 10,
        keys: 100,
        ops: 100_000,
        info: 0.01,
        cas: false,
        progress: 0.5,
    };
    if wanted("generated kv") {
        let events = register_history(&big);
        bench(
            "generated kv, 10 clients, 100 keys, 1% info",
            &events,
            &ModelSpec::Kv,
            true,
            "-",
            3,
        );
    }
    if wanted("generated register") {
        let events = register_history(&SimConfig {
            keys: 100,
            cas: true,
            ..big.clone()
        });
        bench(
            "generated cas-register, 10 clients, 100 keys, 1% info",
            &events,
            &ModelSpec::CasRegister { initial: None },
            true,
            "-",
            3,
        );
    }
}
