//! Recorded runs stay judged the same: every native history under
//! `histories/corpus/faultline/` is re-checked, in-process and through
//! `faultline check`, and must still get the verdict its name records
//! (`*-bad.jsonl` invalid, `*-ok.jsonl` valid). A bad history judged valid
//! means the checker lost the power to see an anomaly it once found.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use faultline::harness::history_file;
use faultline::harness::judge::judge_history;
use faultline::harness::verdict::{Verdict, Verdicts};
use faultline_workloads::Workload;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("histories/corpus/faultline")
}

/// Every recorded history and the verdict its file name expects.
fn recorded() -> Vec<(PathBuf, Verdict)> {
    let mut files: Vec<(PathBuf, Verdict)> = std::fs::read_dir(corpus_dir())
        .expect("histories/corpus/faultline exists")
        .map(|e| e.expect("a readable directory entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if name.ends_with("-bad.jsonl") {
                Some((p, Verdict::Invalid))
            } else if name.ends_with("-ok.jsonl") {
                Some((p, Verdict::Valid))
            } else {
                None
            }
        })
        .collect();
    files.sort();
    files
}

fn recheck(path: &Path) -> (Verdicts, String) {
    let loaded = history_file::load(path).unwrap_or_else(|e| panic!("{e}"));
    let header = loaded
        .header
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no header", path.display()));
    let workload: Workload = header.config["workload"]
        .as_str()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{}: the header names no workload", path.display()));
    let repro = format!(
        "seed {}: the command that recorded it is in histories/corpus/faultline/README.md",
        header.seed
    );
    let checks = judge_history(workload, &loaded.events, None, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (Verdicts::combine(checks), repro)
}

#[test]
fn the_corpus_holds_both_verdicts() {
    let files = recorded();
    assert!(
        files.iter().any(|(_, v)| *v == Verdict::Invalid)
            && files.iter().any(|(_, v)| *v == Verdict::Valid),
        "histories/corpus/faultline/ needs at least one -bad and one -ok history, found {files:?}"
    );
}

#[test]
fn recorded_histories_keep_their_verdicts() {
    for (path, expected) in recorded() {
        let (verdicts, repro) = recheck(&path);
        assert_eq!(
            verdicts.overall,
            expected,
            "{}: recorded as {expected}, re-checked as {}\n{}\nthe run: {repro}",
            path.display(),
            verdicts.headline(),
            verdicts.explain()
        );
    }
}

#[test]
fn faultline_check_exits_with_the_recorded_verdict() {
    for (path, expected) in recorded() {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("the faultline binary runs");
        let want = match expected {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 3,
        };
        assert_eq!(
            out.status.code(),
            Some(want),
            "faultline check {} should exit {want} ({expected})\nstdout:\n{}\nstderr:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
