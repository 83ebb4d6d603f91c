//! The network a node talks over: turmoil's simulated TCP ([`SimNet`]) or
//! the real thing ([`TokioNet`]). Everything above this trait is one code
//! path in both worlds.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tracing::Instrument;

/// A connected byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

/// A bound listening socket.
pub trait Listener: Send + 'static {
    /// The next inbound connection and the address it came from.
    fn accept(&mut self) -> impl Future<Output = io::Result<(BoxStream, SocketAddr)>> + Send;
}

/// Listen and connect.
pub trait Net: Clone + Send + Sync + 'static {
    type Listener: Listener;

    /// Listen on `port` of this host.
    fn listen(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Connect to `addr` (`host:port`). Callers put a deadline on this: a
    /// partitioned peer never answers.
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<BoxStream>> + Send;

    /// Run a background task of the node (a connection, a dialler).
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);
}

/// Listen on `port`, then accept connections from a spawned task until
/// `owner` closes (the node stopped), running `serve(stream, addr, owner)`
/// on a task of its own for each. `what` names the connections in logs.
pub async fn serve_connections<N, T, F, C>(
    net: &N,
    port: u16,
    owner: mpsc::Sender<T>,
    what: &'static str,
    serve: F,
) -> io::Result<()>
where
    N: Net,
    T: Send + 'static,
    F: Fn(BoxStream, SocketAddr, mpsc::Sender<T>) -> C + Send + 'static,
    C: Future<Output = ()> + Send + 'static,
{
    let mut listener = net.listen(port).await?;
    let span = tracing::Span::current();
    let spawner = net.clone();
    let accept = async move {
        loop {
            let accepted = tokio::select! {
                biased;
                // The node stopped: stop taking connections for it.
                _ = owner.closed() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, addr)) => {
                    let conn = serve(stream, addr, owner.clone());
                    spawner.spawn(conn.instrument(tracing::Span::current()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a {what} connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    net.spawn(accept.instrument(span));
    Ok(())
}

/// turmoil's simulated TCP. Only usable inside a turmoil host; host names
/// resolve through the simulation's DNS.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimNet;

pub struct SimListener(turmoil::net::TcpListener);

impl Listener for SimListener {
    async fn accept(&mut self) -> io::Result<(BoxStream, SocketAddr)> {
        let (s, addr) = self.0.accept().await?;
        Ok((Box::new(s) as BoxStream, addr))
    }
}

impl Net for SimNet {
    type Listener = SimListener;

    async fn listen(&self, port: u16) -> io::Result<SimListener> {
        let l = turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await?;
        Ok(SimListener(l))
    }

    async fn connect(&self, addr: &str) -> io::Result<BoxStream> {
        let s = turmoil::net::TcpStream::connect(addr).await?;
        Ok(Box::new(s))
    }

    /// On the host's `LocalSet`, not its runtime: when turmoil crashes a
    /// host, a runtime drops its tasks in an order that depends on
    /// process-wide task ids (so on what ran before in the process), and
    /// each dropped stream sends a segment whose latency is drawn from the
    /// simulation's RNG. A `LocalSet` drops its tasks in spawn order, which
    /// keeps a crash's effects the same from run to run.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        tokio::task::spawn_local(task);
    }
}

/// Real TCP through tokio. Listens on `bind_ip` (loopback unless told
/// otherwise, so a test cluster is not exposed to the network).
#[derive(Clone, Copy, Debug)]
pub struct TokioNet {
    pub bind_ip: IpAddr,
}

impl Default for TokioNet {
    fn default() -> Self {
        TokioNet {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

pub struct TokioListener(tokio::net::TcpListener);

impl Listener for TokioListener {
    async fn accept(&mut self) -> io::Result<(BoxStream, SocketAddr)> {
        let (s, addr) = self.0.accept().await?;
        s.set_nodelay(true)?;
        Ok((Box::new(s) as BoxStream, addr))
    }
}

impl Net for TokioNet {
    type Listener = TokioListener;

    async fn listen(&self, port: u16) -> io::Result<TokioListener> {
        let l = tokio::net::TcpListener::bind(SocketAddr::new(self.bind_ip, port)).await?;
        Ok(TokioListener(l))
    }

    async fn connect(&self, addr: &str) -> io::Result<BoxStream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::frame::{FrameReader, FrameWriter};

    #[tokio::test]
    async fn tokio_net_round_trip_on_loopback() {
        let net = TokioNet::default();
        let mut l = net.listen(0).await.unwrap();
        let port = l.0.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (r, w) = tokio::io::split(s);
            let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
            let n: u64 = r.recv().await.unwrap().unwrap();
            w.send(&(n + 1)).await.unwrap();
        });
        let s = net.connect(&format!("127.0.0.1:{port}")).await.unwrap();
        let (r, w) = tokio::io::split(s);
        let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
        w.send(&41u64).await.unwrap();
        assert_eq!(r.recv::<u64>().await.unwrap(), Some(42));
        server.await.unwrap();
    }

    #[test]
    fn sim_net_round_trip_under_turmoil() {
        let mut sim = turmoil::Builder::new().build();
        sim.host("server", || async {
            let mut l = SimNet.listen(9000).await?;
            let (s, _) = l.accept().await?;
            let (r, w) = tokio::io::split(s);
            let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
            let n: u64 = r.recv().await?.expect("a request");
            w.send(&(n * 2)).await?;
            Ok(())
        });
        sim.client("client", async {
            let s = SimNet.connect("server:9000").await?;
            let (r, w) = tokio::io::split(s);
            let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
            w.send(&21u64).await?;
            assert_eq!(r.recv::<u64>().await?, Some(42));
            Ok(())
        });
        sim.run().unwrap();
    }
}
