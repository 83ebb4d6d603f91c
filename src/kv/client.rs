//! [`KvClient`]: runs one workload operation against the cluster and says
//! what became of it, as Jepsen does:
//!
//! - `Ok`: it happened, with this result;
//! - `Fail`: it certainly did not happen (refused before it was proposed, a
//!   CAS whose expected value did not match, an aborted transaction, or any
//!   read that did not complete, since reads change nothing);
//! - `Info`: it may have happened (a write sent to a node that then went
//!   silent or lost its leadership).
//!
//! The client finds the leader by following `NotLeader` hints and trying
//! nodes in turn. A write keeps its (client, seq) across retries, so the
//! state machine applies it at most once however many nodes saw it.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::time::{timeout, Instant};

use super::protocol::{ClientFrame, KvRequest, KvResponse, ServerFrame};
use super::state::{ClientId, KvCommand, KvOutput, KvQuery, Seq, TxnStep};
use crate::node::frame::{FrameReader, FrameWriter};
use crate::node::net::{BoxStream, Net};
use crate::raft::NodeId;
use faultline_workloads::{Observation, Op, TxnOp};

/// What became of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Observation),
    /// Certainly not applied; the reason goes in the history's `error`.
    Fail(String),
    /// May or may not have been applied.
    Info(String),
}

struct Conn {
    reader: FrameReader<ReadHalf<BoxStream>>,
    writer: FrameWriter<WriteHalf<BoxStream>>,
}

/// How one attempt against one node ended.
enum Attempt {
    Answer(KvResponse),
    /// Could not connect or send: the node never got the request.
    Unreached(String),
    /// Sent, then no answer: the node may have acted on it.
    Lost(String),
}

/// A client of the KV service. Operations are sequential.
pub struct KvClient<N: Net> {
    net: N,
    id: ClientId,
    nodes: Vec<(NodeId, String)>,
    timeout: Duration,
    seq: Seq,
    /// Index into `nodes` of the node to try first.
    target: usize,
    conns: BTreeMap<usize, Conn>,
    next_request: u64,
}

/// Pause before retrying after a refusal that gave no better node to try.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

impl<N: Net> KvClient<N> {
    /// A client `id` (unique across the run: it names the session) talking
    /// to `nodes` (id, client address `host:port`), giving each operation
    /// at most `timeout`.
    pub fn new(net: N, id: ClientId, nodes: Vec<(NodeId, String)>, timeout: Duration) -> Self {
        assert!(!nodes.is_empty(), "a client needs at least one node");
        KvClient {
            net,
            id,
            nodes,
            timeout,
            seq: 0,
            target: 0,
            conns: BTreeMap::new(),
            next_request: 0,
        }
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Run `op` and classify its outcome.
    pub async fn call(&mut self, op: &Op) -> Outcome {
        let request = self.request_for(op);
        let is_write = matches!(request, KvRequest::Write { .. });
        let deadline = Instant::now() + self.timeout;
        // Per attempt, a share of the whole budget, so a silent node leaves
        // time to try another.
        let per_attempt = (self.timeout / 3).max(Duration::from_millis(1));
        let mut maybe_applied = false;
        let mut last_error = String::from("timeout");
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let budget = per_attempt.min(deadline - now);
            let target = self.target;
            match self.attempt(target, &request, budget).await {
                Attempt::Answer(KvResponse::Output(out)) => return classify(op, out),
                Attempt::Answer(KvResponse::NotLeader { leader }) => {
                    last_error = "not-leader".into();
                    match leader.and_then(|l| self.nodes.iter().position(|(id, _)| *id == l)) {
                        Some(i) if i != target => self.target = i,
                        _ => {
                            self.advance();
                            pause(deadline).await;
                        }
                    }
                }
                Attempt::Answer(KvResponse::Dropped) => {
                    last_error = "dropped".into();
                    self.advance();
                    pause(deadline).await;
                }
                Attempt::Answer(KvResponse::Busy) => {
                    last_error = "busy".into();
                    self.advance();
                    pause(deadline).await;
                }
                Attempt::Answer(KvResponse::Unknown) => {
                    maybe_applied |= is_write;
                    last_error = "leadership-lost".into();
                    self.advance();
                    pause(deadline).await;
                }
                Attempt::Unreached(e) => {
                    last_error = e;
                    self.advance();
                    pause(deadline).await;
                }
                Attempt::Lost(e) => {
                    maybe_applied |= is_write;
                    last_error = e;
                    self.advance();
                }
            }
        }
        if maybe_applied {
            Outcome::Info(last_error)
        } else {
            Outcome::Fail(last_error)
        }
    }

    fn advance(&mut self) {
        self.target = (self.target + 1) % self.nodes.len();
    }

    fn request_for(&mut self, op: &Op) -> KvRequest {
        let read = |query| KvRequest::Read { query };
        let command = match op {
            Op::Read { key } => return read(KvQuery::Get { key: key.clone() }),
            Op::ReadList { key } => return read(KvQuery::GetList { key: key.clone() }),
            Op::Txn { ops } if !op.is_write() => {
                let keys = ops
                    .iter()
                    .filter_map(|o| match o {
                        TxnOp::Read { key } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                return read(KvQuery::Multi { keys });
            }
            Op::Write { key, value } => KvCommand::Put {
                key: key.clone(),
                value: *value,
            },
            Op::Cas { key, from, to } => KvCommand::Cas {
                key: key.clone(),
                from: *from,
                to: *to,
            },
            Op::Append { key, element } => KvCommand::Append {
                key: key.clone(),
                element: *element,
            },
            Op::Increment { key, delta } => KvCommand::Add {
                key: key.clone(),
                delta: *delta,
            },
            Op::Txn { ops } => KvCommand::Txn {
                steps: ops
                    .iter()
                    .map(|o| match o {
                        TxnOp::Read { key } => TxnStep::Read(key.clone()),
                        TxnOp::Write { key, value } => TxnStep::Write(key.clone(), *value),
                        TxnOp::Add { key, delta } => TxnStep::Add(key.clone(), *delta),
                    })
                    .collect(),
            },
        };
        self.seq += 1;
        KvRequest::Write {
            client: self.id,
            seq: self.seq,
            command,
        }
    }

    async fn attempt(&mut self, target: usize, request: &KvRequest, budget: Duration) -> Attempt {
        let start = Instant::now();
        if !self.conns.contains_key(&target) {
            let addr = self.nodes[target].1.clone();
            match timeout(budget, self.net.connect(&addr)).await {
                Ok(Ok(stream)) => {
                    let (r, w) = tokio::io::split(stream);
                    self.conns.insert(
                        target,
                        Conn {
                            reader: FrameReader::new(r),
                            writer: FrameWriter::new(w),
                        },
                    );
                }
                Ok(Err(e)) => return Attempt::Unreached(format!("connect {addr}: {e}")),
                Err(_) => return Attempt::Unreached(format!("connect {addr}: timeout")),
            }
        }
        let budget = budget.saturating_sub(start.elapsed());
        self.next_request += 1;
        let id = self.next_request;
        let conn = self.conns.get_mut(&target).expect("connected above");
        let frame = ClientFrame {
            id,
            request: request.clone(),
        };
        let exchange = async {
            conn.writer.send(&frame).await.map_err(|e| e.to_string())?;
            loop {
                match conn.reader.recv::<ServerFrame>().await {
                    Ok(Some(f)) if f.id == id => return Ok(f.response),
                    // An answer to an earlier, abandoned attempt.
                    Ok(Some(_)) => continue,
                    Ok(None) => return Err("connection closed".to_string()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        match timeout(budget, exchange).await {
            Ok(Ok(response)) => Attempt::Answer(response),
            Ok(Err(e)) => {
                self.conns.remove(&target);
                Attempt::Lost(e)
            }
            Err(_) => {
                // Turmoil does not retransmit: a stream that timed out may
                // have lost bytes, so never reuse it.
                self.conns.remove(&target);
                Attempt::Lost("timeout".into())
            }
        }
    }
}

/// Wait before a retry. Borrows nothing of the client, so `call`'s
/// future is `Send` and a real process may run it on any worker thread.
async fn pause(deadline: Instant) {
    let until = (Instant::now() + RETRY_PAUSE).min(deadline);
    tokio::time::sleep_until(until).await;
}

/// Turn the state machine's answer into an outcome for `op`.
fn classify(op: &Op, out: KvOutput) -> Outcome {
    let unexpected = |out: &KvOutput| {
        let reason = format!("unexpected answer {out:?}");
        if op.is_write() {
            Outcome::Info(reason)
        } else {
            Outcome::Fail(reason)
        }
    };
    match (op, out) {
        (_, KvOutput::Rejected(e)) => Outcome::Fail(e),
        (_, KvOutput::TxnAborted(_)) => Outcome::Fail("txn-aborted".into()),
        (Op::Read { .. }, KvOutput::Int(v)) => Outcome::Ok(Observation::Int(v)),
        (Op::ReadList { .. }, KvOutput::List(l)) => Outcome::Ok(Observation::List(l)),
        (Op::Write { .. } | Op::Append { .. } | Op::Increment { .. }, KvOutput::Done) => {
            Outcome::Ok(Observation::Done)
        }
        (Op::Cas { .. }, KvOutput::Cas(true) | KvOutput::Done) => {
            Outcome::Ok(Observation::Applied(true))
        }
        (Op::Cas { .. }, KvOutput::Cas(false)) => Outcome::Fail("cas-mismatch".into()),
        (Op::Txn { .. }, KvOutput::Txn(reads)) => Outcome::Ok(Observation::TxnReads(reads)),
        (Op::Txn { .. }, KvOutput::Done) => Outcome::Ok(Observation::TxnReads(Vec::new())),
        (_, out) => unexpected(&out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_jepsen() {
        let cas = Op::Cas {
            key: "k".into(),
            from: 1,
            to: 2,
        };
        assert_eq!(
            classify(&cas, KvOutput::Cas(false)),
            Outcome::Fail("cas-mismatch".into())
        );
        assert_eq!(
            classify(&cas, KvOutput::Cas(true)),
            Outcome::Ok(Observation::Applied(true))
        );
        let read = Op::Read { key: "k".into() };
        assert_eq!(
            classify(&read, KvOutput::Int(Some(3))),
            Outcome::Ok(Observation::Int(Some(3)))
        );
        // A confused answer to a read is a failure, to a write unknown.
        assert!(matches!(classify(&read, KvOutput::Done), Outcome::Fail(_)));
        let write = Op::Write {
            key: "k".into(),
            value: 1,
        };
        assert!(matches!(
            classify(&write, KvOutput::List(vec![])),
            Outcome::Info(_)
        ));
        let transfer = Op::Txn {
            ops: vec![TxnOp::Add {
                key: "a".into(),
                delta: -5,
            }],
        };
        assert_eq!(
            classify(&transfer, KvOutput::TxnAborted("a would be -5".into())),
            Outcome::Fail("txn-aborted".into())
        );
    }
}
