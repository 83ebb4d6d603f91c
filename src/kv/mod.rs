//! The replicated key-value service: its state machine ([`KvState`]), its
//! wire protocol, the client port each node serves, and the client library
//! that records what happened to each operation.

pub mod client;
pub mod entry;
pub mod node;
pub mod protocol;
pub mod server;
pub mod state;

pub use client::{KvClient, Outcome};
pub use entry::Entry;
pub use node::run_node;
pub use protocol::{KvRequest, KvResponse};
pub use state::{KvCommand, KvOutput, KvQuery, KvState, Proposal};

use crate::node::service::StateMachine;

impl StateMachine for KvState {
    type Query = KvQuery;
    type Output = KvOutput;

    fn apply(&mut self, command: &[u8]) -> KvOutput {
        KvState::apply(self, command)
    }
    fn query(&self, query: &KvQuery) -> KvOutput {
        KvState::query(self, query)
    }
    fn snapshot(&self) -> Vec<u8> {
        KvState::snapshot(self)
    }
    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        KvState::restore(self, data)
    }
}
