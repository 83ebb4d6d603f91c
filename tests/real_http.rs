//! The HTTP API's answers, good and bad, on a one-node real cluster.

use std::path::PathBuf;
use std::time::Duration;

use faultline::real::client::HttpClient;
use faultline::real::cluster::wait_for_leader;
use faultline::real::process::{ClusterSpec, LocalCluster};
use serde_json::{json, Value};

#[test]
fn good_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClusterSpec::local(
        1,
        dir.path(),
        PathBuf::from(env!("CARGO_BIN_EXE_faultline")),
    )
    .unwrap();
    let mut cluster = LocalCluster::start(spec.clone()).unwrap();
    let client = HttpClient::new(Duration::from_secs(5));
    wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)).unwrap();
    let node = spec.nodes[0].http;
    let call = |method: &str, path: &str, body: Option<Value>| {
        client.call(node, method, path, body.as_ref()).unwrap()
    };
    let raw = |method: &str, path: &str, body: &str| -> (u16, String) {
        let agent = ureq::AgentBuilder::new().build();
        match agent
            .request(method, &format!("http://{node}{path}"))
            .send_string(body)
        {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };

    // The demo's verbs and the REST ones agree.
    let (s, b) = call("GET", "/set?key=greeting&value=42", None);
    assert_eq!((s, &b.clone().unwrap()["outcome"]), (200, &json!("ok")));
    let (s, b) = call("GET", "/get?key=greeting", None);
    assert_eq!(s, 200);
    assert_eq!(b.unwrap()["value"], 42);
    let (s, b) = call("GET", "/kv/greeting?stale=true", None);
    assert_eq!(s, 200);
    let b = b.unwrap();
    assert_eq!(
        (b["value"].clone(), b["stale"].clone()),
        (json!(42), json!(true))
    );
    let (s, _) = call(
        "POST",
        "/kv/greeting/cas",
        Some(json!({"from": 42, "to": 43})),
    );
    assert_eq!(s, 200);
    let (s, b) = call(
        "POST",
        "/kv/greeting/cas",
        Some(json!({"from": 42, "to": 44})),
    );
    assert_eq!(s, 409, "{b:?}");
    assert_eq!(b.unwrap()["error"], "cas-mismatch");
    let (s, _) = call("POST", "/kv/l/append", Some(json!({"element": 5})));
    assert_eq!(s, 200);
    let (s, b) = call("GET", "/kv/l/list", None);
    assert_eq!((s, b.unwrap()["value"].clone()), (200, json!([5])));
    let (s, b) = call(
        "POST",
        "/txn",
        Some(json!({"ops": [["w", "a", 3], ["r", "a", null]]})),
    );
    assert_eq!(s, 200, "{b:?}");
    // A list is not an integer: the state machine refuses, definitely.
    let (s, _) = call("GET", "/kv/l", None);
    assert_eq!(s, 409);

    let (s, b) = call("GET", "/status", None);
    assert_eq!(s, 200);
    let b = b.unwrap();
    assert_eq!(b["id"], 1);
    assert_eq!(b["role"], "leader");
    assert_eq!(b["leader"], 1);
    assert!(b["commit"].as_u64().unwrap() >= 5, "{b}");
    assert!(b["applied"].as_u64().is_some());
    assert_eq!(b["configuration"]["voters"], json!([1]));

    // Malformed requests: 400 with a message, never a panic.
    let long_key = format!("/kv/{}", "k".repeat(300));
    for (method, path, body) in [
        ("PUT", "/kv/x", "not json"),
        ("PUT", "/kv/x", "{\"value\": \"seven\"}"),
        ("PUT", "/kv/x", "{\"value\": 1.5}"),
        ("PUT", "/kv/x", ""),
        ("PUT", long_key.as_str(), "1"),
        ("GET", "/set?key=k&value=abc", ""),
        ("GET", "/set?key=k", ""),
        ("GET", "/get", ""),
        ("GET", "/get?key=k&colour=blue", ""),
        ("GET", "/kv/x?stale=maybe", ""),
        ("POST", "/kv/x/cas", "{\"from\": 1}"),
        ("POST", "/txn", "{\"ops\": [[\"frobnicate\", \"a\", 1]]}"),
        ("POST", "/txn", "{\"ops\": []}"),
        ("POST", "/members", "{\"action\": \"explode\", \"id\": 2}"),
        ("POST", "/members", "{\"action\": \"remove\"}"),
        ("PUT", "/admin/partition", "{\"drop_to\": [1]}"),
        ("PUT", "/admin/partition", "{\"drop_to\": \"all\"}"),
    ] {
        let (s, text) = raw(method, path, body);
        assert_eq!(s, 400, "{method} {path} {body:?}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{text}");
    }
    // Too large: 413, answered as soon as the length is known, so the
    // server may close before the client has finished sending.
    let agent = ureq::AgentBuilder::new().build();
    match agent
        .request("PUT", &format!("http://{node}/kv/x"))
        .send_string(&"1".repeat(100_000))
    {
        Err(ureq::Error::Status(s, _)) => assert_eq!(s, 413),
        Err(ureq::Error::Transport(t)) => {
            let msg = t.to_string();
            assert!(
                msg.contains("Broken pipe") || msg.contains("reset"),
                "{msg}"
            );
        }
        Ok(r) => panic!("an oversized body was accepted: {}", r.status()),
    }
    let (s, _) = raw("GET", "/nowhere", "");
    assert_eq!(s, 404);

    // The failpoint is set and cleared.
    let (s, b) = call("PUT", "/admin/partition", Some(json!({"drop_to": [2, 3]})));
    assert_eq!((s, b.unwrap()["drop_to"].clone()), (200, json!([2, 3])));
    let (s, b) = call("DELETE", "/admin/partition", None);
    assert_eq!((s, b.unwrap()["drop_to"].clone()), (200, json!([])));

    // The node is still fine after all that.
    let (s, b) = call("GET", "/get?key=greeting", None);
    assert_eq!((s, b.unwrap()["value"].clone()), (200, json!(43)));
    cluster.stop(Duration::from_secs(3));
}
