//! Every checked-in history gets the verdict its source expects.

use std::path::PathBuf;
use std::time::Duration;

use faultline_histories::{check_command, check_command_with, CheckOptions, CommandOptions};

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(rel)
}

const BUDGET: Duration = Duration::from_secs(30);

/// (file, model or default, expected exit code)
const EXPECTED: &[(&str, Option<&str>, i32)] = &[
    ("porcupine/jepsen/etcd_000.log", None, 1),
    ("porcupine/jepsen/etcd_002.log", None, 0),
    ("porcupine/jepsen/etcd_005.log", None, 0),
    ("porcupine/jepsen/etcd_007.log", None, 0),
    ("porcupine/jepsen/etcd_040.log", None, 1),
    ("porcupine/jepsen/etcd_080.log", None, 0),
    ("porcupine/jepsen/etcd_097.log", None, 1),
    ("porcupine/jepsen/etcd_100.log", None, 0),
    ("porcupine/kv/c01-ok.txt", None, 0),
    ("porcupine/kv/c01-bad.txt", None, 1),
    ("porcupine/kv/c10-ok.txt", None, 0),
    ("porcupine/kv/c10-bad.txt", None, 1),
    ("porcupine/kv/c01-ok.txt", Some("kv-map"), 0),
    ("porcupine/kv/c01-bad.txt", Some("kv-map"), 1),
    ("porcupine/kv/c10-ok.txt", Some("kv-map"), 0),
    ("porcupine/kv/c10-bad.txt", Some("kv-map"), 1),
    ("knossos/cas-register/bad/cas-failure.edn", None, 1),
    ("knossos/cas-register/bad/rethink-fail-minimal.edn", None, 1),
    ("knossos/cas-register/good/cas-register-bug.edn", None, 0),
    (
        "knossos/cas-register/good/mongodb-v0-ack-rollback-0.edn",
        None,
        0,
    ),
];

#[test]
fn every_corpus_file_gets_its_expected_verdict() {
    let mut wrong = Vec::new();
    for &(file, model, want) in EXPECTED {
        let (code, text) = check_command(&corpus(file), model, BUDGET);
        println!(
            "{file} [{}] -> {code}\n{text}\n",
            model.unwrap_or("default")
        );
        if code != want {
            wrong.push(format!(
                "{file} [{model:?}]: exit {code}, expected {want}: {text}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The shared peer data, when this checkout sits beside it, must match the
/// checked-in copies, so the corpus cannot silently drift from its source.
#[test]
fn corpus_matches_the_shared_peer_data_when_present() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if !shared.is_dir() {
        return;
    }
    for &(file, _, _) in EXPECTED {
        let theirs = shared.join(file);
        if theirs.exists() {
            assert_eq!(
                std::fs::read(corpus(file)).unwrap(),
                std::fs::read(&theirs).unwrap(),
                "{file} differs from the shared copy"
            );
        }
    }
}

#[test]
fn violations_are_explained_with_the_ops_that_cannot_be_placed() {
    let opts = CommandOptions::default();
    let c = faultline_histories::command::check_file(
        &corpus("knossos/cas-register/bad/rethink-fail-minimal.edn"),
        &opts,
    )
    .unwrap();
    let bad: Vec<_> = c.report.violations().collect();
    assert_eq!(bad.len(), 1);
    let e = bad[0].explanation.as_ref().unwrap();
    let stuck = e.stuck.as_ref().unwrap();
    // The read of 3 by process 1 cannot be placed: the register held 0 or 4.
    assert_eq!(stuck.process, 1);
    assert_eq!(stuck.result, "3");
    assert!(
        e.sentence.contains("read by process 1") && e.sentence.contains("returned 3"),
        "{}",
        e.sentence
    );
    assert!(!e.longest.is_empty());
    assert_eq!(e.longest[0].op.description, "write 0");
    assert_eq!(e.longest[0].state_after, "0");
}

#[test]
fn a_tiny_budget_gives_unknown_never_a_wrong_answer() {
    let opts = CommandOptions {
        model: Some("kv-map".into()),
        check: CheckOptions {
            budget: Some(Duration::from_nanos(1)),
            ..CheckOptions::default()
        },
        ..CommandOptions::default()
    };
    let (code, text) = check_command_with(&corpus("porcupine/kv/c10-bad.txt"), &opts);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("time budget"), "{text}");
}

#[test]
fn a_tiny_memory_budget_gives_unknown() {
    let opts = CommandOptions {
        model: Some("kv-map".into()),
        check: CheckOptions {
            max_memory_bytes: 10_000,
            ..CheckOptions::default()
        },
        ..CommandOptions::default()
    };
    let (code, text) = check_command_with(&corpus("porcupine/kv/c10-ok.txt"), &opts);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("memory budget"), "{text}");
}

#[test]
fn parallel_partitions_give_the_same_report() {
    let run = |jobs| {
        let opts = CommandOptions {
            check: CheckOptions {
                jobs,
                ..CheckOptions::default()
            },
            ..CommandOptions::default()
        };
        let c =
            faultline_histories::command::check_file(&corpus("porcupine/kv/c10-bad.txt"), &opts)
                .unwrap();
        let mut v = serde_json::to_value(&c.report).unwrap();
        // Timings differ run to run; everything else must not.
        strip_times(&mut v);
        v
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one["verdict"], "not-linearizable");
    assert_eq!(one["partitions"].as_array().unwrap().len(), 10);
    assert!(one["partitions"][0]["explanation"]["longest"][0]["state_after"].is_string());
}

fn strip_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("elapsed_ms");
            m.values_mut().for_each(strip_times);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}
