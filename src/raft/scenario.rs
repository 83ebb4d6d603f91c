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
//! Commands (node lists are space separated ids):
//! - `cluster N [key=value ...]`: N fresh voters; keys `pre-vote`,
//!   `check-quorum`, `lease-reads` (true/false), `election-timeout`,
//!   `heartbeat`, `max-append-entries`, `snapshot-threshold`,
//!   `trailing-logs`, `seed` (numbers), `bugs` (comma-separated names).
//! - `add-node ID`: a server with no configuration, waiting to be added.
//! - `set-log ID T T T ...`: replace a node's durable log with entries of
//!   these terms (index 1, 2, ...) and its term with `term=N` if given,
//!   then restart it from that disk (for the paper's divergent logs).
//! - `campaign ID`: fire ID's election timeout (no delivery).
//! - `elect ID`: campaign and deliver until quiet; print status.
//! - `propose ID DATA`, `conf ID add-voter|add-learner|promote|remove X`,
//!   `transfer FROM TO`, `read ID READ-ID`: the client calls.
//! - `deliver [N] [from=X] [to=Y] [type=vote|append|snapshot|timeout]`:
//!   deliver matching messages in order (at most N), print the count.
//! - `drop [from=X] [to=Y] [type=...]`: drop matching queued messages.
//! - `msgs`: print the queue.
//! - `partition A B | C D`, `isolate ID`, `heal`, `crash ID`, `restart ID`.
//! - `tick IDS|all MS`: advance those clocks by MS (in heartbeat steps).
//! - `run MS`: advance all clocks by MS in 10 ms steps, delivering.
//! - `status`, `log ID`, `reads ID`, `check` (the first invariant
//!   violation, or `ok`).

use super::message::Message;
use super::testing::Cluster;
use super::types::{ConfChange, Entry, EntryPayload, NodeId};
use super::{Bug, Bugs, Config};
use std::fmt::Write as _;
use std::path::Path;

/// Run one script file; panic on the first mismatch (or rewrite it).
pub fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut driver = Driver { cluster: None };
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
        let actual = match driver.run(command) {
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
}

/// Which queued messages a `deliver` or `drop` means.
#[derive(Default)]
struct Filter {
    from: Option<NodeId>,
    to: Option<NodeId>,
    kind: Option<String>,
    limit: Option<usize>,
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::RequestVote { .. } | Message::VoteResponse { .. } => "vote",
        Message::AppendEntries { .. } | Message::AppendResponse { .. } => "append",
        Message::InstallSnapshot { .. } | Message::SnapshotResponse { .. } => "snapshot",
        Message::TimeoutNow { .. } => "timeout",
    }
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
            ..
        } => {
            let es: Vec<String> = entries
                .iter()
                .map(|e| format!("{}/{}", e.term, e.index))
                .collect();
            format!(
                "App term={term} prev={prev_log_term}/{prev_log_index} commit={leader_commit} entries=[{}]",
                es.join(" ")
            )
        }
        Message::AppendResponse {
            term,
            success,
            index,
            ..
        } => format!("AppResp term={term} success={success} index={index}"),
        Message::InstallSnapshot {
            term, meta, done, ..
        } => format!(
            "Snap term={term} at={}/{} done={done}",
            meta.term, meta.index
        ),
        Message::SnapshotResponse {
            term, done, index, ..
        } => {
            format!("SnapResp term={term} done={done} index={index}")
        }
        Message::TimeoutNow { term } => format!("TimeoutNow term={term}"),
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

fn boolean(s: &str) -> Result<bool, String> {
    s.parse().map_err(|_| format!("not true/false: {s:?}"))
}

impl Driver {
    fn c(&mut self) -> Result<&mut Cluster, String> {
        self.cluster
            .as_mut()
            .ok_or_else(|| "no cluster yet: start with `cluster N`".to_string())
    }

    fn node_arg(&mut self, s: Option<&&str>) -> Result<NodeId, String> {
        let id: NodeId = num(s.ok_or("missing node id")?)?;
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
                for kv in &args[1..] {
                    let (k, v) = kv.split_once('=').ok_or(format!("bad option {kv}"))?;
                    match k {
                        "pre-vote" => cfg.pre_vote = boolean(v)?,
                        "check-quorum" => cfg.check_quorum = boolean(v)?,
                        "lease-reads" => cfg.lease_reads = boolean(v)?,
                        "election-timeout" => cfg.election_timeout = num(v)?,
                        "heartbeat" => cfg.heartbeat_interval = num(v)?,
                        "max-append-entries" => cfg.max_append_entries = num(v)?,
                        "snapshot-threshold" => cfg.snapshot_threshold = num(v)?,
                        "trailing-logs" => cfg.trailing_logs = num(v)?,
                        "seed" => cfg.seed = num(v)?,
                        "bugs" => {
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
                self.cluster = Some(Cluster::new(n, &cfg));
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
                let id = self.node_arg(args.first())?;
                let data = args.get(1).ok_or("propose needs data")?;
                Ok(match self.c()?.propose(id, data.as_bytes()) {
                    Ok((term, index)) => format!("index={index} term={term}\n"),
                    Err(e) => format!("error: {e:?}\n"),
                })
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
                Ok(match self.c()?.read_index(id, read) {
                    Ok(()) => String::new(),
                    Err(e) => format!("error: {e:?}\n"),
                })
            }
            "reads" => {
                let id = self.node_arg(args.first())?;
                let n = &self.c()?.nodes[&id];
                let mut s = String::new();
                for r in &n.reads {
                    let _ = writeln!(s, "read {} served at index {}", r.id, r.index);
                }
                for r in &n.failed_reads {
                    let _ = writeln!(s, "read {r} failed");
                }
                if s.is_empty() {
                    s.push_str("none\n");
                }
                Ok(s)
            }
            "deliver" | "drop" => {
                let mut f = Filter::default();
                for a in args {
                    match a.split_once('=') {
                        Some(("from", v)) => f.from = Some(num(v)?),
                        Some(("to", v)) => f.to = Some(num(v)?),
                        Some(("type", v)) => f.kind = Some(v.to_string()),
                        None => f.limit = Some(num(a)?),
                        _ => return Err(format!("bad filter {a}")),
                    }
                }
                let c = self.c()?;
                let matches = |c: &Cluster| {
                    c.network.iter().position(|e| {
                        f.from.is_none_or(|x| e.from == x)
                            && f.to.is_none_or(|x| e.to == x)
                            && f.kind.as_deref().is_none_or(|k| kind(&e.msg) == k)
                    })
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
            "log" => {
                let id = self.node_arg(args.first())?;
                let c = self.c()?;
                let n = &c.nodes[&id];
                let Some(r) = n.raft.as_ref() else {
                    return Ok("down\n".into());
                };
                let first = r.snapshot_meta().map_or(1, |m| m.index + 1);
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

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/raft/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        run_file(&f);
    }
}
