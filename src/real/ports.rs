//! Free loopback ports for a local cluster.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// `n` distinct free ports on 127.0.0.1. All are held open until every one
/// is found, so none is handed out twice; another process may still take
/// one before the node binds it, which the node reports as a clear error.
pub fn free_loopback_ports(n: usize) -> io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| l.local_addr()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_loopback() {
        let ports = free_loopback_ports(6).unwrap();
        let distinct: std::collections::BTreeSet<_> = ports.iter().map(|a| a.port()).collect();
        assert_eq!(distinct.len(), 6);
        assert!(ports.iter().all(|a| a.ip().is_loopback()));
    }
}
