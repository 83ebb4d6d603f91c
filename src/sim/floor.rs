//! The substrate's floor: a bare turmoil simulation shaped like a run
//! (the same hosts, tick, latencies and simulated time) whose hosts do
//! nothing but exchange one small message where a run does real work: a
//! heartbeat between every pair of nodes, a round trip per client
//! operation. No Raft, no storage, no history. `faultline bench` times it
//! beside real runs, so the figure that matters is the ratio: how much a
//! faultline run costs over what turmoil itself costs for the same traffic.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

use super::config::RunConfig;

const PORT: u16 = 7000;
/// Bytes in one message each way.
const MESSAGE: usize = 8;
const HEARTBEAT: Duration = Duration::from_millis(50);
const CLIENT_OP: Duration = Duration::from_millis(10);

fn node(i: usize) -> String {
    format!("floor-node-{i}")
}

/// Answer every message on `stream` with one of the same size.
async fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; MESSAGE];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            return;
        }
    }
}

/// One round trip to `to` every `every`, for `for_ms` of simulated time
/// (forever if `None`). Reconnects after an error, as a real client would.
async fn round_trips(to: String, every: Duration, for_ms: Option<u64>) -> u64 {
    let start = tokio::time::Instant::now();
    let mut done = 0;
    let mut ticker = tokio::time::interval(every);
    let mut stream: Option<TcpStream> = None;
    loop {
        ticker.tick().await;
        if for_ms.is_some_and(|ms| start.elapsed() >= Duration::from_millis(ms)) {
            return done;
        }
        if stream.is_none() {
            stream = TcpStream::connect((to.as_str(), PORT)).await.ok();
        }
        let Some(s) = stream.as_mut() else { continue };
        let mut buf = [0u8; MESSAGE];
        let ok = s.write_all(&buf).await.is_ok() && s.read_exact(&mut buf).await.is_ok();
        if ok {
            done += 1;
        } else {
            stream = None;
        }
    }
}

/// What the floor simulation did.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    /// Simulated milliseconds the clients ran for.
    pub sim_ms: u64,
    /// Client round trips completed.
    pub round_trips: u64,
}

/// Run the floor of `config`: its node count, client count, tick,
/// latencies and seed, for `sim_ms` of simulated time.
pub fn simulate_floor(config: &RunConfig, sim_ms: u64) -> Result<Floor, String> {
    let s = &config.substrate;
    let nodes = config.nodes.len().max(1);
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_millis(sim_ms + 10_000))
        .tick_duration(Duration::from_millis(s.tick_ms))
        .min_message_latency(Duration::from_millis(s.min_latency_ms))
        .max_message_latency(Duration::from_millis(s.max_latency_ms))
        .tcp_capacity(s.tcp_capacity)
        .rng_seed(config.seed)
        .build();
    for i in 0..nodes {
        sim.host(node(i), move || async move {
            let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            for peer in (0..nodes).filter(|&p| p != i) {
                tokio::spawn(round_trips(node(peer), HEARTBEAT, None));
            }
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(echo(stream));
            }
        });
    }
    let clients = config.clients.max(1);
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = total.clone();
    sim.client("floor-clients", async move {
        let tasks: Vec<_> = (0..clients)
            .map(|c| tokio::spawn(round_trips(node(c % nodes), CLIENT_OP, Some(sim_ms))))
            .collect();
        for t in tasks {
            let n = t.await?;
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    sim.run()
        .map_err(|e| format!("floor simulation failed: {e}"))?;
    Ok(Floor {
        sim_ms,
        round_trips: total.load(std::sync::atomic::Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_make_a_round_trip_every_op_interval() {
        let config = RunConfig::from_seed(1, &crate::sim::RunOptions::default()).unwrap();
        let floor = simulate_floor(&config, 2_000).unwrap();
        let per_client = 2_000 / CLIENT_OP.as_millis() as u64;
        let expected = per_client * config.clients as u64;
        // Round trips take a few ms of latency, so a few ticks are missed
        // (interval's default burst catches most up); none are invented.
        assert!(floor.round_trips <= expected + config.clients as u64);
        assert!(
            floor.round_trips * 10 >= expected * 8,
            "{floor:?} vs {expected}"
        );
    }
}
