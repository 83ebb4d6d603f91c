//! Small hand-made histories for every model: valid, invalid, and with
//! operations of unknown outcome that must or must not be placed.

use faultline_histories::command::{check_events, ModelSpec};
use faultline_histories::event::{Event, EventType, Process, CAS_MISMATCH};
use faultline_histories::{CheckOptions, Verdict};
use serde_json::{json, Value as Json};

/// Builds a history one event at a time, 10 ns apart.
#[derive(Default)]
struct H {
    events: Vec<Event>,
}

impl H {
    fn ev(
        &mut self,
        p: u64,
        kind: EventType,
        f: &str,
        key: &str,
        value: Json,
        error: Option<&str>,
    ) -> &mut H {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some(key.into()),
            value,
            error: error.map(str::to_string),
        });
        self
    }
    fn invoke(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.ev(p, EventType::Invoke, f, "k", v, None)
    }
    fn ok(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.ev(p, EventType::Ok, f, "k", v, None)
    }
    fn fail(&mut self, p: u64, f: &str, v: Json, error: &str) -> &mut H {
        self.ev(p, EventType::Fail, f, "k", v, Some(error))
    }
    fn info(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.ev(p, EventType::Info, f, "k", v, Some("timeout"))
    }
    /// invoke + ok.
    fn op(&mut self, p: u64, f: &str, invoke: Json, ok: Json) -> &mut H {
        self.invoke(p, f, invoke).ok(p, f, ok)
    }
    fn verdict(&self, model: &str) -> Verdict {
        let spec: ModelSpec = model.parse().unwrap();
        check_events(&self.events, &spec, &CheckOptions::default())
            .unwrap()
            .verdict
    }
}

const LIN: Verdict = Verdict::Linearizable;
const NOT: Verdict = Verdict::NotLinearizable;

#[test]
fn register_sequential_reads_see_the_last_write() {
    let mut h = H::default();
    h.op(0, "read", Json::Null, Json::Null)
        .op(0, "write", json!(1), json!(1))
        .op(1, "read", Json::Null, json!(1));
    assert_eq!(h.verdict("register"), LIN);
    h.op(1, "read", Json::Null, json!(2));
    assert_eq!(h.verdict("register"), NOT);
}

#[test]
fn register_initial_value() {
    let mut h = H::default();
    h.op(0, "read", Json::Null, json!(0));
    assert_eq!(h.verdict("register:0"), LIN);
    assert_eq!(h.verdict("register"), NOT);
    assert_eq!(h.verdict("cas-register:0"), LIN);
    assert_eq!(h.verdict("cas-register:absent"), NOT);
}

#[test]
fn register_concurrent_write_may_or_may_not_be_seen() {
    for seen in [Json::Null, json!(5)] {
        let mut h = H::default();
        h.invoke(0, "write", json!(5))
            .op(1, "read", Json::Null, seen)
            .ok(0, "write", json!(5));
        assert_eq!(h.verdict("register"), LIN);
    }
    // A stale read after the write was acknowledged is not allowed.
    let mut h = H::default();
    h.op(0, "write", json!(5), json!(5))
        .op(1, "read", Json::Null, Json::Null);
    assert_eq!(h.verdict("register"), NOT);
}

#[test]
fn register_reads_cannot_go_back_in_time() {
    // Two reads after a concurrent write: once one saw the new value, a
    // later read must too.
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .invoke(0, "write", json!(2))
        .op(1, "read", Json::Null, json!(2))
        .op(2, "read", Json::Null, json!(1))
        .ok(0, "write", json!(2));
    assert_eq!(h.verdict("register"), NOT);
}

#[test]
fn register_refuses_cas_and_unknown_functions() {
    let mut h = H::default();
    h.op(0, "cas", json!([1, 2]), json!([1, 2]));
    let spec: ModelSpec = "register".parse().unwrap();
    let e = check_events(&h.events, &spec, &CheckOptions::default()).unwrap_err();
    assert!(e.contains("cas") && e.contains("read, write"), "{e}");
}

#[test]
fn info_write_may_take_effect_late_or_never() {
    // Seen long after the info: allowed (it returned at +infinity).
    let mut h = H::default();
    h.invoke(0, "write", json!(7))
        .info(0, "write", json!(7))
        .op(1, "read", Json::Null, Json::Null)
        .op(1, "read", Json::Null, json!(7));
    assert_eq!(h.verdict("register"), LIN);
    // Never seen: also allowed.
    let mut h = H::default();
    h.invoke(0, "write", json!(7))
        .info(0, "write", json!(7))
        .op(1, "read", Json::Null, Json::Null);
    assert_eq!(h.verdict("register"), LIN);
    // Seen, then unseen: the write cannot take effect twice.
    h.op(1, "read", Json::Null, json!(7))
        .op(1, "read", Json::Null, Json::Null);
    assert_eq!(h.verdict("register"), NOT);
}

#[test]
fn info_write_cannot_take_effect_before_its_invocation() {
    let mut h = H::default();
    h.op(1, "read", Json::Null, json!(7))
        .invoke(0, "write", json!(7))
        .info(0, "write", json!(7));
    assert_eq!(h.verdict("register"), NOT);
}

#[test]
fn an_open_operation_counts_as_info() {
    let mut h = H::default();
    h.invoke(0, "write", json!(3))
        .op(1, "read", Json::Null, json!(3));
    assert_eq!(h.verdict("register"), LIN);
}

#[test]
fn failed_operations_did_not_happen() {
    let mut h = H::default();
    h.invoke(0, "write", json!(3))
        .fail(0, "write", json!(3), "not-leader")
        .op(1, "read", Json::Null, json!(3));
    assert_eq!(h.verdict("register"), NOT);
    let mut h = H::default();
    h.invoke(0, "write", json!(3))
        .fail(0, "write", json!(3), "not-leader")
        .op(1, "read", Json::Null, Json::Null);
    assert_eq!(h.verdict("register"), LIN);
}

#[test]
fn cas_success_and_failure() {
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .op(0, "cas", json!([1, 2]), json!([1, 2]))
        .op(1, "read", Json::Null, json!(2));
    assert_eq!(h.verdict("cas-register"), LIN);
    // A CAS from the wrong value cannot succeed.
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .op(0, "cas", json!([5, 2]), json!([5, 2]));
    assert_eq!(h.verdict("cas-register"), NOT);
}

#[test]
fn cas_mismatch_is_an_observation_other_failures_are_not() {
    // The value was 1 throughout: a CAS from 1 cannot definitely mismatch.
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .invoke(1, "cas", json!([1, 2]))
        .fail(1, "cas", json!([1, 2]), CAS_MISMATCH)
        .op(0, "read", Json::Null, json!(1));
    assert_eq!(h.verdict("cas-register"), NOT);
    // The same failure for another reason says nothing.
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .invoke(1, "cas", json!([1, 2]))
        .fail(1, "cas", json!([1, 2]), "timeout")
        .op(0, "read", Json::Null, json!(1));
    assert_eq!(h.verdict("cas-register"), LIN);
    // A mismatch while a concurrent write changes the value is fine.
    let mut h = H::default();
    h.op(0, "write", json!(1), json!(1))
        .invoke(0, "write", json!(9))
        .invoke(1, "cas", json!([1, 2]))
        .fail(1, "cas", json!([1, 2]), CAS_MISMATCH)
        .ok(0, "write", json!(9))
        .op(0, "read", Json::Null, json!(9));
    assert_eq!(h.verdict("cas-register"), LIN);
}

#[test]
fn info_cas_may_or_may_not_have_applied() {
    for read in [json!(1), json!(2)] {
        let mut h = H::default();
        h.op(0, "write", json!(1), json!(1))
            .invoke(1, "cas", json!([1, 2]))
            .info(1, "cas", json!([1, 2]))
            .op(0, "read", Json::Null, read);
        assert_eq!(h.verdict("cas-register"), LIN);
    }
}

#[test]
fn kv_keys_are_independent_and_empty_reads_match_absent() {
    let mut h = H::default();
    h.ev(0, EventType::Invoke, "put", "a", json!("x"), None)
        .ev(0, EventType::Ok, "put", "a", json!("x"), None)
        .ev(1, EventType::Invoke, "get", "b", Json::Null, None)
        .ev(1, EventType::Ok, "get", "b", json!(""), None)
        .ev(1, EventType::Invoke, "append", "a", json!("y"), None)
        .ev(1, EventType::Ok, "append", "a", json!("y"), None)
        .ev(2, EventType::Invoke, "get", "a", Json::Null, None)
        .ev(2, EventType::Ok, "get", "a", json!("xy"), None);
    assert_eq!(h.verdict("kv"), LIN);
    assert_eq!(h.verdict("kv-map"), LIN);
    h.ev(2, EventType::Invoke, "get", "b", Json::Null, None).ev(
        2,
        EventType::Ok,
        "get",
        "b",
        json!("xy"),
        None,
    );
    assert_eq!(h.verdict("kv"), NOT);
    assert_eq!(h.verdict("kv-map"), NOT);
}

#[test]
fn kv_integer_values() {
    let mut h = H::default();
    h.op(0, "write", json!(4), json!(4))
        .op(1, "read", Json::Null, json!(4));
    assert_eq!(h.verdict("kv"), LIN);
    h.op(1, "read", Json::Null, json!("4"));
    assert_eq!(h.verdict("kv"), NOT);
}

#[test]
fn list_append_reads_must_show_a_prefix_order() {
    let mut h = H::default();
    h.op(0, "append", json!(1), json!(1))
        .invoke(0, "append", json!(2))
        .invoke(1, "append", json!(3))
        .op(2, "read", Json::Null, json!([1, 3]))
        .ok(0, "append", json!(2))
        .ok(1, "append", json!(3))
        .op(2, "read", Json::Null, json!([1, 3, 2]));
    assert_eq!(h.verdict("list-append"), LIN);
    h.op(2, "read", Json::Null, json!([1, 2, 3]));
    assert_eq!(h.verdict("list-append"), NOT);
}

#[test]
fn list_append_info_append_may_appear_later() {
    let mut h = H::default();
    h.invoke(0, "append", json!(1))
        .info(0, "append", json!(1))
        .op(1, "append", json!(2), json!(2))
        .op(2, "read", Json::Null, json!([2]))
        .op(2, "read", Json::Null, json!([2, 1]));
    assert_eq!(h.verdict("list-append"), LIN);
    h.op(2, "read", Json::Null, json!([2]));
    assert_eq!(h.verdict("list-append"), NOT);
}

#[test]
fn set_reads_in_any_order_but_no_duplicates_or_losses() {
    let mut h = H::default();
    h.op(0, "add", json!(1), json!(1))
        .op(1, "add", json!(2), json!(2))
        .op(2, "read", Json::Null, json!([2, 1]));
    assert_eq!(h.verdict("set"), LIN);
    let mut dup = H::default();
    dup.op(0, "add", json!(1), json!(1))
        .op(2, "read", Json::Null, json!([1, 1]));
    assert_eq!(dup.verdict("set"), NOT);
    h.op(2, "read", Json::Null, json!([2]));
    assert_eq!(h.verdict("set"), NOT);
}

#[test]
fn model_names_parse_and_bad_ones_are_explained() {
    for name in [
        "register",
        "register:3",
        "cas-register",
        "cas-register:-1",
        "kv",
        "kv-map",
        "list-append",
        "set",
    ] {
        let spec: ModelSpec = name.parse().unwrap();
        assert_eq!(spec.to_string(), name);
    }
    assert!("multi-register".parse::<ModelSpec>().is_ok());
    let e = "queue".parse::<ModelSpec>().unwrap_err();
    assert!(e.contains("cas-register"), "{e}");
    assert!("kv:3".parse::<ModelSpec>().is_err());
    assert!("register:x".parse::<ModelSpec>().is_err());
}
