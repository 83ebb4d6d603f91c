//! A blocking HTTP client of the node API (ureq): runs workload operations
//! and reads status, for `real-run`, `cluster` and the tests.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value as Json;

use super::ops::{outcome_of, request_for};
use crate::kv::Outcome;
use faultline_workloads::Op;

/// How a request that got no HTTP answer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// Never connected: the request certainly did not reach the node.
    Unreached(String),
    /// Connected, then nothing usable came back: the node may have acted.
    Lost(String),
}

#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    /// Every request gets at most `timeout` in all (connect, send, answer).
    pub fn new(timeout: Duration) -> HttpClient {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(1)))
            .timeout(timeout)
            .redirects(0)
            .build();
        HttpClient { agent }
    }

    /// Send `method path` with an optional JSON body to `node`; the status
    /// and the JSON body (if it was JSON).
    pub fn call(
        &self,
        node: SocketAddr,
        method: &str,
        path: &str,
        body: Option<&Json>,
    ) -> Result<(u16, Option<Json>), NoAnswer> {
        let req = self.agent.request(method, &format!("http://{node}{path}"));
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                let msg = t.to_string();
                return Err(match t.kind() {
                    ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => {
                        NoAnswer::Unreached(msg)
                    }
                    _ => NoAnswer::Lost(msg),
                });
            }
        };
        let status = response.status();
        let text = response
            .into_string()
            .map_err(|e| NoAnswer::Lost(format!("reading the answer: {e}")))?;
        Ok((status, serde_json::from_str(&text).ok()))
    }

    /// Run `op` through `node` and classify what became of it.
    pub fn run(&self, node: SocketAddr, op: &Op) -> Outcome {
        let call = request_for(op);
        match self.call(node, call.method, &call.path, call.body.as_ref()) {
            Ok((status, body)) => outcome_of(op, status, body.as_ref()),
            Err(NoAnswer::Unreached(e)) => Outcome::Fail(format!("unreachable: {e}")),
            Err(NoAnswer::Lost(e)) if op.is_write() => Outcome::Info(e),
            Err(NoAnswer::Lost(e)) => Outcome::Fail(e),
        }
    }

    /// `GET /status` of `node`.
    pub fn status(&self, node: SocketAddr) -> Result<Json, String> {
        match self.call(node, "GET", "/status", None) {
            Ok((200, Some(body))) => Ok(body),
            Ok((status, _)) => Err(format!("/status answered HTTP {status}")),
            Err(NoAnswer::Unreached(e) | NoAnswer::Lost(e)) => Err(e),
        }
    }
}
