//! `faultline cluster` run as a user runs it, and what `faultline node` and
//! `faultline cluster` say to bad flags and to data directories they
//! cannot start from: exit 2 and a message, never a panic.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use faultline::kv::Outcome;
use faultline::real::client::HttpClient;
use faultline::real::cluster::wait_for_leader;
use faultline::real::process::{ClusterSpec, LocalCluster};
use faultline_workloads::{Observation, Op};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// Wait up to `within` for `child` to exit; kill it and fail if it does not.
fn exit_within(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `faultline cluster --nodes 3` in `dir`: started, used, then stopped by
/// `signal`. Returns its whole output.
fn run_cluster_until(dir: &Path, signal: libc::c_int) -> String {
    // In a process group of its own, as a shell runs a foreground job.
    let mut child = Command::new(exe())
        .args(["cluster", "--nodes", "3", "--dir"])
        .arg(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // Its banner: one line per node with its HTTP endpoint, then the hint.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    let mut nodes: Vec<SocketAddr> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr =
                    std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
                panic!(
                    "no banner ({e}); stdout so far:\n{}\nstderr:\n{stderr}",
                    out.join("\n")
                );
            }
        };
        if let Some(rest) = line.trim().strip_prefix("node ") {
            if let Some((_, url)) = rest.split_once(": http://") {
                nodes.push(url.split_whitespace().next().unwrap().parse().unwrap());
            }
        }
        let done = line.starts_with("Ctrl-C stops every node");
        out.push(line);
        if done {
            break;
        }
    }
    assert_eq!(nodes.len(), 3, "{}", out.join("\n"));
    assert!(out[0].contains("is up: 3 nodes"), "{}", out[0]);

    // The banner's curl example, as a client: write on one node, read on another.
    let client = HttpClient::new(Duration::from_secs(3));
    let write = Op::Write {
        key: "greeting".into(),
        value: 42,
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.run(nodes[0], &write) {
            Outcome::Ok(_) => break,
            other => assert!(Instant::now() < deadline, "the write failed: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = client.run(
        nodes[2],
        &Op::Read {
            key: "greeting".into(),
        },
    );
    assert_eq!(read, Outcome::Ok(Observation::Int(Some(42))));

    // To the whole group, as a terminal sends Ctrl-C. SAFETY: kill(2) on
    // the group of our own child, not yet reaped.
    assert_eq!(
        unsafe { libc::kill(-(child.id() as libc::pid_t), signal) },
        0
    );
    let status = exit_within(&mut child, Duration::from_secs(10));
    out.extend(rx.iter());
    let out = out.join("\n");
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(0), "stdout:\n{out}\nstderr:\n{stderr}");
    assert!(out.ends_with("stopped."), "{out}");
    // Every node is gone with it, and its data stays.
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            TcpStream::connect_timeout(node, Duration::from_millis(500)).is_err(),
            "node {} still answers at {node}",
            i + 1
        );
        let data = dir.join(format!("n{}", i + 1));
        assert!(
            data.join("identity").is_file(),
            "{} lost its data",
            data.display()
        );
        // It was stopped by a signal it handled, not killed.
        let log = std::fs::read_to_string(dir.join(format!("n{}.log", i + 1))).unwrap();
        assert!(log.contains("stopping"), "node {} log:\n{log}", i + 1);
    }
    out
}

#[test]
fn the_cluster_command_serves_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    run_cluster_until(&dir.path().join("c"), libc::SIGINT);
}

#[test]
fn the_cluster_command_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    run_cluster_until(&dir.path().join("c"), libc::SIGTERM);
}

fn faultline(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Exit 2 with an error naming `needle`, and no panic.
fn assert_refused(out: &Output, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: stderr:\n{stderr}");
    assert!(
        stderr.contains(needle),
        "{what}: expected {needle:?} in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn bad_flags_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir_all(full.join("n1")).unwrap();
    let data = dir.path().join("d").display().to_string();
    let peers = "1=127.0.0.1:7000,2=127.0.0.1:8000,3=127.0.0.1:9000";
    let node = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "node",
            "--id",
            "1",
            "--raft-addr",
            "127.0.0.1:7000",
            "--http-addr",
            "127.0.0.1:7001",
            "--peers",
            peers,
            "--data-dir",
            &data,
        ]
        .map(String::from)
        .to_vec();
        for pair in extra.chunks(2) {
            match args.iter().position(|a| a == pair[0]) {
                Some(i) if pair.len() == 2 => args[i + 1] = pair[1].to_string(),
                _ => args.extend(pair.iter().map(|s| s.to_string())),
            }
        }
        args
    };
    let file_arg = file.display().to_string();
    let full_arg = full.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (node(&["--id", "4"]), "--id 4 is not in --peers"),
        (
            node(&["--peers", "1=127.0.0.1:7000,1=127.0.0.1:8000"]),
            "twice",
        ),
        (node(&["--peers", "one=127.0.0.1:7000"]), "positive integer"),
        (node(&["--raft-addr", "127.0.0.1:7100"]), "differs"),
        (node(&["--raft-addr", "nowhere"]), "host:port"),
        (node(&["--http-addr", "0.0.0.0:7001"]), "--public"),
        (node(&["--http-addr", "127.0.0.1:7000"]), "must differ"),
        (node(&["--voters", "2,3"]), "--join"),
        (node(&["--voters", "1,9"]), "not in --peers"),
        (node(&["--voters", "1,x"]), "positive integers"),
        (node(&["--voters", "1", "--join"]), "cannot be used with"),
        (node(&["--heartbeat-ms", "0"]), "positive"),
        (node(&["--bug", "no-such-bug"]), "no-such-bug"),
        (node(&["--data-dir", &file_arg]), "--data-dir"),
        (
            vec!["cluster".into(), "--nodes".into(), "0".into()],
            "--nodes",
        ),
        (
            vec!["cluster".into(), "--nodes".into(), "10".into()],
            "--nodes",
        ),
        (
            vec!["cluster".into(), "--dir".into(), file_arg.clone()],
            "cannot create --dir",
        ),
        (
            vec!["cluster".into(), "--dir".into(), full_arg],
            "not empty",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_refused(&faultline(&args), needle, &args.join(" "));
    }
}

#[test]
fn a_port_in_use_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let free = faultline::real::ports::free_loopback_ports(2).unwrap();
    let (a, b) = (free[0].to_string(), free[1].to_string());
    let data = dir.path().join("d").display().to_string();
    for (raft, http, needle) in [(&a, &busy, "--http-addr"), (&busy, &b, "cannot listen")] {
        let peers = format!("1={raft}");
        let kv = format!("127.0.0.1:{}", free[1].port() + 1);
        let out = faultline(&[
            "node",
            "--id",
            "1",
            "--raft-addr",
            raft,
            "--http-addr",
            http,
            "--kv-addr",
            &kv,
            "--peers",
            &peers,
            "--kv-peers",
            &format!("1={kv}"),
            "--data-dir",
            &data,
        ]);
        assert_refused(&out, needle, &format!("raft {raft}, http {http}"));
    }
}

/// A one-node cluster that has written something, stopped: its layout,
/// for tests that then spoil its data directory.
fn stopped_node(dir: &Path) -> ClusterSpec {
    let spec = ClusterSpec::local(1, dir, exe()).unwrap();
    let mut cluster = LocalCluster::start(spec.clone()).unwrap();
    let client = HttpClient::new(Duration::from_secs(3));
    wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)).unwrap();
    let write = Op::Write {
        key: "k".into(),
        value: 1,
    };
    assert!(matches!(
        client.run(spec.nodes[0].http, &write),
        Outcome::Ok(_)
    ));
    cluster.stop(Duration::from_secs(3));
    spec
}

#[test]
fn a_data_directory_the_node_cannot_use_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = stopped_node(dir.path());
    let data = spec.nodes[0].data_dir.clone();
    let args = spec.args(1).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let garbage = b"\x07\x00\x00\x00\xde\xad\xbe\xefgarbage";

    for file in ["identity", "hardstate"] {
        let path = data.join(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, garbage).unwrap();
        let out = faultline(&args);
        assert_refused(&out, "corrupt", &format!("a corrupt {file}"));
        assert_refused(&out, file, &format!("a corrupt {file}"));
        std::fs::write(&path, good).unwrap();
    }

    // The log directory replaced by a file: unreadable as a log.
    let log = data.join("log");
    let moved = dir.path().join("log-aside");
    std::fs::rename(&log, &moved).unwrap();
    std::fs::write(&log, "not a directory").unwrap();
    let out = faultline(&args);
    assert_refused(&out, "log", "a log that is a file");
    std::fs::remove_file(&log).unwrap();
    std::fs::rename(&moved, &log).unwrap();

    // Put back, the directory is good again: the node starts and keeps the write.
    let mut cluster = LocalCluster::start(spec.clone()).unwrap();
    let client = HttpClient::new(Duration::from_secs(3));
    wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)).unwrap();
    let read = client.run(spec.nodes[0].http, &Op::Read { key: "k".into() });
    assert_eq!(read, Outcome::Ok(Observation::Int(Some(1))));
    cluster.stop(Duration::from_secs(3));
}
