//! Addresses on the command line: `host:port` and peer lists
//! `1=127.0.0.1:7000,2=127.0.0.1:8000`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::raft::NodeId;

/// Most members a peer list may name.
pub const MAX_PEERS: usize = 64;

/// Parse `host:port` into one socket address (the first it resolves to).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let mut resolved = s
        .to_socket_addrs()
        .map_err(|e| format!("bad address {s:?} (expected host:port): {e}"))?;
    resolved
        .next()
        .ok_or_else(|| format!("address {s:?} resolves to nothing"))
}

/// Parse `ID=host:port,ID=host:port,...`. Ids are positive and distinct.
pub fn parse_peers(s: &str) -> Result<BTreeMap<NodeId, SocketAddr>, String> {
    let mut peers = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("bad peer {part:?}: expected ID=HOST:PORT"))?;
        let id: NodeId = id.trim().parse().map_err(|_| {
            format!(
                "bad peer id {:?} in {part:?}: expected a positive integer",
                id.trim()
            )
        })?;
        if id == 0 {
            return Err(format!("bad peer {part:?}: node ids start at 1"));
        }
        let addr = parse_addr(addr)?;
        if peers.insert(id, addr).is_some() {
            return Err(format!("peer {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return Err("the peer list is empty".into());
    }
    if peers.len() > MAX_PEERS {
        return Err(format!("at most {MAX_PEERS} peers are supported"));
    }
    Ok(peers)
}

/// Format a peer list the way [`parse_peers`] reads it.
pub fn format_peers(peers: &BTreeMap<NodeId, SocketAddr>) -> String {
    peers
        .iter()
        .map(|(id, a)| format!("{id}={a}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuse a non-loopback address unless `public` is set: a test cluster
/// has no authentication and must not be reachable from the network by
/// accident.
pub fn check_loopback(what: &str, addr: SocketAddr, public: bool) -> Result<(), String> {
    if public || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{what} {addr} is not a loopback address; the API has no authentication, \
             so pass --public to listen on other interfaces deliberately"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_lists_parse_and_print() {
        let p = parse_peers("1=127.0.0.1:7000, 2=127.0.0.1:8000,3=127.0.0.1:9000").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[&2], "127.0.0.1:8000".parse().unwrap());
        assert_eq!(parse_peers(&format_peers(&p)).unwrap(), p);
    }

    #[test]
    fn bad_peer_lists_say_why() {
        for (input, needle) in [
            ("", "empty"),
            ("1=127.0.0.1:7000,1=127.0.0.1:8000", "twice"),
            ("0=127.0.0.1:7000", "start at 1"),
            ("x=127.0.0.1:7000", "positive integer"),
            ("127.0.0.1:7000", "ID=HOST:PORT"),
            ("1=127.0.0.1", "host:port"),
        ] {
            let e = parse_peers(input).unwrap_err();
            assert!(e.contains(needle), "{input:?}: {e}");
        }
    }

    #[test]
    fn only_loopback_without_public() {
        let lo: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:1".parse().unwrap();
        assert!(check_loopback("--http-addr", lo, false).is_ok());
        assert!(check_loopback("--http-addr", any, false).is_err());
        assert!(check_loopback("--http-addr", any, true).is_ok());
    }
}
