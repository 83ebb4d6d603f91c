//! Raft traffic between nodes: one outbound connection per peer, one
//! listener for everyone else's.
//!
//! Raft messages are one-way (a response is just another message), so the
//! transport never waits for answers: it sends, with a deadline on every
//! connect and every write, and drops what it cannot deliver. Raft's own
//! retries (heartbeats, re-sent appends, election timeouts) make up for
//! every loss, which is what lets every queue here be bounded.
//!
//! The receiver acknowledges, every `ack_interval_ms` at most, how many
//! messages it has read; a sender whose messages stay unacknowledged for
//! `ack_timeout_ms` drops the connection and dials again. That is the
//! deadline that matters under turmoil, whose TCP drops segments on a
//! partitioned link without retransmitting them: such a stream looks
//! healthy to the writer but delivers nothing after the hole.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tracing::Instrument;

use super::clock::Clock;
use super::frame::{FrameError, FrameReader, FrameWriter};
use super::net::{serve_connections, BoxStream, Net};
use crate::raft::NodeId;

/// A message on the wire, with who sent it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<M> {
    pub from: NodeId,
    pub msg: M,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransportOptions {
    /// Deadline (node-clock ms) for a connect or one message write.
    pub rpc_timeout_ms: u64,
    /// Messages waiting for one peer; more are dropped.
    pub peer_queue: usize,
    /// Received messages waiting for the replica loop; more are dropped.
    pub inbound_queue: usize,
    /// First and largest pause between dials of an unreachable peer.
    pub min_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// An inbound connection silent this long is closed (its sender may
    /// have given up on it without us hearing).
    pub idle_timeout_ms: u64,
    /// A receiver acknowledges what it got at most this long after getting it.
    pub ack_interval_ms: u64,
    /// A connection with messages unacknowledged this long is dropped and
    /// redialled: something inside it was lost.
    pub ack_timeout_ms: u64,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            rpc_timeout_ms: 200,
            peer_queue: 256,
            inbound_queue: 1024,
            min_backoff_ms: 10,
            max_backoff_ms: 500,
            idle_timeout_ms: 5_000,
            ack_interval_ms: 100,
            ack_timeout_ms: 1_000,
        }
    }
}

/// The sending side: a bounded queue and a dialler task per peer.
pub struct Transport<M> {
    peers: BTreeMap<NodeId, mpsc::Sender<M>>,
    drop_to: DropList,
}

/// Peers whose messages are dropped before they are queued: a partition
/// failpoint an operator sets on a real process. Shared, so it can change
/// while the node runs.
#[derive(Clone, Debug, Default)]
pub struct DropList(Arc<Mutex<BTreeSet<NodeId>>>);

impl DropList {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<NodeId>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, peers: BTreeSet<NodeId>) {
        *self.lock() = peers;
    }

    pub fn get(&self) -> BTreeSet<NodeId> {
        self.lock().clone()
    }

    pub fn drops(&self, peer: NodeId) -> bool {
        self.lock().contains(&peer)
    }
}

impl<M: Serialize + Send + Sync + 'static> Transport<M> {
    /// Spawn a dialler for every peer (`id -> host:port`) except `me`.
    pub fn start<N: Net>(
        net: &N,
        me: NodeId,
        peers: &BTreeMap<NodeId, String>,
        clock: &Clock,
        options: TransportOptions,
    ) -> Self {
        let mut senders = BTreeMap::new();
        for (&id, addr) in peers.iter().filter(|(id, _)| **id != me) {
            let (tx, rx) = mpsc::channel(options.peer_queue.max(1));
            let dialler = Dialler {
                net: net.clone(),
                me,
                peer: id,
                addr: addr.clone(),
                clock: clock.clone(),
                options,
                _msg: PhantomData,
            };
            net.spawn(dialler.run(rx).instrument(tracing::Span::current()));
            senders.insert(id, tx);
        }
        Transport {
            peers: senders,
            drop_to: DropList::default(),
        }
    }

    /// Drop messages to the peers `drop_to` names, from now on.
    pub fn with_drop_list(mut self, drop_to: DropList) -> Self {
        self.drop_to = drop_to;
        self
    }

    /// Queue `msg` for `to`. Returns false (and drops it) if the peer is
    /// unknown or its queue is full.
    pub fn send(&self, to: NodeId, msg: M) -> bool {
        if self.drop_to.drops(to) {
            return false;
        }
        match self.peers.get(&to) {
            Some(tx) => tx.try_send(msg).is_ok(),
            None => {
                tracing::warn!(to, "message for an unknown peer dropped");
                false
            }
        }
    }
}

struct Dialler<N, M> {
    net: N,
    me: NodeId,
    peer: NodeId,
    addr: String,
    clock: Clock,
    options: TransportOptions,
    _msg: PhantomData<fn(M)>,
}

/// An open connection to a peer, with what it has confirmed receiving.
struct Conn {
    writer: FrameWriter<WriteHalf<BoxStream>>,
    acks: FrameReader<ReadHalf<BoxStream>>,
    sent: u64,
    acked: u64,
    /// When the oldest message not yet acknowledged was sent (or when the
    /// last acknowledgement that left some outstanding arrived).
    waiting_since: Option<Instant>,
}

/// What the dialler does next.
enum Event<M> {
    Ack(Result<Option<u64>, FrameError>),
    Silent,
    Send(M),
    Closed,
}

impl<N: Net, M: Serialize + Send + Sync + 'static> Dialler<N, M> {
    async fn run(self, mut rx: mpsc::Receiver<M>) {
        let mut conn: Option<Conn> = None;
        let mut backoff = self.options.min_backoff_ms;
        loop {
            let ack_deadline = conn
                .as_ref()
                .and_then(|c| c.waiting_since)
                .map(|t| t + self.clock.real_duration(self.options.ack_timeout_ms));
            let event = tokio::select! {
                biased;
                a = async { conn.as_mut().expect("guarded").acks.recv::<u64>().await }, if conn.is_some() => Event::Ack(a),
                _ = async { tokio::time::sleep_until(ack_deadline.expect("guarded")).await }, if ack_deadline.is_some() => Event::Silent,
                m = rx.recv() => m.map_or(Event::Closed, Event::Send),
            };
            match event {
                Event::Closed => return,
                Event::Ack(Ok(Some(n))) => {
                    let c = conn.as_mut().expect("acks come from a connection");
                    c.acked = c.acked.max(n.min(c.sent));
                    c.waiting_since = (c.acked < c.sent).then(Instant::now);
                }
                Event::Ack(Ok(None)) => {
                    tracing::debug!(peer = self.peer, "peer closed the connection");
                    conn = None;
                }
                Event::Ack(Err(e)) => {
                    tracing::warn!(peer = self.peer, error = %e, "bad acknowledgement; redialling");
                    conn = None;
                }
                Event::Silent => {
                    // turmoil drops segments without retransmitting: a
                    // stream that stops acknowledging has a hole in it and
                    // will deliver nothing more.
                    tracing::debug!(peer = self.peer, "no acknowledgement in time; redialling");
                    conn = None;
                }
                Event::Send(msg) => {
                    let deadline = self.clock.real_duration(self.options.rpc_timeout_ms);
                    if conn.is_none() {
                        match timeout(deadline, self.net.connect(&self.addr)).await {
                            Ok(Ok(stream)) => {
                                tracing::debug!(peer = self.peer, addr = %self.addr, "connected");
                                let (r, w) = tokio::io::split(stream);
                                conn = Some(Conn {
                                    writer: FrameWriter::new(w),
                                    acks: FrameReader::new(r),
                                    sent: 0,
                                    acked: 0,
                                    waiting_since: None,
                                });
                                backoff = self.options.min_backoff_ms;
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(peer = self.peer, error = %e, "dial failed");
                                backoff = self.back_off(&mut rx, backoff).await;
                                continue;
                            }
                            Err(_) => {
                                tracing::debug!(peer = self.peer, "dial timed out");
                                backoff = self.back_off(&mut rx, backoff).await;
                                continue;
                            }
                        }
                    }
                    let c = conn.as_mut().expect("connected above");
                    let env = Envelope { from: self.me, msg };
                    match timeout(deadline, c.writer.send(&env)).await {
                        Ok(Ok(())) => {
                            c.sent += 1;
                            c.waiting_since.get_or_insert_with(Instant::now);
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = self.peer, error = %e, "send failed; redialling");
                            conn = None;
                        }
                        Err(_) => {
                            // Bytes may be lost inside the stream: never reuse it.
                            tracing::debug!(peer = self.peer, "send timed out; redialling");
                            conn = None;
                        }
                    }
                }
            }
        }
    }

    /// Wait before the next dial, then forget what queued meanwhile: it is
    /// stale, and Raft will say it again if it still matters.
    async fn back_off(&self, rx: &mut mpsc::Receiver<M>, backoff: u64) -> u64 {
        tokio::time::sleep(self.clock.real_duration(backoff)).await;
        while rx.try_recv().is_ok() {}
        (backoff * 2).min(self.options.max_backoff_ms)
    }
}

/// Bind the Raft port, then accept peers' connections from a spawned task,
/// feeding what they send into `inbound`.
pub async fn listen<N: Net, M: DeserializeOwned + Send + 'static>(
    net: &N,
    port: u16,
    inbound: mpsc::Sender<(NodeId, M)>,
    clock: &Clock,
    options: TransportOptions,
) -> io::Result<()> {
    let clock = clock.clone();
    serve_connections(net, port, inbound, "peer", move |stream, addr, inbound| {
        receive(stream, addr, inbound, clock.clone(), options)
    })
    .await
}

async fn receive<M: DeserializeOwned>(
    stream: BoxStream,
    addr: SocketAddr,
    inbound: mpsc::Sender<(NodeId, M)>,
    clock: Clock,
    options: TransportOptions,
) {
    let (r, w) = tokio::io::split(stream);
    let (mut reader, mut writer) = (FrameReader::new(r), FrameWriter::new(w));
    let mut received = 0u64;
    // When the messages received since the last acknowledgement are to be
    // acknowledged: one ack covers everything up to then.
    let mut ack_due: Option<Instant> = None;
    let mut last_heard = Instant::now();
    loop {
        let idle_deadline = last_heard + clock.real_duration(options.idle_timeout_ms);
        let frame = tokio::select! {
            biased;
            _ = async { tokio::time::sleep_until(ack_due.expect("guarded")).await }, if ack_due.is_some() => {
                let deadline = clock.real_duration(options.rpc_timeout_ms);
                match timeout(deadline, writer.send(&received)).await {
                    Ok(Ok(())) => ack_due = None,
                    _ => {
                        tracing::debug!(%addr, "cannot acknowledge; closing");
                        return;
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                tracing::debug!(%addr, "idle peer connection closed");
                return;
            }
            f = reader.recv::<Envelope<M>>() => f,
        };
        match frame {
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "bad frame from a peer; closing its connection");
                return;
            }
            Ok(Some(env)) => {
                last_heard = Instant::now();
                received += 1;
                ack_due.get_or_insert_with(|| {
                    Instant::now() + clock.real_duration(options.ack_interval_ms)
                });
                match inbound.try_send((env.from, env.msg)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!(from = env.from, "inbound queue full; message dropped");
                    }
                    // The node is gone.
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::net::SimNet;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    /// Host "b", node 2: listens on port 7000 and hands every message to
    /// `got`.
    fn receiving_host(sim: &mut turmoil::Sim, got: impl Fn(NodeId, u64) + Clone + 'static) {
        sim.host("b", move || {
            let got = got.clone();
            async move {
                let clock = Clock::new();
                let (tx, mut rx) = mpsc::channel::<(NodeId, u64)>(16);
                listen(&SimNet, 7000, tx, &clock, TransportOptions::default()).await?;
                while let Some((from, n)) = rx.recv().await {
                    got(from, n);
                }
                Ok(())
            }
        });
    }

    /// Host "a", node 1: sends 0, 1, ... `count - 1` to node 2 on "b", one
    /// every `gap`.
    fn sending_host(sim: &mut turmoil::Sim, count: u64, gap: Duration) {
        let peers: BTreeMap<NodeId, String> =
            [(1, "a:7000".to_string()), (2, "b:7000".to_string())].into();
        sim.host("a", move || {
            let peers = peers.clone();
            async move {
                let clock = Clock::new();
                let t = Transport::<u64>::start(
                    &SimNet,
                    1,
                    &peers,
                    &clock,
                    TransportOptions::default(),
                );
                assert!(!t.send(9, 0), "unknown peer");
                for n in 0..count {
                    t.send(2, n);
                    tokio::time::sleep(gap).await;
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    /// A partition drops segments in the middle of a stream; once it heals
    /// the silent stream is noticed through missing acknowledgements and
    /// replaced, and messages flow again within about a second.
    #[test]
    fn a_stream_with_a_hole_is_replaced_after_a_partition() {
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(30))
            .build();
        let got: Rc<RefCell<Vec<(u64, Duration)>>> = Rc::default();
        let sink = got.clone();
        receiving_host(&mut sim, move |_, n| {
            sink.borrow_mut().push((n, turmoil::elapsed()))
        });
        sending_host(&mut sim, 200, Duration::from_millis(50));
        let run_for = |sim: &mut turmoil::Sim, ms: u64| {
            for _ in 0..ms {
                sim.step().unwrap();
            }
        };
        run_for(&mut sim, 1000);
        assert!(got.borrow().len() > 10);
        sim.partition("a", "b");
        run_for(&mut sim, 1000);
        sim.repair("a", "b");
        let healed_at = sim.elapsed();
        let before = got.borrow().len();
        run_for(&mut sim, 3000);
        let got = got.borrow();
        let first_after = got[before..].first().expect("messages flow again");
        let lag = first_after.1.saturating_sub(healed_at);
        assert!(
            lag < Duration::from_millis(1500),
            "resumed {lag:?} after the heal"
        );
        assert!(got.len() > before + 30, "{} then {}", before, got.len());
    }

    /// Two hosts; "a" sends numbers to "b", which is crashed for a while
    /// and comes back: the dialler reconnects and later messages arrive.
    #[test]
    fn redials_after_the_peer_comes_back() {
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(20))
            .build();
        let got: Rc<RefCell<Vec<u64>>> = Rc::default();
        let sink = got.clone();
        receiving_host(&mut sim, move |from, n| {
            assert_eq!(from, 1);
            sink.borrow_mut().push(n);
        });
        sending_host(&mut sim, 40, Duration::from_millis(100));
        // Run until b has seen something, crash it, bring it back.
        for _ in 0..1000 {
            sim.step().unwrap();
            if got.borrow().len() >= 5 {
                break;
            }
        }
        assert!(got.borrow().len() >= 5, "messages arrive");
        sim.crash("b");
        for _ in 0..1000 {
            sim.step().unwrap();
        }
        let before = got.borrow().len();
        sim.bounce("b");
        for _ in 0..3000 {
            sim.step().unwrap();
        }
        let after = got.borrow().clone();
        assert!(after.len() > before + 5, "reconnected: {after:?}");
        assert!(after.contains(&39), "the last message arrived: {after:?}");
    }
}
