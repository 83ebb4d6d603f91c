//! Reading histories: the native store, peers' formats, and the errors bad
//! input gets (file, line, what was expected; exit code 2).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use faultline_histories::check_command;
use faultline_histories::event::{Event, EventType, Process};
use faultline_histories::import::{self, Format};
use faultline_histories::store::{parse_history, Header, HistoryWriter};
use serde_json::json;

fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

fn event(index: u64, p: u64, kind: EventType, f: &str, value: serde_json::Value) -> Event {
    Event {
        index,
        time: index * 1_000_000,
        process: Process::Client(p),
        kind,
        f: f.into(),
        key: Some("k".into()),
        value,
        error: None,
    }
}

#[test]
fn native_history_round_trips_through_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let header = Header::new(42, json!({"workload": "register"}));
    let mut w = HistoryWriter::create(&path, &header).unwrap();
    let events = vec![
        event(0, 0, EventType::Invoke, "write", json!(1)),
        event(1, 0, EventType::Ok, "write", json!(1)),
        Event {
            index: 2,
            time: 2_500_000,
            process: Process::NEMESIS,
            kind: EventType::Info,
            f: "partition".into(),
            key: None,
            value: json!({"halves": [[1], [2, 3]]}),
            error: None,
        },
        event(3, 1, EventType::Invoke, "read", json!(null)),
        event(4, 1, EventType::Ok, "read", json!(1)),
    ];
    for e in &events {
        w.append(e).unwrap();
    }
    drop(w);
    let loaded = import::load(&path, None).unwrap();
    assert_eq!(loaded.format, Format::Native);
    assert_eq!(loaded.header.unwrap(), header);
    assert_eq!(loaded.events, events);
    let (code, text) = check_command(&path, None, Duration::from_secs(5));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("cas-register"), "{text}");
}

#[test]
fn malformed_native_lines_name_file_line_and_expectation() {
    let header = r#"{"format":"faultline-history","version":1,"seed":1,"config":{}}"#;
    let good = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","value":null}"#;
    let cases = [
        (format!("{header}\n{good}\n{{\"index\":1,\"time\":5,\"process\":0,\"type\":\"okay\",\"f\":\"read\"}}\n"), 3, "an event"),
        (format!("{header}\n{good}\nnot json\n"), 3, "an event"),
        (format!("{good}\n"), 1, "a header line"),
        (format!("{}\n", header.replace("faultline-history", "other")), 1, "faultline-history"),
        (format!("{}\n", header.replace("\"version\":1", "\"version\":9")), 1, "format version 1"),
        (format!("{header}\n{good}\n{good}\n"), 3, "an event index above 0"),
        (String::new(), 1, "a header line"),
    ];
    for (text, line, expected) in cases {
        let e = parse_history("h.jsonl", &text).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.expected.contains(expected), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("h.jsonl:{line}: expected")),
            "{e}"
        );
        let (_dir, path) = temp_file("h.jsonl", &text);
        let (code, msg) = check_command(&path, None, Duration::from_secs(1));
        assert_eq!(code, 2, "{msg}");
        assert!(msg.contains("h.jsonl"), "{msg}");
    }
}

#[test]
fn missing_files_bad_models_and_broken_pairing_are_bad_input() {
    let (code, msg) = check_command(
        &PathBuf::from("/nonexistent/h.jsonl"),
        None,
        Duration::from_secs(1),
    );
    assert_eq!(code, 2);
    assert!(msg.contains("/nonexistent/h.jsonl"), "{msg}");
    let (_dir, path) = temp_file("x.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n");
    let (code, msg) = check_command(&path, Some("stack"), Duration::from_secs(1));
    assert_eq!(code, 2);
    assert!(msg.contains("unknown model"), "{msg}");
    let (_dir, path) = temp_file("y.log", "INFO  jepsen.util - 0\t:ok\t:read\tnil\n");
    let (code, msg) = check_command(&path, None, Duration::from_secs(1));
    assert_eq!(code, 2);
    assert!(msg.contains("never invoked"), "{msg}");
    let (_dir, path) = temp_file("z.log", "INFO  jepsen.util - 0\t:invoke\t:write\t\"s\"\n");
    let (code, msg) = check_command(&path, None, Duration::from_secs(1));
    assert_eq!(code, 2);
    assert!(msg.contains("integer"), "{msg}");
}

#[test]
fn etcd_logs_map_timeouts_and_cas_failures() {
    let text = "INFO  jepsen.util - 1\t:invoke\t:cas\t[3 0]\n\
                INFO  jepsen.util - 1\t:fail\t:cas\t[3 0]\n\
                INFO  jepsen.util - 2\t:invoke\t:write\t4\n\
                INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n\
                INFO  jepsen.util - 3\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n";
    let l = import::parse("e.log", text, None).unwrap();
    assert_eq!(l.format, Format::JepsenEtcdLog);
    assert!(!l.timed);
    assert_eq!(l.events[1].error.as_deref(), Some("cas-mismatch"));
    assert_eq!(l.events[1].value, json!([3, 0]));
    assert_eq!(l.events[3].kind, EventType::Info);
    assert_eq!(l.events[3].error.as_deref(), Some("timed-out"));
    assert_eq!(l.events[5].error.as_deref(), Some("timed-out"));
    let e = import::parse("e.log", "INFO  jepsen.util - x :invoke :read nil\n", None).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.found.contains("not a number"), "{e}");
    let e = import::parse(
        "e.log",
        &format!("{text}INFO  jepsen.util - 1 :invoke :read [1\n"),
        None,
    )
    .unwrap_err();
    assert_eq!(e.line, 7);
}

#[test]
fn kv_lines_and_knossos_edn_import() {
    let kv = "{:process 0, :type :invoke, :f :put, :key \"1\", :value \"x\"}\n\
              {:process 0, :type :ok, :f :put, :key \"1\", :value \"x\"}\n";
    let l = import::parse("kv.txt", kv, None).unwrap();
    assert_eq!(l.format, Format::KvEdnLines);
    assert_eq!(l.events[1].key.as_deref(), Some("1"));
    let e = import::parse("kv.txt", &format!("{kv}{{:process 0, :type :ok}}\n"), None).unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.found.contains(":f"), "{e}");

    let edn = "; a comment\n[{:process 0, :type :invoke, :f :write, :value 1, :time 10}\n \
               {:process :nemesis, :type :info, :f :start, :value \"cut [a] \\\"b\\\"\", :time 11}\n \
               {:value 1, :f :write, :type :ok, :process 0, :time 20}\n \
               {:process 1, :type :invoke, :f :read, :value nil, :time 30}\n \
               {:process 1, :type :ok, :f :read, :value nil, :time 40}]";
    let l = import::parse("k.edn", edn, None).unwrap();
    assert_eq!(l.format, Format::KnossosEdn);
    assert!(l.timed);
    assert_eq!(l.events.len(), 5);
    assert!(l.events[1].process.is_nemesis());
    assert_eq!(l.events[2].time, 20);
    // Knossos reads of nil tell nothing.
    assert_eq!(l.events[4].kind, EventType::Info);
    let e = import::parse(
        "k.edn",
        "[{:process 0, :type :invoke, :f :write}\n {:process 0 :type :what :f :write}]",
        None,
    )
    .unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.found.contains(":type"), "{e}");
    let e = import::parse("k.edn", "[{:process 0\n :type :invoke", None).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn formats_are_named_and_detected() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(f));
    }
    assert!("csv".parse::<Format>().unwrap_err().contains("knossos-edn"));
    assert_eq!(Format::detect("\n  hello"), None);
    let e = import::parse("u.txt", "hello\n", None).unwrap_err();
    assert!(e.expected.contains("Knossos"), "{e}");
}
