//! The clients of a real run: one thread per client process, each taking
//! operations from the shared workload generator and running them over
//! HTTP, recording invoke and completion around each.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::client::HttpClient;
use super::recorder::Recorder;
use crate::kv::Outcome;
use faultline_workloads::{Generator, Op};

/// The generator and its RNG, shared by every client.
pub struct Source {
    generator: Generator,
    rng: ChaCha8Rng,
}

impl Source {
    pub fn new(generator: Generator, seed: u64) -> Source {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Apart from the nemesis's stream of the same seed.
        rng.set_stream(0x636c69656e7473);
        Source { generator, rng }
    }

    fn next(&mut self, process: u64) -> (Op, Duration) {
        let delay = Duration::from_nanos(self.generator.next_delay_ns(&mut self.rng));
        (self.generator.next_op(process, &mut self.rng), delay)
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }
}

/// Run `op` as process `p`, trying nodes from `first` on: a node that
/// cannot be reached certainly did not get it, so the next one may.
pub fn run_op(
    client: &HttpClient,
    nodes: &[SocketAddr],
    first: usize,
    recorder: &Recorder,
    p: u64,
    op: &Op,
) -> (Outcome, usize) {
    recorder.invoke(p, op);
    let mut target = first % nodes.len();
    let mut outcome = client.run(nodes[target], op);
    for _ in 1..nodes.len() {
        match &outcome {
            Outcome::Fail(e) if e.starts_with("unreachable") => {
                target = (target + 1) % nodes.len();
                outcome = client.run(nodes[target], op);
            }
            _ => break,
        }
    }
    recorder.complete(p, op, &outcome);
    (outcome, target)
}

/// Start `clients` client threads that run until `stop` is set. A
/// process whose operation ends `info` is retired and replaced by process
/// `p + clients`, as Jepsen does.
pub fn start_clients(
    clients: usize,
    nodes: Vec<SocketAddr>,
    source: Arc<Mutex<Source>>,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
    op_timeout: Duration,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..clients)
        .map(|i| {
            let nodes = nodes.clone();
            let source = source.clone();
            let recorder = recorder.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || {
                    let client = HttpClient::new(op_timeout);
                    let mut p = i as u64;
                    let mut node = i;
                    while !stop.load(Ordering::Relaxed) {
                        let (op, delay) = source.lock().unwrap_or_else(|e| e.into_inner()).next(p);
                        sleep_unless_stopped(delay, &stop);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (outcome, used) = run_op(&client, &nodes, node, &recorder, p, &op);
                        node = used;
                        if matches!(outcome, Outcome::Info(_)) {
                            p += clients as u64;
                        }
                    }
                })
        })
        .collect()
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}
