//! Snapshots (Raft §7): asking the state machine for one past a threshold,
//! compacting the log behind it, and InstallSnapshot in chunks for a
//! follower the log can no longer bring up to date.

use super::message::Message;
use super::progress::ProgressState;
use super::state::Raft;
use super::types::{Index, NodeId, Role, Snapshot, SnapshotMeta};
use crate::bugs::Bug;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SnapshotState {
    /// The newest snapshot this node holds, taken or received.
    meta: Option<SnapshotMeta>,
    /// Its contents when known (after a restart only the state machine has
    /// them until it snapshots again).
    data: Option<Snapshot>,
    /// The newest snapshot known durable and restored.
    durable_index: Index,
    /// A received snapshot not yet acknowledged by `snapshot_installed`.
    installing: Option<SnapshotMeta>,
    /// ... and not yet handed out in a `Ready`.
    to_install: Option<Snapshot>,
    /// Chunks received so far.
    incoming: Option<(SnapshotMeta, Vec<u8>)>,
    /// A `want_snapshot` went out and no snapshot came back yet.
    requested: bool,
    want: bool,
    compact_to: Option<Index>,
}

impl SnapshotState {
    pub fn recovered(meta: Option<SnapshotMeta>) -> Self {
        SnapshotState {
            durable_index: meta.as_ref().map_or(0, |m| m.index),
            meta,
            ..Default::default()
        }
    }

    pub fn meta(&self) -> Option<&SnapshotMeta> {
        self.meta.as_ref()
    }

    pub fn data(&self) -> Option<&Snapshot> {
        self.data.as_ref()
    }

    pub fn durable_index(&self) -> Index {
        self.durable_index
    }

    pub fn installing(&self) -> Option<&SnapshotMeta> {
        self.installing.as_ref()
    }

    pub fn has_ready(&self) -> bool {
        self.to_install.is_some() || self.want || self.compact_to.is_some()
    }

    pub fn take_to_install(&mut self) -> Option<Snapshot> {
        self.to_install.take()
    }

    pub fn take_requests(&mut self) -> (Option<Index>, bool) {
        let want = std::mem::take(&mut self.want);
        if want {
            self.requested = true;
        }
        (self.compact_to.take(), want)
    }

    fn request(&mut self) {
        if !self.requested {
            self.want = true;
        }
    }
}

impl Raft {
    /// Ask for a snapshot once enough has been applied since the last one.
    pub(crate) fn maybe_request_snapshot(&mut self) {
        let base = self.snapshot.meta.as_ref().map_or(0, |m| m.index);
        if self.log.applied().saturating_sub(base) >= self.config.snapshot_threshold {
            self.snapshot.request();
        }
    }

    /// The state machine took a snapshot at `meta.index` and it is durable.
    /// The core keeps it for InstallSnapshot and compacts its log behind
    /// it, keeping `trailing_logs` entries for followers just behind.
    /// A node that recovered a snapshot may also hand its contents here.
    pub fn snapshot_taken(&mut self, meta: SnapshotMeta, data: Vec<u8>) {
        self.snapshot.requested = false;
        let current = self.snapshot.meta.as_ref().map_or(0, |m| m.index);
        let known = self.snapshot.data.is_some();
        if meta.index < current
            || (meta.index == current && known)
            || meta.index > self.log.apply_emitted()
        {
            return;
        }
        self.snapshot.durable_index = self.snapshot.durable_index.max(meta.index);
        self.snapshot.meta = Some(meta.clone());
        self.snapshot.data = Some(Snapshot {
            meta: meta.clone(),
            data,
        });
        let to = meta
            .index
            .min(self.log.applied())
            .saturating_sub(self.config.trailing_logs);
        if self.log.compact(to) {
            self.snapshot.compact_to = Some(to);
        }
    }

    /// The snapshot handed out in `Ready::snapshot` is durable and the
    /// state machine restored from it.
    pub fn snapshot_installed(&mut self, meta: &SnapshotMeta) {
        if self
            .snapshot
            .installing
            .as_ref()
            .is_some_and(|m| m.index == meta.index)
        {
            self.snapshot.installing = None;
            self.snapshot.durable_index = meta.index;
            self.log.snapshot_applied(meta.index);
        }
    }

    /// Begin sending the snapshot to `peer`, or ask the state machine for
    /// one if this node has none to send.
    pub(crate) fn start_snapshot(&mut self, peer: NodeId) {
        let Some(index) = self.snapshot.data.as_ref().map(|s| s.meta.index) else {
            self.snapshot.request();
            return;
        };
        if let Some(pr) = self.progress_mut(peer) {
            pr.become_snapshot(index);
        }
        self.send_snapshot_chunk(peer);
    }

    pub(crate) fn send_snapshot_chunk(&mut self, peer: NodeId) {
        let Some(snap) = &self.snapshot.data else {
            return;
        };
        // Field by field: `snap` borrows the snapshot state meanwhile.
        let Some(pr) = self
            .leader_state
            .as_mut()
            .and_then(|ls| ls.progress.get_mut(&peer))
        else {
            return;
        };
        let ProgressState::Snapshot { index, offset } = pr.state else {
            return;
        };
        let offset = if index == snap.meta.index {
            offset
        } else {
            // A newer snapshot replaced the one being sent: start over.
            pr.become_snapshot(snap.meta.index);
            0
        };
        let start = (offset as usize).min(snap.data.len());
        let end = start
            .saturating_add(self.config.max_snapshot_chunk)
            .min(snap.data.len());
        let msg = Message::InstallSnapshot {
            term: self.term,
            meta: snap.meta.clone(),
            offset: start as u64,
            data: snap.data[start..end].to_vec(),
            done: end == snap.data.len(),
            read_ctx: self.reads.round(),
        };
        self.send(peer, msg);
    }

    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        snapshot_index: Index,
        next_offset: u64,
        done: bool,
        index: Index,
        read_ctx: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.progress_mut(from) else {
            return;
        };
        pr.heard_from(read_ctx);
        let ProgressState::Snapshot { index: sending, .. } = pr.state else {
            self.confirm_reads();
            return;
        };
        if sending != snapshot_index {
            self.confirm_reads();
            return;
        }
        if done {
            let news = pr.update(index);
            pr.become_probe();
            if news {
                self.maybe_commit();
                self.maybe_finish_transfer(from);
            }
            self.send_append(from, true);
        } else {
            pr.state = ProgressState::Snapshot {
                index: sending,
                offset: next_offset,
            };
            self.send_snapshot_chunk(from);
        }
        self.confirm_reads();
    }

    /// Follower side of InstallSnapshot.
    pub(crate) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
        read_ctx: u64,
    ) {
        self.accept_leader(from);
        let term = self.term;
        let reply = |meta: &SnapshotMeta, next_offset: u64, done: bool, index: Index| {
            Message::SnapshotResponse {
                term,
                snapshot_index: meta.index,
                next_offset,
                done,
                index,
                read_ctx,
            }
        };
        let expected = match &self.snapshot.incoming {
            Some((m, buf)) if *m == meta => buf.len() as u64,
            _ => 0,
        };
        if offset != expected {
            self.send(from, reply(&meta, expected, false, 0));
            return;
        }
        match &mut self.snapshot.incoming {
            Some((m, buf)) if *m == meta => buf.extend_from_slice(&data),
            _ => self.snapshot.incoming = Some((meta.clone(), data)),
        }
        if !done {
            let next = self
                .snapshot
                .incoming
                .as_ref()
                .map_or(0, |(_, b)| b.len() as u64);
            self.send(from, reply(&meta, next, false, 0));
            return;
        }
        let (meta, data) = self.snapshot.incoming.take().expect("just stored");
        let next = data.len() as u64;
        // Never go back: a snapshot at or below what the state machine has
        // (or is about to have) would undo applied entries.
        let floor = self
            .log
            .apply_emitted()
            .max(self.snapshot.installing.as_ref().map_or(0, |m| m.index));
        let stale = if self.config.bugs.has(Bug::InstallStaleSnapshot) {
            false
        } else {
            meta.index <= floor
                || (meta.index <= self.log.commit() && self.log.matches(meta.index, meta.term))
        };
        if stale {
            let commit = self.log.commit();
            self.send(from, reply(&meta, next, true, commit));
            return;
        }
        self.log.restore(meta.index, meta.term);
        let snap = Snapshot {
            meta: meta.clone(),
            data,
        };
        self.snapshot.meta = Some(meta.clone());
        self.snapshot.data = Some(snap.clone());
        self.snapshot.installing = Some(meta.clone());
        self.snapshot.to_install = Some(snap);
        self.reload_membership();
        self.send(from, reply(&meta, next, true, meta.index));
    }
}
