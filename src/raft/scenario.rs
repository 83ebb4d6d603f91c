//! Scenario tests written as data, in the spirit of etcd-io/raft's
//! interaction scripts.
//!
//! A script in `testdata/*.txt` is a series of blocks:
//!
//! ```text
//! # comments explain the scenario
//! propose 1 x
//! ----
//! index=2 term=1
//! ```
//!
//! Each block is one command, a `----` line, then the output it must print,
//! up to a blank line. The commands drive an in-memory [`Cluster`]; the
//! test fails on the first block whose output differs. Running with
//! `REWRITE=1` writes the actual outputs back into the scripts instead,
//! so a reviewer sees behaviour changes as a diff of the golden text.
//!
//! Each script has its own `#[test]` (see `scripts!` below), so a failure
//! names its scenario; `testdata/README.md` says which script guards
//! which feature of the core.
//!
//! Commands (an `ID` may also be `leader`: the leader of the highest term):
//! - `cluster N [key=value ...]`: N fresh voters with ids 1..=N; keys
//!   `pre-vote`, `check-quorum`, `lease-reads` (true/false),
//!   `election-timeout`, `heartbeat`, `commit-timeout`,
//!   `max-append-entries`, `max-inflight`, `snapshot-threshold`,
//!   `trailing-logs`, `snapshot-chunk`, `snapshot-padding` (bytes of
//!   filler in each state-machine snapshot), `seed` (numbers), and
//!   `bug`/`bugs` (comma-separated planted-bug names, see `crate::bugs`).
//! - `add-node ID`: a server with no configuration, waiting to be added.
//! - `set-log ID T T T ... [term=N]`: replace a node's durable log with
//!   entries of these terms (index 1, 2, ...) and its term with N, then
//!   restart it from that disk (for the paper's divergent logs).
//! - `campaign ID`: fire ID's election timeout (no delivery).
//! - `elect ID`: campaign and deliver until quiet; print status.
//! - The client calls: `propose ID DATA...` (several are proposed back to
//!   back, before the node's Ready is taken), `conf ID
//!   add-voter|add-learner|promote|remove X`, `transfer FROM TO`,
//!   `read ID READ-ID`.
//! - `deliver [N] [from=X] [to=Y] [type=T] [newest]`: deliver matching
//!   messages in queue order (newest first with `newest`), at most N,
//!   and print the count. `T` is a family (`vote`, `append`, `snapshot`,
//!   `timeout`) or one message as `msgs` names it (`PreVote`, `Vote`,
//!   `PreVoteResp`, `VoteResp`, `App`, `AppResp`, `Snap`, `SnapResp`,
//!   `TimeoutNow`).
//! - `drop ...`: drop matching queued messages; `dup ...`: queue a copy
//!   of each; `hold ...`: take them out of the network until `release`
//!   queues them again, in their order (a late delivery). Same filters,
//!   count and `newest` as `deliver`.
//! - `msgs`: print the queue.
//! - `partition A B | C D`, `isolate ID`, `heal`: cut links lose what
//!   crosses them at delivery time, so messages queued before a `heal`
//!   still arrive after it.
//! - `crash ID`, `restart ID|all`: a crash loses everything not on the
//!   node's disk and the messages queued to it; a restart recovers from
//!   the disk.
//! - `tick IDS|all MS`: advance those clocks by MS (in heartbeat steps),
//!   without delivering; different clocks may drift apart this way.
//! - `run MS`: advance all clocks by MS in 10 ms steps, delivering.
//! - `churn MS [drop=P] [dup=P] [crash=P] [write=P]`: random faults and
//!   writes for MS, from the cluster's seeded generator (see `churn`).
//! - `status`, `log ID`, `config ID`, `reads ID` (a read served below an
//!   index committed before it was issued is marked STALE), `check` (the
//!   first invariant violation seen so far, or `ok`).

use super::message::{Message, ProposeError};
use super::testing::{Cluster, Envelope};
use super::types::{ConfChange, Entry, EntryPayload, Index, NodeId, Term};
use super::{Bug, Bugs, Config};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Run one script file; panic on the first mismatch (or rewrite it).
pub fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut driver = Driver {
        cluster: None,
        max_commit: 0,
        read_floor: BTreeMap::new(),
        held: Vec::new(),
    };
    let mut out = String::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut mismatches = Vec::new();
    while let Some((lineno, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let command = line;
        match lines.next() {
            Some((_, "----")) => {}
            _ => panic!(
                "{}:{}: a command must be followed by a ---- line",
                path.display(),
                lineno + 1
            ),
        }
        let mut expected = String::new();
        while let Some((_, l)) = lines.peek() {
            if l.is_empty() {
                break;
            }
            expected.push_str(l);
            expected.push('\n');
            lines.next();
        }
        let result = driver.run(command);
        driver.note_commits();
        let actual = match result {
            Ok(s) if s.is_empty() => "ok\n".to_string(),
            Ok(s) => s,
            Err(e) => panic!("{}:{}: {command}: {e}", path.display(), lineno + 1),
        };
        if actual != expected {
            mismatches.push(format!(
                "{}:{}: {command}\n--- expected\n{expected}--- actual\n{actual}",
                path.display(),
                lineno + 1
            ));
        }
        let _ = write!(out, "{command}\n----\n{actual}");
    }
    if rewrite {
        std::fs::write(path, out).expect("rewrite script");
    } else if let Some(first) = mismatches.first() {
        panic!(
            "{} block(s) differ (REWRITE=1 regenerates); first:\n{first}",
            mismatches.len()
        );
    }
}

struct Driver {
    cluster: Option<Cluster>,
    /// The highest commit index any node has reached so far: every read
    /// issued from now on must reflect at least this much of the log.
    max_commit: Index,
    /// For each read (node, id), the highest commit index reached before
    /// it was issued, to show a stale read as such.
    read_floor: BTreeMap<(NodeId, u64), Index>,
    /// Messages taken out of the network by `hold`.
    held: Vec<Envelope>,
}

impl Filter {
    /// `[N] [from=X] [to=Y] [type=T] [newest]`.
    fn parse(args: &[&str]) -> Result<Filter, String> {
        let mut f = Filter::default();
        for a in args {
            match a.split_once('=') {
                Some(("from", v)) => f.from = Some(num(v)?),
                Some(("to", v)) => f.to = Some(num(v)?),
                Some(("type", v)) => f.kind = Some(v.to_string()),
                None if *a == "newest" => f.newest = true,
                None => f.limit = Some(num(a)?),
                _ => return Err(format!("bad filter {a}")),
            }
        }
        Ok(f)
    }

    /// Positions in `network` of the matching messages, in queue order:
    /// the first N, or the last N with `newest`.
    fn select(&self, network: &[Envelope]) -> Vec<usize> {
        let mut hits: Vec<usize> = (0..network.len())
            .filter(|&i| self.matches(&network[i]))
            .collect();
        if self.newest {
            hits.reverse();
        }
        hits.truncate(self.limit.unwrap_or(usize::MAX));
        hits.sort_unstable();
        hits
    }

    fn matches(&self, e: &Envelope) -> bool {
        self.from.is_none_or(|x| e.from == x)
            && self.to.is_none_or(|x| e.to == x)
            && self.kind.as_deref().is_none_or(|k| kind_matches(&e.msg, k))
    }
}

/// Which queued messages a `deliver` or `drop` means.
#[derive(Default)]
struct Filter {
    from: Option<NodeId>,
    to: Option<NodeId>,
    kind: Option<String>,
    limit: Option<usize>,
    /// Take matches from the back of the queue (the newest first).
    newest: bool,
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::RequestVote { .. } | Message::VoteResponse { .. } => "vote",
        Message::AppendEntries { .. } | Message::AppendResponse { .. } => "append",
        Message::InstallSnapshot { .. } | Message::SnapshotResponse { .. } => "snapshot",
        Message::TimeoutNow { .. } => "timeout",
    }
}

/// Does `m` answer to the `type=` filter `want`: a family (`vote`,
/// `append`, `snapshot`, `timeout`) or one message, named as `msgs`
/// prints it (`PreVote`, `Vote`, `PreVoteResp`, `VoteResp`, `App`,
/// `AppResp`, `Snap`, `SnapResp`, `TimeoutNow`)?
fn kind_matches(m: &Message, want: &str) -> bool {
    kind(m) == want || describe(m).split(' ').next() == Some(want)
}

fn describe(m: &Message) -> String {
    match m {
        Message::RequestVote {
            term,
            pre_vote,
            last_log_index,
            last_log_term,
            ..
        } => format!(
            "{}Vote term={term} last={last_log_term}/{last_log_index}",
            if *pre_vote { "Pre" } else { "" }
        ),
        Message::VoteResponse {
            term,
            pre_vote,
            granted,
        } => format!(
            "{}VoteResp term={term} granted={granted}",
            if *pre_vote { "Pre" } else { "" }
        ),
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            read_ctx,
        } => {
            let es: Vec<String> = entries
                .iter()
                .map(|e| format!("{}/{}", e.term, e.index))
                .collect();
            format!(
                "App term={term} prev={prev_log_term}/{prev_log_index} commit={leader_commit} entries=[{}] round={read_ctx}",
                es.join(" ")
            )
        }
        Message::AppendResponse {
            term,
            success,
            index,
            hint_index,
            hint_term,
            read_ctx,
        } => {
            let hint = if *success {
                String::new()
            } else {
                format!(" hint={hint_term}/{hint_index}")
            };
            format!("AppResp term={term} success={success} index={index}{hint} round={read_ctx}")
        }
        Message::InstallSnapshot {
            term,
            meta,
            offset,
            data,
            done,
            ..
        } => format!(
            "Snap term={term} at={}/{} bytes={offset}+{} done={done}",
            meta.term,
            meta.index,
            data.len()
        ),
        Message::SnapshotResponse {
            term, done, index, ..
        } => {
            format!("SnapResp term={term} done={done} index={index}")
        }
        Message::TimeoutNow { term } => format!("TimeoutNow term={term}"),
    }
}

/// One line per proposal, or one line for a run of accepted ones.
fn describe_proposals(results: &[Result<(Term, Index), ProposeError>]) -> String {
    let accepted: Vec<(Term, Index)> = results.iter().filter_map(|r| r.clone().ok()).collect();
    if results.len() > 2 && accepted.len() == results.len() {
        let (term, first) = accepted[0];
        let last = accepted[accepted.len() - 1].1;
        if accepted.iter().all(|(t, _)| *t == term) {
            return format!("index={first}..{last} term={term}\n");
        }
    }
    let mut s = String::new();
    for r in results {
        let _ = match r {
            Ok((term, index)) => writeln!(s, "index={index} term={term}"),
            Err(e) => writeln!(s, "error: {e:?}"),
        };
    }
    s
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

fn boolean(s: &str) -> Result<bool, String> {
    s.parse().map_err(|_| format!("not true/false: {s:?}"))
}

impl Driver {
    /// Raise the highest commit index seen (after every command).
    fn note_commits(&mut self) {
        if let Some(c) = &self.cluster {
            for n in c.nodes.values() {
                if let Some(r) = &n.raft {
                    self.max_commit = self.max_commit.max(r.commit_index());
                }
            }
        }
    }

    /// `churn MS [drop=PCT] [dup=PCT] [crash=PCT] [write=PCT]`: an
    /// unreliable network and unstable servers for MS of time, in 10 ms
    /// steps. Each step advances every clock, proposes a write to the
    /// leader with `write` percent chance, delivers the queue in a random order,
    /// dropping or duplicating each message with the given chances, and
    /// with `crash` percent chance crashes a random node (never more than
    /// a minority at once) or restarts a crashed one. All choices come
    /// from the cluster's seeded generator.
    fn churn(&mut self, args: &[&str]) -> Result<String, String> {
        let ms: u64 = num(args.first().ok_or("churn needs ms")?)?;
        let (mut p_drop, mut p_dup, mut p_crash, mut p_write) = (0u64, 0u64, 0u64, 0u64);
        for a in &args[1..] {
            match a.split_once('=') {
                Some(("write", v)) => p_write = num(v)?,
                Some(("drop", v)) => p_drop = num(v)?,
                Some(("dup", v)) => p_dup = num(v)?,
                Some(("crash", v)) => p_crash = num(v)?,
                _ => return Err(format!("bad churn option {a}")),
            }
        }
        if p_drop + p_dup > 100 || p_crash > 100 || p_write > 100 {
            return Err("churn chances are percentages".into());
        }
        let c = self.c()?;
        let ids = c.ids();
        let max_down = (ids.len() - 1) / 2;
        let (mut delivered, mut dropped, mut duplicated, mut crashes, mut restarts) =
            (0, 0, 0, 0, 0);
        let mut writes = 0;
        let mut t = 0;
        while t < ms {
            c.advance(10);
            if c.random_below(100) < p_write {
                if let Some(l) = c.leader() {
                    writes += 1;
                    let _ = c.propose(l, format!("churn{writes}").as_bytes());
                }
            }
            let mut budget = 10_000;
            while !c.network.is_empty() && budget > 0 {
                budget -= 1;
                let i = c.random_below(c.network.len() as u64) as usize;
                let roll = c.random_below(100);
                if roll < p_drop {
                    c.drop_message(i);
                    dropped += 1;
                } else {
                    if roll < p_drop + p_dup {
                        c.duplicate(i);
                        duplicated += 1;
                    }
                    c.deliver(i);
                    delivered += 1;
                }
            }
            if c.random_below(100) < p_crash {
                let id = ids[c.random_below(ids.len() as u64) as usize];
                if c.is_up(id) {
                    if ids.len() - c.live_ids().len() < max_down {
                        c.crash(id);
                        crashes += 1;
                    }
                } else {
                    c.restart(id);
                    restarts += 1;
                }
            }
            t += 10;
        }
        Ok(format!(
            "writes={writes} delivered={delivered} dropped={dropped} \
             duplicated={duplicated} crashes={crashes} restarts={restarts}\n{}",
            c.status()
        ))
    }

    fn c(&mut self) -> Result<&mut Cluster, String> {
        self.cluster
            .as_mut()
            .ok_or_else(|| "no cluster yet: start with `cluster N`".to_string())
    }

    /// A node id, or `leader`: the leader of the highest term among the
    /// live nodes.
    fn node_arg(&mut self, s: Option<&&str>) -> Result<NodeId, String> {
        let s = s.ok_or("missing node id")?;
        if *s == "leader" {
            return self.c()?.leader().ok_or_else(|| "no leader".to_string());
        }
        let id: NodeId = num(s)?;
        if !self.c()?.nodes.contains_key(&id) {
            return Err(format!("no node {id}"));
        }
        Ok(id)
    }

    fn run(&mut self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let args = &words[1..];
        match words[0] {
            "cluster" => {
                let n: u64 = num(args.first().ok_or("cluster needs a size")?)?;
                let mut cfg = Config {
                    seed: 42,
                    ..Config::default()
                };
                let mut padding = 0;
                for kv in &args[1..] {
                    let (k, v) = kv.split_once('=').ok_or(format!("bad option {kv}"))?;
                    match k {
                        "pre-vote" => cfg.pre_vote = boolean(v)?,
                        "check-quorum" => cfg.check_quorum = boolean(v)?,
                        "lease-reads" => cfg.lease_reads = boolean(v)?,
                        "election-timeout" => cfg.election_timeout = num(v)?,
                        "heartbeat" => cfg.heartbeat_interval = num(v)?,
                        "commit-timeout" => cfg.commit_timeout = num(v)?,
                        "max-append-entries" => cfg.max_append_entries = num(v)?,
                        "max-inflight" => cfg.max_inflight = num(v)?,
                        "snapshot-chunk" => cfg.max_snapshot_chunk = num(v)?,
                        "snapshot-padding" => padding = num(v)?,
                        "snapshot-threshold" => cfg.snapshot_threshold = num(v)?,
                        "trailing-logs" => cfg.trailing_logs = num(v)?,
                        "seed" => cfg.seed = num(v)?,
                        "bug" | "bugs" => {
                            let mut bugs = Bugs::NONE;
                            for name in v.split(',') {
                                bugs = bugs.with(name.parse::<Bug>()?);
                            }
                            cfg.bugs = bugs;
                        }
                        _ => return Err(format!("unknown option {k}")),
                    }
                }
                cfg.validate()?;
                let mut cluster = Cluster::new(n, &cfg);
                cluster.snapshot_padding = padding;
                self.cluster = Some(cluster);
                self.max_commit = 0;
                self.read_floor.clear();
                self.held.clear();
                Ok(self.c()?.status())
            }
            "add-node" => {
                let id: NodeId = num(args.first().ok_or("missing id")?)?;
                let c = self.c()?;
                let template = c
                    .nodes
                    .values()
                    .next()
                    .ok_or("empty cluster")?
                    .config
                    .clone();
                c.add_node(id, &template);
                Ok(String::new())
            }
            "set-log" => {
                let id = self.node_arg(args.first())?;
                let mut term = 0;
                let mut entries = Vec::new();
                for a in &args[1..] {
                    if let Some(t) = a.strip_prefix("term=") {
                        term = num(t)?;
                        continue;
                    }
                    let t = num(a)?;
                    let index = entries.len() as u64 + 1;
                    entries.push(Entry {
                        term: t,
                        index,
                        payload: EntryPayload::Command(format!("{t}.{index}").into_bytes()),
                    });
                }
                let last_term = entries.last().map_or(0, |e| e.term);
                let c = self.c()?;
                c.crash(id);
                let node = c.nodes.get_mut(&id).expect("checked");
                node.disk.entries = entries;
                node.disk.hard_state.term = term.max(last_term);
                node.disk.hard_state.vote = None;
                c.restart(id);
                Ok(String::new())
            }
            "campaign" => {
                let id = self.node_arg(args.first())?;
                self.c()?.fire_election_timeout(id);
                Ok(String::new())
            }
            "elect" => {
                let id = self.node_arg(args.first())?;
                let c = self.c()?;
                c.fire_election_timeout(id);
                c.stabilize();
                Ok(c.status())
            }
            "propose" => {
                // Several commands are proposed back to back before the
                // node's Ready is taken, as a busy leader sees them.
                let id = self.node_arg(args.first())?;
                if args.len() < 2 {
                    return Err("propose needs data".into());
                }
                let data = &args[1..];
                let results = self
                    .c()?
                    .client_call(id, |raft, now| {
                        Ok(data
                            .iter()
                            .map(|d| raft.propose(d.as_bytes().to_vec(), now))
                            .collect::<Vec<_>>())
                    })
                    .unwrap_or_else(|e| vec![Err(e); data.len()]);
                Ok(describe_proposals(&results))
            }
            "conf" => {
                let id = self.node_arg(args.first())?;
                let target: NodeId = num(args.get(2).ok_or("conf needs a target")?)?;
                let cc = match *args.get(1).ok_or("conf needs a change")? {
                    "add-voter" => ConfChange::AddVoter(target),
                    "add-learner" => ConfChange::AddLearner(target),
                    "promote" => ConfChange::Promote(target),
                    "remove" => ConfChange::Remove(target),
                    other => return Err(format!("unknown change {other}")),
                };
                Ok(match self.c()?.propose_conf_change(id, cc) {
                    Ok((term, index)) => format!("index={index} term={term}\n"),
                    Err(e) => format!("error: {e:?}\n"),
                })
            }
            "transfer" => {
                let from = self.node_arg(args.first())?;
                let to = self.node_arg(args.get(1))?;
                Ok(match self.c()?.transfer_leadership(from, to) {
                    Ok(()) => String::new(),
                    Err(e) => format!("error: {e:?}\n"),
                })
            }
            "read" => {
                let id = self.node_arg(args.first())?;
                let read: u64 = num(args.get(1).ok_or("read needs an id")?)?;
                self.read_floor.insert((id, read), self.max_commit);
                Ok(match self.c()?.read_index(id, read) {
                    Ok(()) => String::new(),
                    Err(e) => format!("error: {e:?}\n"),
                })
            }
            "reads" => {
                let id = self.node_arg(args.first())?;
                let floor = self.read_floor.clone();
                let n = &self.c()?.nodes[&id];
                let mut s = String::new();
                for r in &n.reads {
                    let _ = write!(s, "read {} served at index {}", r.id, r.index);
                    match floor.get(&(id, r.id)) {
                        Some(&f) if r.index < f => {
                            let _ = writeln!(s, ": STALE, index {f} was committed before it");
                        }
                        _ => s.push('\n'),
                    }
                }
                for r in &n.failed_reads {
                    let _ = writeln!(s, "read {r} failed");
                }
                if s.is_empty() {
                    s.push_str("none\n");
                }
                Ok(s)
            }
            "deliver" | "drop" | "dup" => {
                let f = Filter::parse(args)?;
                let c = self.c()?;
                if words[0] == "dup" {
                    // Queue a copy of each matching message (a network
                    // that retransmits delivers some twice, and late).
                    let hits = f.select(&c.network);
                    for &i in &hits {
                        c.duplicate(i);
                    }
                    return Ok(format!("duplicated {}\n", hits.len()));
                }
                let matches = |c: &Cluster| {
                    if f.newest {
                        c.network.iter().rposition(|e| f.matches(e))
                    } else {
                        c.network.iter().position(|e| f.matches(e))
                    }
                };
                let mut n = 0;
                while f.limit.is_none_or(|l| n < l) {
                    let Some(i) = matches(c) else { break };
                    if words[0] == "deliver" {
                        c.deliver(i);
                    } else {
                        c.drop_message(i);
                    }
                    n += 1;
                    if n > 100_000 {
                        return Err("delivery never goes quiet".into());
                    }
                }
                Ok(format!(
                    "{} {n}\n",
                    if words[0] == "deliver" {
                        "delivered"
                    } else {
                        "dropped"
                    }
                ))
            }
            "msgs" => {
                let c = self.c()?;
                let mut s = String::new();
                for e in &c.network {
                    let _ = writeln!(s, "{}->{} {}", e.from, e.to, describe(&e.msg));
                }
                if s.is_empty() {
                    s.push_str("none\n");
                }
                Ok(s)
            }
            "partition" => {
                let mut groups: Vec<Vec<NodeId>> = vec![Vec::new()];
                for a in args {
                    if *a == "|" {
                        groups.push(Vec::new());
                    } else {
                        groups.last_mut().expect("one group").push(num(a)?);
                    }
                }
                let refs: Vec<&[NodeId]> = groups.iter().map(|g| g.as_slice()).collect();
                self.c()?.partition(&refs);
                Ok(String::new())
            }
            "isolate" => {
                let id = self.node_arg(args.first())?;
                self.c()?.isolate(id);
                Ok(String::new())
            }
            "heal" => {
                self.c()?.heal();
                Ok(String::new())
            }
            "crash" => {
                let id = self.node_arg(args.first())?;
                self.c()?.crash(id);
                Ok(String::new())
            }
            "restart" if args.first() == Some(&"all") => {
                let c = self.c()?;
                for id in c.ids() {
                    c.restart(id);
                }
                Ok(c.status())
            }
            "hold" => {
                // Take matching messages out of the network: they are
                // delayed until `release` puts them back at the end.
                let c = self.cluster.as_mut().ok_or("no cluster yet")?;
                let f = Filter::parse(args)?;
                let hits = f.select(&c.network);
                // Remove from the back so the remaining positions hold.
                let mut held: Vec<Envelope> =
                    hits.iter().rev().map(|&i| c.network.remove(i)).collect();
                held.reverse();
                let n = held.len();
                self.held.extend(held);
                Ok(format!("held {n}\n"))
            }
            "release" => {
                let held = std::mem::take(&mut self.held);
                let n = held.len();
                self.c()?.network.extend(held);
                Ok(format!("released {n}\n"))
            }
            "restart" => {
                let id = self.node_arg(args.first())?;
                self.c()?.restart(id);
                Ok(String::new())
            }
            "tick" => {
                let (ms, who) = args.split_last().ok_or("tick needs nodes and ms")?;
                let ms: u64 = num(ms)?;
                let c = self.c()?;
                let ids = if who == ["all"] {
                    c.live_ids()
                } else {
                    who.iter().map(|w| num(w)).collect::<Result<_, _>>()?
                };
                let step = c
                    .nodes
                    .values()
                    .next()
                    .map_or(10, |n| n.config.heartbeat_interval);
                let mut left = ms;
                while left > 0 {
                    let d = left.min(step);
                    for id in &ids {
                        c.tick_node(*id, d);
                    }
                    left -= d;
                }
                Ok(String::new())
            }
            "run" => {
                let ms: u64 = num(args.first().ok_or("run needs ms")?)?;
                let c = self.c()?;
                c.run_for(ms, 10);
                Ok(c.status())
            }
            "status" => Ok(self.c()?.status()),
            "config" => {
                let id = self.node_arg(args.first())?;
                let c = self.c()?;
                let Some(r) = c.nodes[&id].raft.as_ref() else {
                    return Ok("down\n".into());
                };
                let list = |ids: &std::collections::BTreeSet<NodeId>| {
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                Ok(format!(
                    "voters=[{}] learners=[{}]\n",
                    list(&r.config().voters),
                    list(&r.config().learners)
                ))
            }
            "churn" => self.churn(args),
            "log" => {
                let id = self.node_arg(args.first())?;
                let c = self.c()?;
                let n = &c.nodes[&id];
                let Some(r) = n.raft.as_ref() else {
                    return Ok("down\n".into());
                };
                let first = (1..=r.last_index())
                    .find(|i| r.entry(*i).is_some())
                    .unwrap_or(r.last_index() + 1);
                let mut s = String::new();
                if let Some(m) = r.snapshot_meta() {
                    let _ = write!(s, "snapshot={}/{} ", m.term, m.index);
                }
                let terms: Vec<String> = (first..=r.last_index())
                    .filter_map(|i| r.entry(i))
                    .map(|e| format!("{}/{}", e.term, e.index))
                    .collect();
                let _ = writeln!(s, "log: {}", terms.join(" "));
                Ok(s)
            }
            "check" => Ok(match self.c()?.violation() {
                None => "ok\n".to_string(),
                Some(v) => format!("violation: {v}\n"),
            }),
            other => Err(format!("unknown command {other}")),
        }
    }
}

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/raft/testdata")
}

/// One `#[test]` per script, so a failure names its scenario.
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_file(&testdata().join(concat!(stringify!($name), ".txt")));
            }
        )*
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
    };
}

scripts!(
    churn,
    election,
    figure7,
    figure8,
    membership,
    mit6824,
    prevote,
    reads,
    replication,
    snapshot,
    transfer,
);

#[test]
fn every_script_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(testdata())
        .expect("testdata directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            p.file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "add the script to scripts!() in scenario.rs");
}
