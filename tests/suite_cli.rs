//! The `faultline` binary's contract: exit codes and error messages for bad
//! input, checked on the built binary.

use std::path::Path;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed by a signal")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["run", "--nodes", "many"],
        &["run", "--nemesis", "gremlins"],
        &["run", "--workload", "queue"],
        &["run", "--bug", "no-such-bug"],
        &["soak", "--shard", "0/8"],
        &["soak", "--seeds", "10..2"],
        &["soak", "--for", "a while"],
        &["hunt"],
        &["check"],
    ] {
        let o = faultline(args);
        assert_eq!(
            code(&o),
            2,
            "faultline {args:?} should be a usage error; stderr: {}",
            stderr(&o)
        );
        assert!(
            !stderr(&o).is_empty(),
            "faultline {args:?} printed no error"
        );
    }
}

#[test]
fn help_explains_every_command() {
    let o = faultline(&["--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    for cmd in [
        "run",
        "soak",
        "repro",
        "shrink",
        "check",
        "determinism",
        "bugs",
        "hunt",
        "bench",
    ] {
        assert!(help.contains(cmd), "--help does not mention {cmd}:\n{help}");
        let o = faultline(&[cmd, "--help"]);
        assert_eq!(code(&o), 0, "{cmd} --help");
        assert!(
            stdout(&o).len() > 200,
            "{cmd} --help is too thin:\n{}",
            stdout(&o)
        );
    }
    assert!(help.contains("Exit codes"));
}

#[test]
fn bugs_lists_the_registry() {
    let o = faultline(&["bugs"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for name in [
        "vote-without-log-check",
        "minority-quorum",
        "fixed-election-timeout",
    ] {
        assert!(out.contains(name), "{out}");
    }
    let o = faultline(&["bugs", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 18);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const HEADER: &str =
    r#"{"format":"faultline-history","version":1,"seed":7,"config":{"workload":"list-append"}}"#;

#[test]
fn malformed_histories_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "not-json.jsonl",
            format!("{HEADER}\n{{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"k\",\"value\":1}}\n{{oops\n"),
            3,
        ),
        (
            "orphan.jsonl",
            format!("{HEADER}\n\n{{\"index\":0,\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"k\",\"value\":1}}\n"),
            3,
        ),
        (
            "bad-value.jsonl",
            format!("{HEADER}\n{{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"k\",\"value\":\"x\"}}\n{{\"index\":1,\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"k\",\"value\":\"x\"}}\n"),
            2,
        ),
    ];
    for (name, text, line) in cases {
        let path = write(dir.path(), name, &text);
        let o = faultline(&["check", &path]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{name}: {err}");
        assert!(
            err.contains(&format!("{path}:{line}:")),
            "{name}: expected {path}:{line}: in {err}"
        );
    }
    let o = faultline(&["check", "/no/such/history.jsonl"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("/no/such/history.jsonl"));
}

#[test]
fn check_finds_a_lost_append_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |i: u64, p: u64, t: &str, f: &str, v: &str| {
        format!(
            r#"{{"index":{i},"time":{},"process":{p},"type":"{t}","f":"{f}","key":"k","value":{v}}}"#,
            i * 10
        )
    };
    let text = [
        HEADER.to_string(),
        ev(0, 0, "invoke", "append", "1"),
        ev(1, 0, "ok", "append", "1"),
        ev(2, 1, "invoke", "read", "null"),
        ev(3, 1, "ok", "read", "[]"),
    ]
    .join("\n");
    let path = write(dir.path(), "lost.jsonl", &text);
    let o = faultline(&["check", &path]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("invalid"), "{}", stdout(&o));
    // No header: the model must be given.
    let headerless = write(dir.path(), "headerless.jsonl", &text[HEADER.len() + 1..]);
    let o = faultline(&["check", &headerless]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--model"), "{}", stderr(&o));
    let o = faultline(&["check", &headerless, "--model", "list-append"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn check_judges_histories_from_other_tools() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/histories/corpus");
    // porcupine's etcd_000 is a known non-linearizable Jepsen etcd log; its format is detected.
    let bad = format!("{corpus}/porcupine/jepsen/etcd_000.log");
    let o = faultline(&["check", &bad]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("not linearizable"), "{}", stdout(&o));
    // A wrong --format is a usage error, not a verdict.
    let o = faultline(&["check", &bad, "--format", "no-such-format"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
