//! The HTTP API of a real node (axum). Every answer is JSON; every
//! malformed request is a 400 that says what is wrong; bodies are bounded
//! ([`MAX_BODY_BYTES`]) and keys too ([`ops::MAX_KEY_BYTES`]).
//!
//! | route | does |
//! |---|---|
//! | `GET /kv/{key}` | read an integer (`?stale=true`: this node's copy, maybe old) |
//! | `PUT /kv/{key}` | write an integer: `{"value": 5}` or a bare `5` |
//! | `POST /kv/{key}/cas` | compare-and-set: `{"from": 5, "to": 6}` |
//! | `POST /kv/{key}/append` | append to a list: `{"element": 7}` |
//! | `GET /kv/{key}/list` | read a list (`?stale=true` too) |
//! | `POST /kv/{key}/add` | add to a counter: `{"delta": 2}` |
//! | `POST /txn` | a transaction: `{"ops": [["r","a",null],["w","b",1],["add","c",2]]}` |
//! | `GET /set?key=k&value=5`, `GET /get?key=k` | the classic demo's verbs |
//! | `GET /status` | id, role, term, leader, commit, applied, configuration |
//! | `GET /members`, `POST /members` | the configuration; `{"action": "add" / "add-learner" / "promote" / "remove", "id": 4}` or `{"action": "transfer", "to": 2}` |
//! | `GET/PUT/DELETE /admin/partition` | the failpoint: `{"drop_to": [2, 3]}` drops this node's Raft traffic to those peers |
//!
//! Reads are linearizable unless `?stale=true` is given. Data requests may
//! be sent to any node: a follower forwards them to the leader over the
//! client protocol. Outcomes and their status codes are in [`ops`].

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::front::{AdminError, Front};
use super::ops;
use crate::node::service::Admin;
use crate::raft::{ConfChange, NodeId, Role};
use faultline_workloads::{Op, TxnOp};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most steps in one transaction.
pub const MAX_TXN_STEPS: usize = 64;

type Shared = Arc<Front>;

/// The API's routes over `front`.
pub fn router(front: Arc<Front>) -> Router {
    let write = |key, value| Op::Write { key, value };
    let append = |key, element| Op::Append { key, element };
    let increment = |key, delta| Op::Increment { key, delta };
    Router::new()
        .route(
            "/kv/{key}",
            read(|key| Op::Read { key }).merge(int_op(MethodFilter::PUT, "value", write)),
        )
        .route("/kv/{key}/list", read(|key| Op::ReadList { key }))
        .route("/kv/{key}/cas", post(cas))
        .route(
            "/kv/{key}/append",
            int_op(MethodFilter::POST, "element", append),
        )
        .route(
            "/kv/{key}/add",
            int_op(MethodFilter::POST, "delta", increment),
        )
        .route("/txn", post(txn))
        .route("/set", get(demo_set).post(demo_set))
        .route("/get", get(demo_get))
        .route("/status", get(status))
        .route("/members", get(members).post(change_members))
        .route(
            "/admin/partition",
            get(partition).put(set_partition).delete(heal_partition),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(front)
}

/// A 400 (or other error) with a message.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

type ApiResult = Result<Response, ApiError>;

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such route; see GET /status, /kv/{key}, /get?key=, /set?key=&value=, /members".into(),
    )
}

/// The key in the path, checked ([`ops::check_key`]).
struct Key(String);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Key, ApiError> {
        let Path(key) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad(format!("bad key in the path: {}", e.body_text())))?;
        ops::check_key(&key).map_err(bad)?;
        Ok(Key(key))
    }
}

/// The query string, every parameter known.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, ApiError> {
        let Query(p) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad(format!("bad query: {}", e.body_text())))?;
        Ok(Params(p))
    }
}

/// The JSON body, or a 400/413 saying why not.
struct Body(Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Body, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError(e.status(), e.body_text()))?;
        if bytes.is_empty() {
            return Err(bad("the request needs a JSON body"));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| bad(format!("the body is not valid JSON: {e}")))
    }
}

/// The body as a `T`; `expected` shows what it should look like.
fn body_as<T: DeserializeOwned>(body: Value, expected: &str) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| bad(format!("expected {expected}: {e}")))
}

/// An integer field of a JSON object body, or a bare integer body when
/// `bare_ok`.
fn int_field(body: &Value, field: &str, bare_ok: bool) -> Result<i64, ApiError> {
    if bare_ok {
        if let Some(n) = body.as_i64() {
            return Ok(n);
        }
    }
    let v = body
        .get(field)
        .ok_or_else(|| bad(format!("the body needs an integer field {field:?}")))?;
    v.as_i64().ok_or_else(|| {
        bad(format!(
            "{field:?} must be a 64-bit integer (this store holds integers and lists of them), got {v}"
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    #[serde(default)]
    stale: bool,
}

/// Run `op` (linearizably, or locally when `stale`) and answer.
async fn run(front: &Front, op: Op, stale: bool) -> Response {
    let outcome = if stale {
        front.stale_read(&op).await
    } else {
        front.execute(&op).await
    };
    let (status, mut body) = ops::answer(&op, &outcome);
    if stale {
        body["stale"] = json!(true);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

/// `GET` of the read `make` builds on the path's key (`?stale=true` too).
fn read(make: fn(String) -> Op) -> MethodRouter<Shared> {
    get(
        move |State(front): State<Shared>, Key(key): Key, Params(p): Params<ReadParams>| async move {
            run(&front, make(key), p.stale).await
        },
    )
}

/// `method` of the operation `make` builds on the path's key and one
/// integer, given as `{"<field>": n}` or a bare `n`.
fn int_op(
    method: MethodFilter,
    field: &'static str,
    make: fn(String, i64) -> Op,
) -> MethodRouter<Shared> {
    on(
        method,
        move |State(front): State<Shared>, Key(key): Key, Body(body): Body| async move {
            let n = int_field(&body, field, true)?;
            Ok::<_, ApiError>(run(&front, make(key, n), false).await)
        },
    )
}

async fn cas(State(front): State<Shared>, Key(key): Key, Body(body): Body) -> ApiResult {
    let from = int_field(&body, "from", false)?;
    let to = int_field(&body, "to", false)?;
    Ok(run(&front, Op::Cas { key, from, to }, false).await)
}

async fn txn(State(front): State<Shared>, Body(body): Body) -> ApiResult {
    let steps = body.get("ops").ok_or_else(|| {
        bad("the body needs \"ops\": a list of [\"r\"|\"w\"|\"add\", key, value]")
    })?;
    let op = Op::from_invoke(faultline_workloads::Workload::Bank, "txn", None, steps)
        .map_err(|e| bad(format!("bad transaction: {e}")))?;
    let Op::Txn { ops: txn_ops } = &op else {
        return Err(bad("bad transaction"));
    };
    if txn_ops.is_empty() || txn_ops.len() > MAX_TXN_STEPS {
        return Err(bad(format!(
            "a transaction needs 1 to {MAX_TXN_STEPS} steps, got {}",
            txn_ops.len()
        )));
    }
    for o in txn_ops {
        let (TxnOp::Read { key } | TxnOp::Write { key, .. } | TxnOp::Add { key, .. }) = o;
        ops::check_key(key).map_err(bad)?;
    }
    Ok(run(&front, op, false).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoParams {
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    stale: bool,
}

impl DemoParams {
    fn key(&self) -> Result<String, ApiError> {
        let key = self.key.clone().ok_or_else(|| bad("missing ?key="))?;
        ops::check_key(&key).map_err(bad)?;
        Ok(key)
    }
}

async fn demo_set(State(front): State<Shared>, Params(p): Params<DemoParams>) -> ApiResult {
    let key = p.key()?;
    if p.stale {
        return Err(bad("stale applies to reads only"));
    }
    let raw = p.value.as_deref().ok_or_else(|| bad("missing &value="))?;
    let value: i64 = raw.trim().parse().map_err(|_| {
        bad(format!(
            "value {raw:?} is not a 64-bit integer (this store holds integers and lists of them)"
        ))
    })?;
    Ok(run(&front, Op::Write { key, value }, false).await)
}

async fn demo_get(State(front): State<Shared>, Params(p): Params<DemoParams>) -> ApiResult {
    let key = p.key()?;
    if p.value.is_some() {
        return Err(bad("/get takes no value; did you mean /set?"));
    }
    Ok(run(&front, Op::Read { key }, p.stale).await)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

async fn status(State(front): State<Shared>) -> Response {
    let s = front.status();
    let leader_http = s
        .leader
        .and_then(|l| front.http_addr(l))
        .map(|a| a.to_string());
    Json(json!({
        "id": s.id,
        "role": role_name(s.role),
        "term": s.term,
        "leader": s.leader,
        "leader_http": leader_http,
        "commit": s.commit,
        "applied": s.applied,
        "last_index": s.last_index,
        "configuration": {
            "voters": s.config.voters,
            "learners": s.config.learners,
        },
        "running": s.running,
        "stopped": s.stopped,
        "blocked_peers": front.blocked_peers(),
    }))
    .into_response()
}

async fn members(State(front): State<Shared>) -> Response {
    let s = front.status();
    Json(json!({
        "voters": s.config.voters,
        "learners": s.config.learners,
        "leader": s.leader,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberChange {
    action: String,
    id: Option<NodeId>,
    to: Option<NodeId>,
}

async fn change_members(State(front): State<Shared>, Body(body): Body) -> ApiResult {
    let c: MemberChange = body_as(body, "{\"action\": ..., \"id\": N}")?;
    let id = || {
        c.id.filter(|&id| id > 0)
            .ok_or_else(|| bad(format!("{:?} needs a positive \"id\"", c.action)))
    };
    let admin = match c.action.as_str() {
        "add" => Admin::ChangeMembership(ConfChange::AddVoter(id()?)),
        "add-learner" => Admin::ChangeMembership(ConfChange::AddLearner(id()?)),
        "promote" => Admin::ChangeMembership(ConfChange::Promote(id()?)),
        "remove" => Admin::ChangeMembership(ConfChange::Remove(id()?)),
        "transfer" => Admin::TransferLeadership(c.to.filter(|&to| to > 0).ok_or_else(|| {
            bad("\"transfer\" needs a positive \"to\": the voter to hand leadership to")
        })?),
        other => {
            return Err(bad(format!(
                "unknown action {other:?}; expected add, add-learner, promote, remove or transfer"
            )))
        }
    };
    match front.admin(admin).await {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "note": "proposed; GET /members shows when it takes effect" })),
        )
            .into_response()),
        Err(AdminError::NotLeader {
            leader,
            http: Some(addr),
        }) => Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("http://{addr}/members"))],
            Json(json!({ "error": "not the leader", "leader": leader })),
        )
            .into_response()),
        Err(AdminError::NotLeader { leader, http: None }) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "not the leader", "leader": leader })),
        )
            .into_response()),
        Err(AdminError::Refused(why)) => Err(ApiError(StatusCode::CONFLICT, why)),
        Err(AdminError::Unavailable(why)) => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, why)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionBody {
    drop_to: Vec<NodeId>,
}

fn partition_view(front: &Front) -> Response {
    Json(json!({ "drop_to": front.blocked_peers() })).into_response()
}

async fn partition(State(front): State<Shared>) -> Response {
    partition_view(&front)
}

async fn set_partition(State(front): State<Shared>, Body(body): Body) -> ApiResult {
    let p: PartitionBody = body_as(body, "{\"drop_to\": [peer ids]}")?;
    let peers: BTreeSet<NodeId> = p.drop_to.into_iter().collect();
    if peers.contains(&front.id()) {
        return Err(bad("a node cannot drop traffic to itself"));
    }
    front.set_blocked_peers(peers);
    Ok(partition_view(&front))
}

async fn heal_partition(State(front): State<Shared>) -> Response {
    front.set_blocked_peers(BTreeSet::new());
    partition_view(&front)
}
