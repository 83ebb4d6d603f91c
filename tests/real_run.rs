//! A short `faultline real-run` with every real fault: valid on the
//! correct build, with the store laid out as a simulated run's.

use std::process::Command;

#[test]
fn a_short_real_run_is_valid() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "real-run",
            "--nodes",
            "3",
            "--duration",
            "8s",
            "--interval",
            "1500ms",
        ])
        .args([
            "--nemesis",
            "kill,pause,partition",
            "--seed",
            "7",
            "--rate",
            "40",
        ])
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("seed 7\n"), "{stdout}");
    assert!(stdout.contains("not deterministic"), "{stdout}");

    let run = std::fs::read_link(out_dir.path().join("latest")).unwrap();
    let run = out_dir.path().join(run);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    // Every checker says valid. The one exception allowed is a build whose
    // harness has no linearizability checker wired in yet, which says so.
    for check in report["verdicts"]["checks"].as_array().unwrap() {
        let pending = check["checker"] == "linearizability"
            && check["verdict"] == "unknown"
            && check["explanation"]
                .as_str()
                .unwrap()
                .contains("not in this build");
        assert!(
            check["verdict"] == "valid" || pending,
            "{check}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    let expected_exit = match report["verdicts"]["overall"].as_str().unwrap() {
        "valid" => 0,
        _ => 3,
    };
    assert_eq!(out.status.code(), Some(expected_exit), "{stdout}");
    assert_eq!(report["config"]["deterministic"], false);
    assert_eq!(report["seed"], 7);
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].contains("faultline-history"));
    let oks = lines
        .iter()
        .filter(|l| l.contains("\"type\":\"ok\""))
        .count();
    assert!(oks > 50, "only {oks} operations succeeded");
    let faults = lines
        .iter()
        .filter(|l| l.contains("\"process\":\"nemesis\""))
        .count();
    assert!(faults >= 2, "no faults were applied:\n{history}");
}
