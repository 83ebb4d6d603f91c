//! The Wing–Gong–Lowe search for one partition.
//!
//! Operations become call and return entries in a doubly linked list in
//! history order. The search walks the list: at a call entry it tries to
//! linearize that operation next (the model accepts its return value, and
//! the resulting (linearized set, state) pair was never seen before, Lowe's
//! memoisation); at a return entry it has met an operation that must have
//! taken effect already and has not, so it backtracks. Linearized entries
//! are lifted out of the list (dancing links) and put back on backtrack.
//!
//! Operations with unknown outcome have no return entry: they are never
//! forced and may stay unlinearized, which is how "returns at +infinity, or
//! never happened" is expressed. The search succeeds once every operation
//! with a definite outcome is linearized.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::bitset::LinSet;
use crate::hash::{hash_of, BuildPassThrough};
use crate::model::Model;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// One partition's operations, ready for the search.
pub(crate) struct Problem<'a, M: Model> {
    pub init: M,
    pub ops: &'a [(M::Op, M::Ret)],
    /// Position of each operation's invocation in the history.
    pub call: &'a [u64],
    /// Position of its definite completion; `None` if unknown.
    pub ret: &'a [Option<u64>],
    /// Place identical unknown-outcome operations in call order only
    /// (see [`earlier_twins`]).
    pub twins: bool,
}

/// Where the search must stop.
pub(crate) struct Limits<'a> {
    pub deadline: Option<Instant>,
    /// Bytes of memo table all concurrent searches may hold together.
    pub max_bytes: usize,
    pub used_bytes: &'a AtomicUsize,
    pub max_steps: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Time,
    Memory,
    /// `max_steps` reached (a first, cheap attempt).
    Steps,
}

#[derive(Debug)]
pub(crate) enum Found {
    /// A linearization: operation indices in order (unknown-outcome
    /// operations left out of it did not take effect).
    Linearizable(Vec<usize>),
    NotLinearizable,
    Unknown(Stop),
}

#[derive(Debug)]
pub(crate) struct Outcome {
    pub found: Found,
    /// The longest prefix the search linearized (for explanations).
    pub longest: Vec<usize>,
    /// The operation whose completion the longest prefix could not get past.
    pub stuck: Option<usize>,
    pub steps: u64,
    pub memo_entries: usize,
}

struct MemoEntry<M> {
    /// Hash of `state`.
    shash: u64,
    /// Unknown-outcome operations linearized: `infos[iat..iat + ilen]`, sorted.
    iat: u32,
    ilen: u32,
    full: u32,
    /// The set's distinguishing words: `tails[at..at + len]`.
    at: u32,
    len: u32,
    state: M,
    next: u32,
}

/// Seen (linearized set, state) configurations; also the store of states
/// the search stack points into, so no state is cloned twice.
///
/// Operations of unknown outcome are kept apart from the linearized set:
/// a configuration is also pruned when one with the same definite
/// operations, the same state and a subset of its unknown ones was seen,
/// since that one can do everything it can (unknown operations may be left
/// out). Without this, k pending unknown operations multiply the
/// configurations by up to 2^k.
struct Memo<M> {
    index: HashMap<u64, u32, BuildPassThrough>,
    entries: Vec<MemoEntry<M>>,
    tails: Vec<u64>,
    infos: Vec<u32>,
    bytes: usize,
}

/// Whether sorted `a` is a subset of sorted `b`.
fn subset(a: &[u32], b: &[u32]) -> bool {
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            return false;
        }
        j += 1;
    }
    true
}

impl<M: Model> Memo<M> {
    /// Stores the configuration and returns its id, or `None` if seen.
    fn insert(
        &mut self,
        hash: u64,
        shash: u64,
        set: &mut LinSet,
        info: &[u32],
        state: M,
    ) -> Option<u32> {
        let (full, tail) = set.tail();
        let id = self.entries.len() as u32;
        let prev = match self.index.entry(hash) {
            Entry::Vacant(v) => {
                v.insert(id);
                NIL
            }
            Entry::Occupied(mut o) => {
                let mut at = *o.get();
                while at != NIL {
                    let e = &self.entries[at as usize];
                    let t = &self.tails[e.at as usize..(e.at + e.len) as usize];
                    let i = &self.infos[e.iat as usize..(e.iat + e.ilen) as usize];
                    if e.full as usize == full && t == tail && subset(i, info) && e.state == state {
                        return None;
                    }
                    at = e.next;
                }
                std::mem::replace(o.get_mut(), id)
            }
        };
        self.bytes += std::mem::size_of::<MemoEntry<M>>()
            + 16
            + tail.len() * 8
            + info.len() * 4
            + state.footprint();
        let iat = self.infos.len() as u32;
        self.infos.extend_from_slice(info);
        let at = self.tails.len() as u32;
        self.tails.extend_from_slice(tail);
        self.entries.push(MemoEntry {
            shash,
            iat,
            ilen: info.len() as u32,
            full: full as u32,
            at,
            len: tail.len() as u32,
            state,
            next: prev,
        });
        Some(id)
    }
}

/// The entry list: node 0 is the head; each operation has a call node and,
/// if its outcome is definite, a return node.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// For each node: its operation.
    op: Vec<u32>,
    /// For call nodes: the matching return node or NIL; for return nodes: NIL.
    ret_of: Vec<u32>,
    is_call: Vec<bool>,
}

impl Entries {
    fn build(call: &[u64], ret: &[Option<u64>]) -> Entries {
        // (position, op, is_call), in history order.
        let mut order: Vec<(u64, u32, bool)> = Vec::with_capacity(call.len() * 2);
        for (i, &c) in call.iter().enumerate() {
            order.push((c, i as u32, true));
            if let Some(r) = ret[i] {
                order.push((r, i as u32, false));
            }
        }
        // Positions are distinct event indices; calls first on a tie keeps
        // the check permissive if a format ever repeats one.
        order.sort_by_key(|&(pos, op, is_call)| (pos, !is_call, op));
        let n = order.len() + 1;
        let mut e = Entries {
            next: vec![NIL; n],
            prev: vec![NIL; n],
            op: vec![NIL; n],
            ret_of: vec![NIL; n],
            is_call: vec![false; n],
        };
        let mut call_node = vec![NIL; call.len()];
        for (k, &(_, op, is_call)) in order.iter().enumerate() {
            let node = k as u32 + 1;
            e.prev[node as usize] = node - 1;
            e.next[node as usize - 1] = node;
            e.op[node as usize] = op;
            e.is_call[node as usize] = is_call;
            if is_call {
                call_node[op as usize] = node;
            } else {
                e.ret_of[call_node[op as usize] as usize] = node;
            }
        }
        e
    }

    #[inline]
    fn unlink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = x;
        if x != NIL {
            self.prev[x as usize] = p;
        }
    }

    #[inline]
    fn relink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = n;
        if x != NIL {
            self.prev[x as usize] = n;
        }
    }

    #[inline]
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.ret_of[call as usize];
        if r != NIL {
            self.unlink(r);
        }
    }

    /// Undoes `lift`, relinking in the reverse order of unlinking.
    #[inline]
    fn unlift(&mut self, call: u32) {
        let r = self.ret_of[call as usize];
        if r != NIL {
            self.relink(r);
        }
        self.relink(call);
    }
}

/// One linearized operation on the search path.
struct Frame {
    call: u32,
    /// Memo id of the state before it.
    before: u32,
    /// Chosen in the second pass (unknown outcomes).
    second_pass: bool,
    /// Placed as the only child worth trying (it changed nothing).
    forced: bool,
}

/// For each operation of unknown outcome, the one before it in call order
/// that is identical (same operation, same expected return), or `NIL`.
///
/// Identical unknown-outcome operations are interchangeable once both are
/// invoked. Where the search stands at the later one's call entry, the
/// earlier one's call entry lies before it with no return entry between,
/// so both are candidates, and both stay candidates on every longer prefix
/// (candidates only grow as operations are linearized). A completion that
/// places the later one now, and perhaps the earlier one afterwards, works
/// as well with the two swapped: they do the same thing and neither has a
/// return that bounds it. So the search places such an operation only
/// after its earlier twin: of k identical writes of a value nobody reads
/// it tries k+1 counts instead of 2^k subsets.
fn earlier_twins<M: Model>(p: &Problem<'_, M>) -> Vec<u32> {
    let mut unknown: Vec<usize> = (0..p.ops.len()).filter(|&i| p.ret[i].is_none()).collect();
    // The entry list's order: by call position, then index.
    unknown.sort_by_key(|&i| (p.call[i], i));
    let mut last: HashMap<&(M::Op, M::Ret), u32> = HashMap::new();
    let mut twin = vec![NIL; p.ops.len()];
    for i in unknown {
        if let Some(j) = last.insert(&p.ops[i], i as u32) {
            twin[i] = j;
        }
    }
    twin
}

/// How often (in steps) the clock and the memory budget are checked.
const CHECK_EVERY: u64 = 1 << 10;

pub(crate) fn search<M: Model>(p: &Problem<'_, M>, limits: &Limits<'_>) -> Outcome {
    let n = p.ops.len();
    let required = p.ret.iter().filter(|r| r.is_some()).count();
    let mut entries = Entries::build(p.call, p.ret);
    let pure: Vec<bool> = p.ops.iter().map(|(o, r)| M::observes_only(o, r)).collect();
    let twin = if p.twins {
        earlier_twins(p)
    } else {
        vec![NIL; n]
    };
    let mut set = LinSet::new(n);
    let mut memo: Memo<M> = Memo {
        index: HashMap::with_hasher(BuildPassThrough),
        entries: Vec::new(),
        tails: Vec::new(),
        infos: Vec::new(),
        bytes: 0,
    };
    // Unknown-outcome operations on the current path, sorted.
    let mut info_on: Vec<u32> = Vec::new();
    let mut cur = memo
        .insert(
            hash_of(&p.init),
            hash_of(&p.init),
            &mut set,
            &[],
            p.init.clone(),
        )
        .expect("empty memo");
    let mut stack: Vec<Frame> = Vec::new();
    // Each configuration tries operations with a definite outcome first
    // and those of unknown outcome in a second pass over the same
    // candidates: the unknown ones are rarely needed, and trying them
    // first sends the search down long dead ends.
    let mut second_pass = false;
    let mut unknown_pending = n - required;
    let mut done = 0usize;
    let mut longest: Vec<usize> = Vec::new();
    let mut stuck: Option<usize> = None;
    let mut steps: u64 = 0;
    let mut reported_bytes = 0usize;
    let mut node = entries.next[HEAD as usize];

    let finish = |found: Found, longest: Vec<usize>, stuck, steps, memo: &Memo<M>, reported| {
        limits.used_bytes.fetch_sub(reported, Ordering::Relaxed);
        Outcome {
            found,
            longest,
            stuck,
            steps,
            memo_entries: memo.entries.len(),
        }
    };

    loop {
        if done == required {
            let order: Vec<usize> = stack
                .iter()
                .map(|f| entries.op[f.call as usize] as usize)
                .collect();
            return finish(
                Found::Linearizable(order),
                longest,
                None,
                steps,
                &memo,
                reported_bytes,
            );
        }
        steps += 1;
        if steps.is_multiple_of(CHECK_EVERY) {
            let delta = memo.bytes - reported_bytes;
            let total = limits.used_bytes.fetch_add(delta, Ordering::Relaxed) + delta;
            reported_bytes = memo.bytes;
            let stop = if steps >= limits.max_steps {
                Some(Stop::Steps)
            } else if total > limits.max_bytes {
                Some(Stop::Memory)
            } else if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                Some(Stop::Time)
            } else {
                None
            };
            if let Some(stop) = stop {
                if stack.len() > longest.len() {
                    longest = stack
                        .iter()
                        .map(|f| entries.op[f.call as usize] as usize)
                        .collect();
                }
                return finish(
                    Found::Unknown(stop),
                    longest,
                    stuck,
                    steps,
                    &memo,
                    reported_bytes,
                );
            }
        }
        // Set when the current configuration is known to fail without
        // trying the remaining candidates.
        let mut fail_here = false;
        if node != NIL && entries.is_call[node as usize] {
            let op = entries.op[node as usize] as usize;
            if p.ret[op].is_none() != second_pass {
                node = entries.next[node as usize];
                continue;
            }
            let t = twin[op];
            if t != NIL && info_on.binary_search(&t).is_err() {
                node = entries.next[node as usize];
                continue;
            }
            let (o, r) = &p.ops[op];
            let before = &memo.entries[cur as usize];
            let mut next_state = before.state.clone();
            if next_state.is_valid_step(o, r) {
                let definite = p.ret[op].is_some();
                let shash = hash_of(&next_state);
                // An operation that is valid here and never changes any
                // state (a read, a CAS mismatch: `Model::observes_only`)
                // may as well go now: any completion that places it later
                // still works with it moved here, since it is a candidate
                // (nothing that must precede it is pending) and changes
                // nothing. So if placing it now fails, this configuration
                // fails. A write of the value already held is not such an
                // operation: placed later it overwrites another value. One
                // of unknown outcome that leaves this state as it is gains
                // nothing from being placed here, and stays available.
                let unchanged = shash == before.shash && next_state == before.state;
                if unchanged && !definite {
                    node = entries.next[node as usize];
                    continue;
                }
                let forced = unchanged && pure[op];
                if definite {
                    set.set(op);
                } else {
                    let at = info_on.binary_search(&(op as u32)).unwrap_err();
                    info_on.insert(at, op as u32);
                }
                let h = set.hash() ^ shash;
                if let Some(id) = memo.insert(h, shash, &mut set, &info_on, next_state) {
                    stack.push(Frame {
                        call: node,
                        before: cur,
                        second_pass,
                        forced,
                    });
                    cur = id;
                    entries.lift(node);
                    if definite {
                        done += 1;
                    } else {
                        unknown_pending -= 1;
                    }
                    second_pass = false;
                    node = entries.next[HEAD as usize];
                    continue;
                }
                if definite {
                    set.clear(op);
                } else {
                    let at = info_on.binary_search(&(op as u32)).expect("on path");
                    info_on.remove(at);
                }
                fail_here = forced;
            }
            if !fail_here {
                node = entries.next[node as usize];
                continue;
            }
        }
        if !fail_here {
            // A return entry (or the end of the list): the operation it
            // closes cannot be linearized after the current prefix. Try the
            // unknown outcomes, then backtrack.
            if !second_pass && unknown_pending > 0 {
                second_pass = true;
                node = entries.next[HEAD as usize];
                continue;
            }
            if stack.len() >= longest.len() && (stuck.is_none() || stack.len() > longest.len()) {
                longest = stack
                    .iter()
                    .map(|f| entries.op[f.call as usize] as usize)
                    .collect();
                stuck = (node != NIL).then(|| entries.op[node as usize] as usize);
            }
        }
        // Backtrack; a configuration whose only child was forced fails
        // with it.
        loop {
            let Some(frame) = stack.pop() else {
                return finish(
                    Found::NotLinearizable,
                    longest,
                    stuck,
                    steps,
                    &memo,
                    reported_bytes,
                );
            };
            cur = frame.before;
            second_pass = frame.second_pass;
            let op = entries.op[frame.call as usize] as usize;
            if p.ret[op].is_some() {
                set.clear(op);
                done -= 1;
            } else {
                let at = info_on.binary_search(&(op as u32)).expect("on path");
                info_on.remove(at);
                unknown_pending += 1;
            }
            entries.unlift(frame.call);
            if !frame.forced {
                node = entries.next[frame.call as usize];
                break;
            }
        }
    }
}
