//! Exports to peers' formats read back with the same verdict, and the
//! timeline page is self-contained and bounded in size.

use std::path::PathBuf;
use std::time::Duration;

use faultline_histories::command::{
    check_file, check_ops, write_timeline, CommandOptions, ModelSpec,
};
use faultline_histories::export::{to_jepsen_edn, to_porcupine, PorcupineFormat};
use faultline_histories::import::{self, Format};
use faultline_histories::ops::pair;
use faultline_histories::simulate::{register_history, SimConfig};
use faultline_histories::timeline::{fault_bands, TimelineOptions};
use faultline_histories::{CheckOptions, Event, EventType, Process, Verdict};
use serde_json::json;

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(rel)
}

fn verdict(events: &[Event], spec: &ModelSpec) -> Verdict {
    let ops = pair(events).unwrap();
    check_ops(spec, &ops, &CheckOptions::default())
        .unwrap()
        .verdict
}

#[test]
fn etcd_logs_survive_export_to_porcupine_and_back() {
    for n in ["000", "002", "005", "007", "040", "080", "097", "100"] {
        let loaded =
            import::load(&corpus(&format!("porcupine/jepsen/etcd_{n}.log")), None).unwrap();
        let spec = ModelSpec::CasRegister { initial: None };
        let text = to_porcupine(&loaded.events, PorcupineFormat::EtcdLog).unwrap();
        let back = import::parse("x.log", &text, Some(Format::JepsenEtcdLog)).unwrap();
        assert_eq!(
            verdict(&back.events, &spec),
            verdict(&loaded.events, &spec),
            "etcd_{n}"
        );
    }
}

#[test]
fn kv_histories_survive_export_to_porcupine_and_to_edn() {
    for f in ["c01-ok", "c01-bad", "c10-ok", "c10-bad"] {
        let loaded = import::load(&corpus(&format!("porcupine/kv/{f}.txt")), None).unwrap();
        let want = verdict(&loaded.events, &ModelSpec::Kv);
        let text = to_porcupine(&loaded.events, PorcupineFormat::KvLines).unwrap();
        let back = import::parse("x.txt", &text, Some(Format::KvEdnLines)).unwrap();
        assert_eq!(
            verdict(&back.events, &ModelSpec::Kv),
            want,
            "{f} via kv lines"
        );
        let edn = to_jepsen_edn(&loaded.events);
        let back = import::parse("x.edn", &edn, Some(Format::KnossosEdn)).unwrap();
        assert_eq!(back.events.len(), loaded.events.len());
        assert_eq!(verdict(&back.events, &ModelSpec::Kv), want, "{f} via EDN");
    }
}

#[test]
fn native_histories_survive_edn_export_with_times_and_cas_mismatches() {
    let events = register_history(&SimConfig {
        seed: 3,
        clients: 4,
        keys: 2,
        ops: 300,
        info: 0.05,
        cas: true,
        progress: 0.5,
    });
    let back = import::parse("x.edn", &to_jepsen_edn(&events), None).unwrap();
    assert!(back.timed);
    assert_eq!(back.events.len(), events.len());
    for (a, b) in events.iter().zip(&back.events) {
        assert_eq!(
            (a.time, a.kind, &a.f, &a.key, &a.error),
            (b.time, b.kind, &b.f, &b.key, &b.error)
        );
    }
    // Many keys do not fit the etcd log.
    assert!(to_porcupine(&events, PorcupineFormat::EtcdLog)
        .unwrap_err()
        .contains("one register"));
}

#[test]
fn timeline_marks_the_error_and_needs_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("timeline.html");
    let opts = CommandOptions {
        html: Some(html.clone()),
        ..CommandOptions::default()
    };
    let c = check_file(&corpus("porcupine/jepsen/etcd_000.log"), &opts).unwrap();
    assert_eq!(c.report.verdict, Verdict::NotLinearizable);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Jump to first error"));
    assert!(page.contains("\"stuck\":"));
    assert!(page.contains("\"cls\":\"stuck\""));
    assert!(page.contains("linearized #1; state after"));
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src="));
}

#[test]
fn timeline_of_a_huge_history_is_a_window_around_the_error() {
    let mut events = register_history(&SimConfig {
        seed: 9,
        clients: 10,
        keys: 1,
        ops: 100_000,
        info: 0.0,
        cas: false,
        progress: 0.5,
    });
    // Break one read in the middle and add a fault band.
    let i = events
        .iter()
        .position(|e| e.index > 100_000 && e.kind == EventType::Ok && e.f == "read")
        .unwrap();
    events[i].value = json!(-5);
    let t = events[i].time;
    for (k, f) in [(0u64, "partition"), (1, "heal")] {
        events.push(Event {
            index: 1_000_000 + k,
            time: t - 1000 + k * 2000,
            process: Process::NEMESIS,
            kind: EventType::Info,
            f: f.into(),
            key: None,
            value: json!(null),
            error: None,
        });
    }
    let ops = pair(&events).unwrap();
    let spec = ModelSpec::Kv;
    let report = check_ops(
        &spec,
        &ops,
        &CheckOptions {
            budget: Some(Duration::from_secs(30)),
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let bands = fault_bands(&events);
    assert_eq!(bands.len(), 1);
    assert_eq!(bands[0].end_ns, Some(t + 1000));
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("t.html");
    write_timeline(
        &html,
        &spec,
        &events,
        &ops,
        &report,
        &TimelineOptions::default(),
    )
    .unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.len() < 3_000_000, "{} bytes", page.len());
    assert!(page.contains("Showing operations") && page.contains("around the error"));
    assert!(page.contains("\"label\":\"partition\""));
}
