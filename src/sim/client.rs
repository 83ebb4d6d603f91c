//! The client host: processes that drive the workload's generator through
//! [`KvClient`] and record every operation as Jepsen does, a liveness probe,
//! and the final reads.
//!
//! Every process runs one operation at a time. A process whose operation
//! ended `info` never invokes again: its task carries on under a fresh
//! process id (`process + clients`, Jepsen's convention, which keeps it in
//! the generator's same key group) and a fresh client session.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use faultline_workloads::{Generator, Observation, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value as Json};

use super::history::Recorder;
use crate::kv::{Entry, KvClient, Outcome};
use crate::node::net::SimNet;
use crate::raft::NodeId;

/// The ChaCha stream the workload draws from.
const WORKLOAD_STREAM: u64 = 0x776f726b6c6f6164;
/// Client session ids of the liveness probe start here, apart from the
/// workload's processes.
const PROBE_SESSION_BASE: u64 = 1 << 40;
/// Pause between retries of a final read or a probe.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What the clients are doing, set by the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientPhase {
    /// Issue workload operations.
    Running,
    /// Finish the operation in hand, then stop.
    Draining,
    /// Take the final reads.
    Final,
    /// Everything is over; tasks exit.
    Done,
}

/// State shared by the client host's tasks and the run loop (one thread).
pub struct Clients {
    pub recorder: Rc<RefCell<Recorder>>,
    generator: RefCell<Generator>,
    rng: RefCell<ChaCha8Rng>,
    pub phase: Cell<ClientPhase>,
    nodes: Vec<(NodeId, String)>,
    op_timeout: Duration,
    clients: u64,
    /// Workload tasks still running.
    pub active: Cell<usize>,
    /// The bank's opening balances (or other setup) are in.
    setup_done: Cell<bool>,
    /// The liveness probe should run.
    pub probe_requested: Cell<bool>,
    /// When (simulated ms) a fresh write and read both succeeded.
    pub probe_succeeded_ms: Cell<Option<u64>>,
    /// How the probe's latest attempt failed, for the liveness verdict.
    pub probe_failure: RefCell<Option<String>>,
    /// The final reads all succeeded.
    pub final_done: Cell<bool>,
    next_process: Cell<u64>,
    next_probe_session: Cell<u64>,
}

fn now_ns() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_nanos() as u64)
}

impl Clients {
    pub fn new(
        recorder: Rc<RefCell<Recorder>>,
        generator: Generator,
        seed: u64,
        nodes: Vec<(NodeId, String)>,
        op_timeout: Duration,
    ) -> Rc<Clients> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(WORKLOAD_STREAM);
        let clients = generator.config().concurrency as u64;
        Rc::new(Clients {
            recorder,
            generator: RefCell::new(generator),
            rng: RefCell::new(rng),
            phase: Cell::new(ClientPhase::Running),
            nodes,
            op_timeout,
            clients,
            active: Cell::new(0),
            setup_done: Cell::new(false),
            probe_requested: Cell::new(false),
            probe_succeeded_ms: Cell::new(None),
            probe_failure: RefCell::new(None),
            final_done: Cell::new(false),
            next_process: Cell::new(clients),
            next_probe_session: Cell::new(PROBE_SESSION_BASE),
        })
    }

    fn client(&self, process: u64) -> KvClient<SimNet> {
        // Session ids start at 1; process 0 is session 1.
        KvClient::new(SimNet, process + 1, self.nodes.clone(), self.op_timeout)
    }

    fn record_invoke(&self, process: u64, op: &Op) {
        self.recorder
            .borrow_mut()
            .push(now_ns(), Entry::invoke(process, op));
    }

    /// Record the completion; returns whether it was `info`.
    fn record_outcome(&self, process: u64, op: &Op, outcome: &Outcome) -> bool {
        self.recorder
            .borrow_mut()
            .push(now_ns(), Entry::completion(process, op, outcome));
        matches!(outcome, Outcome::Info(_))
    }

    /// Run `op` as `process`, recording it; returns the outcome.
    async fn perform(&self, process: u64, client: &mut KvClient<SimNet>, op: &Op) -> Outcome {
        self.record_invoke(process, op);
        let outcome = client.call(op).await;
        self.record_outcome(process, op, &outcome);
        outcome
    }

    /// The client host's whole life.
    pub async fn run_host(self: Rc<Clients>) -> turmoil::Result {
        let mut tasks = Vec::new();
        for p in 0..self.clients {
            self.active.set(self.active.get() + 1);
            tasks.push(tokio::task::spawn_local(self.clone().workload_task(p)));
        }
        tasks.push(tokio::task::spawn_local(self.clone().probe_task()));
        tasks.push(tokio::task::spawn_local(self.clone().final_task()));
        for t in tasks {
            t.await?;
        }
        Ok(())
    }

    async fn workload_task(self: Rc<Clients>, first: u64) {
        let mut process = first;
        let mut client = self.client(process);
        if first == 0 {
            self.setup(&mut process, &mut client).await;
            self.setup_done.set(true);
        }
        while !self.setup_done.get() && self.phase.get() == ClientPhase::Running {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        loop {
            let delay = self
                .generator
                .borrow()
                .next_delay_ns(&mut *self.rng.borrow_mut());
            tokio::time::sleep(Duration::from_nanos(delay)).await;
            if self.phase.get() != ClientPhase::Running {
                break;
            }
            let op = {
                let mut generator = self.generator.borrow_mut();
                generator.next_op(process, &mut *self.rng.borrow_mut())
            };
            self.record_invoke(process, &op);
            let outcome = client.call(&op).await;
            if self.record_outcome(process, &op, &outcome) {
                process += self.clients;
                self.next_process
                    .set(self.next_process.get().max(process + 1));
                client = self.client(process);
            }
        }
        self.active.set(self.active.get() - 1);
    }

    /// The workload's one-off operations (the bank's opening balances),
    /// retried until they succeed.
    async fn setup(&self, process: &mut u64, client: &mut KvClient<SimNet>) {
        let ops = self.generator.borrow().initial_ops();
        for op in ops {
            loop {
                if self.phase.get() != ClientPhase::Running {
                    return;
                }
                match self.perform(*process, client, &op).await {
                    Outcome::Ok(_) => break,
                    Outcome::Fail(_) => tokio::time::sleep(RETRY_PAUSE).await,
                    Outcome::Info(_) => {
                        // It may have happened; retrying under a fresh
                        // process would write the balances twice, which a
                        // deposit-free bank must never see. A write of the
                        // same absolute balances is idempotent, so retry.
                        *process += self.clients;
                        *client = self.client(*process);
                    }
                }
            }
        }
    }

    /// After the heal: a fresh write and a read of it must succeed.
    async fn probe_task(self: Rc<Clients>) {
        while !self.probe_requested.get() {
            if self.phase.get() == ClientPhase::Done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // One client for every attempt: it keeps the node it last reached
        // (a fresh one would start again at the first node, which may be
        // long gone after membership churn, and never get past the dead).
        let session = self.next_probe_session.get();
        self.next_probe_session.set(session + 1);
        let mut client = KvClient::new(SimNet, session, self.nodes.clone(), self.op_timeout);
        let mut attempt = 0i64;
        while self.probe_succeeded_ms.get().is_none() && self.phase.get() != ClientPhase::Done {
            attempt += 1;
            let key = "faultline-liveness".to_string();
            let write = Op::Write {
                key: key.clone(),
                value: attempt,
            };
            let wrote = client.call(&write).await;
            if wrote != Outcome::Ok(Observation::Done) {
                *self.probe_failure.borrow_mut() = Some(format!("the write: {wrote:?}"));
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            let read = client.call(&Op::Read { key }).await;
            if read == Outcome::Ok(Observation::Int(Some(attempt))) {
                self.probe_succeeded_ms.set(Some(now_ns() / 1_000_000));
            } else {
                *self.probe_failure.borrow_mut() = Some(format!("the read: {read:?}"));
            }
        }
    }

    /// Final reads of every key the workload touched, each retried until
    /// it succeeds, so "lost" is judged on a complete final state.
    async fn final_task(self: Rc<Clients>) {
        while self.phase.get() < ClientPhase::Final {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let process = self.next_process.get();
        let mut client = self.client(process);
        let ops = self.generator.borrow().final_ops();
        for op in ops {
            loop {
                if self.phase.get() == ClientPhase::Done {
                    return;
                }
                match self.perform(process, &mut client, &op).await {
                    Outcome::Ok(_) => break,
                    _ => tokio::time::sleep(RETRY_PAUSE).await,
                }
            }
        }
        self.final_done.set(true);
    }
}

/// The history value of a nemesis record.
pub fn nemesis_value(id: u64, nodes: &[NodeId], description: &str, detail: Option<&str>) -> Json {
    let mut v = json!({"id": id, "nodes": nodes, "description": description});
    if let Some(d) = detail {
        v["detail"] = Json::from(d);
    }
    v
}
