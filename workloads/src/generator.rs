//! Seeded operation generators, one per workload.
//!
//! Clients are split into groups of at most [`MAX_CLIENTS_PER_KEY`]; each
//! group works on its own key and moves to a fresh key after
//! `ops_per_key` operations (Jepsen's `independent`). A linearizability
//! search grows exponentially with the operations open at once on one key,
//! so this keeps every per-key sub-history checkable. A process's group is
//! `(process % concurrency) / clients_per_key`, so a process that replaces
//! one that ended with `info` (Jepsen numbers it `process + concurrency`)
//! joins the same group. Every written value is unique in the run, so a
//! checker can name exactly which write was lost or duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::op::{Op, TxnOp};
use crate::workload::Workload;

/// The most clients that ever share one key.
pub const MAX_CLIENTS_PER_KEY: usize = 10;

/// How a generator behaves. Start from [`GeneratorConfig::for_workload`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Client processes running at once.
    pub concurrency: usize,
    /// Clients sharing one key (register, kv, list-append, set).
    pub clients_per_key: usize,
    /// Operations a group issues on one key before moving to a fresh one
    /// (register, list-append, set).
    pub ops_per_key: u64,
    /// kv: keys in the key space (split between groups).
    pub key_count: usize,
    /// kv: Zipf exponent of key popularity (0 = uniform).
    pub zipf_exponent: f64,
    /// Share of operations that are reads, in ‰.
    pub read_permille: u32,
    /// Operations per simulated second over all clients.
    pub rate_per_sec: f64,
    /// bank: number of accounts.
    pub accounts: usize,
    /// bank: each account's starting balance.
    pub initial_balance: i64,
    /// bank: largest single transfer.
    pub max_transfer: i64,
    /// counter: largest single increment.
    pub max_increment: i64,
}

impl GeneratorConfig {
    /// Defaults that suit `workload`.
    pub fn for_workload(workload: Workload) -> GeneratorConfig {
        let base = GeneratorConfig {
            concurrency: 10,
            clients_per_key: 5,
            ops_per_key: 100,
            key_count: 64,
            zipf_exponent: 1.0,
            read_permille: 500,
            rate_per_sec: 200.0,
            accounts: 5,
            initial_balance: 100,
            max_transfer: 20,
            max_increment: 5,
        };
        match workload {
            Workload::Register => GeneratorConfig {
                read_permille: 333,
                ..base
            },
            Workload::Kv => base,
            Workload::ListAppend => GeneratorConfig {
                ops_per_key: 64,
                ..base
            },
            Workload::Set => GeneratorConfig {
                read_permille: 100,
                ops_per_key: 400,
                ..base
            },
            Workload::Bank | Workload::Counter => base,
        }
    }
}

/// A configuration that cannot drive a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad workload configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Produces a workload's operations. Deterministic given the RNG it is fed.
#[derive(Clone, Debug)]
pub struct Generator {
    workload: Workload,
    config: GeneratorConfig,
    /// Per group: its current key number and operations issued on it.
    groups: Vec<(u64, u64)>,
    next_key: u64,
    next_value: i64,
    /// Every key touched, for the final reads.
    keys: BTreeSet<String>,
    /// register: the last few values written per key, so CAS sometimes hits.
    recent: BTreeMap<String, Vec<i64>>,
    /// kv: cumulative Zipf weights over key ranks within a group's slice.
    zipf_cdf: Vec<f64>,
}

impl Generator {
    /// A generator for `workload`; the configuration is checked here.
    pub fn new(workload: Workload, config: GeneratorConfig) -> Result<Generator, ConfigError> {
        let bad = |m: &str| Err(ConfigError(m.to_string()));
        if config.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if !(1..=MAX_CLIENTS_PER_KEY).contains(&config.clients_per_key) {
            return Err(ConfigError(format!(
                "clients_per_key must be 1..={MAX_CLIENTS_PER_KEY}: more clients on one key make its history too costly to check"
            )));
        }
        if config.ops_per_key == 0 {
            return bad("ops_per_key must be at least 1");
        }
        if config.read_permille > 1000 {
            return bad("read_permille is a share in ‰ and cannot exceed 1000");
        }
        if !(config.rate_per_sec.is_finite() && config.rate_per_sec > 0.0) {
            return bad("rate_per_sec must be a positive number");
        }
        let groups = config.concurrency.div_ceil(config.clients_per_key);
        if workload == Workload::Kv {
            if config.key_count < groups {
                return Err(ConfigError(format!(
                    "key_count {} is below the {groups} client groups; each group needs keys of its own",
                    config.key_count
                )));
            }
            if !(config.zipf_exponent.is_finite() && config.zipf_exponent >= 0.0) {
                return bad("zipf_exponent must be a non-negative number");
            }
        }
        if workload == Workload::Bank {
            if config.accounts < 2 {
                return bad("a bank needs at least two accounts");
            }
            if config.initial_balance < 0 || config.max_transfer < 1 {
                return bad("balances must start non-negative and transfers move at least 1");
            }
        }
        if workload == Workload::Counter && config.max_increment < 1 {
            return bad("max_increment must be at least 1");
        }
        // Each group owns keys rank*groups + group; rank 0 is the most popular.
        let slice = config.key_count.div_ceil(groups.max(1));
        let mut zipf_cdf = Vec::with_capacity(slice);
        let mut total = 0.0;
        for rank in 1..=slice {
            total += 1.0 / (rank as f64).powf(config.zipf_exponent);
            zipf_cdf.push(total);
        }
        Ok(Generator {
            workload,
            groups: (0..groups as u64).map(|g| (g, 0)).collect(),
            next_key: groups as u64,
            next_value: 1,
            keys: BTreeSet::new(),
            recent: BTreeMap::new(),
            zipf_cdf,
            config,
        })
    }

    pub fn workload(&self) -> Workload {
        self.workload
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The bank's account keys.
    pub fn accounts(&self) -> Vec<String> {
        (0..self.config.accounts)
            .map(|i| format!("acct{i}"))
            .collect()
    }

    /// The bank's total, which every read of all accounts must show.
    pub fn bank_total(&self) -> i64 {
        self.config.initial_balance * self.config.accounts as i64
    }

    /// Operations to run once, before any client starts (the bank's
    /// opening balances).
    pub fn initial_ops(&self) -> Vec<Op> {
        match self.workload {
            Workload::Bank => vec![Op::Txn {
                ops: self
                    .accounts()
                    .into_iter()
                    .map(|key| TxnOp::Write {
                        key,
                        value: self.config.initial_balance,
                    })
                    .collect(),
            }],
            _ => vec![],
        }
    }

    /// How long a client waits before its next operation, in simulated
    /// nanoseconds: exponential, so all clients together average `rate_per_sec`.
    pub fn next_delay_ns(&self, rng: &mut impl Rng) -> u64 {
        let mean_ns = 1e9 * self.config.concurrency as f64 / self.config.rate_per_sec;
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        (-u.ln() * mean_ns).min(1e15) as u64
    }

    fn unique(&mut self) -> i64 {
        let v = self.next_value;
        self.next_value += 1;
        v
    }

    fn is_read(&self, rng: &mut impl Rng) -> bool {
        rng.random_range(0..1000) < self.config.read_permille
    }

    /// The key `process`'s group works on now, rotating to a fresh key after
    /// `ops_per_key` operations.
    fn rotating_key(&mut self, process: u64, prefix: &str) -> String {
        let g = ((process % self.config.concurrency as u64) / self.config.clients_per_key as u64)
            as usize;
        let (key, issued) = &mut self.groups[g];
        if *issued >= self.config.ops_per_key {
            *key = self.next_key;
            *issued = 0;
            self.next_key += 1;
        }
        *issued += 1;
        let name = format!("{prefix}{key}");
        self.keys.insert(name.clone());
        name
    }

    fn zipf_key(&mut self, process: u64, rng: &mut impl Rng) -> String {
        let groups = self.groups.len();
        let g = ((process % self.config.concurrency as u64) / self.config.clients_per_key as u64)
            as usize;
        let total = *self.zipf_cdf.last().expect("at least one rank");
        let x = rng.random_range(0.0..total);
        let mut rank = self.zipf_cdf.partition_point(|c| *c <= x);
        // Ranks past the key space belong to no key in the last slice.
        while rank > 0 && rank * groups + g >= self.config.key_count {
            rank -= 1;
        }
        let name = format!("k{}", rank * groups + g);
        self.keys.insert(name.clone());
        name
    }

    /// The next operation for `process`.
    pub fn next_op(&mut self, process: u64, rng: &mut impl Rng) -> Op {
        match self.workload {
            Workload::Register => {
                let key = self.rotating_key(process, "r");
                if self.is_read(rng) {
                    return Op::Read { key };
                }
                let to = self.unique();
                let recent = self.recent.entry(key.clone()).or_default();
                let op = match recent.choose(rng) {
                    Some(&from) if rng.random_bool(0.5) => Op::Cas { key, from, to },
                    _ => Op::Write { key, value: to },
                };
                recent.push(to);
                if recent.len() > 3 {
                    recent.remove(0);
                }
                op
            }
            Workload::Kv => {
                let key = self.zipf_key(process, rng);
                if self.is_read(rng) {
                    Op::Read { key }
                } else {
                    Op::Write {
                        key,
                        value: self.unique(),
                    }
                }
            }
            Workload::ListAppend | Workload::Set => {
                let prefix = if self.workload == Workload::Set {
                    "s"
                } else {
                    "l"
                };
                let key = self.rotating_key(process, prefix);
                if self.is_read(rng) {
                    Op::ReadList { key }
                } else {
                    Op::Append {
                        key,
                        element: self.unique(),
                    }
                }
            }
            Workload::Bank => {
                let accounts = self.accounts();
                if self.is_read(rng) {
                    return Op::Txn {
                        ops: accounts
                            .into_iter()
                            .map(|key| TxnOp::Read { key })
                            .collect(),
                    };
                }
                let from = rng.random_range(0..accounts.len());
                let mut to = rng.random_range(0..accounts.len() - 1);
                if to >= from {
                    to += 1;
                }
                let amount = rng.random_range(1..=self.config.max_transfer);
                Op::Txn {
                    ops: vec![
                        TxnOp::Add {
                            key: accounts[from].clone(),
                            delta: -amount,
                        },
                        TxnOp::Add {
                            key: accounts[to].clone(),
                            delta: amount,
                        },
                    ],
                }
            }
            Workload::Counter => {
                let key = "counter".to_string();
                if self.is_read(rng) {
                    Op::Read { key }
                } else {
                    Op::Increment {
                        key,
                        delta: rng.random_range(1..=self.config.max_increment),
                    }
                }
            }
        }
    }

    /// The reads to take after the heal phase, each retried by the caller
    /// until it succeeds, so that "lost" is judged on a complete final state.
    pub fn final_ops(&self) -> Vec<Op> {
        match self.workload {
            Workload::Register | Workload::Kv => self
                .keys
                .iter()
                .map(|k| Op::Read { key: k.clone() })
                .collect(),
            Workload::ListAppend | Workload::Set => self
                .keys
                .iter()
                .map(|k| Op::ReadList { key: k.clone() })
                .collect(),
            Workload::Bank => vec![Op::Txn {
                ops: self
                    .accounts()
                    .into_iter()
                    .map(|key| TxnOp::Read { key })
                    .collect(),
            }],
            Workload::Counter => vec![Op::Read {
                key: "counter".into(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn run(workload: Workload, seed: u64, n: usize) -> (Generator, Vec<(u64, Op)>) {
        let mut g = Generator::new(workload, GeneratorConfig::for_workload(workload)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let conc = g.config().concurrency as u64;
        let ops = (0..n)
            .map(|i| {
                let p = i as u64 % conc;
                (p, g.next_op(p, &mut rng))
            })
            .collect();
        (g, ops)
    }

    #[test]
    fn deterministic_per_seed() {
        for w in Workload::ALL {
            assert_eq!(run(w, 9, 500).1, run(w, 9, 500).1, "{w}");
            assert_ne!(run(w, 9, 500).1, run(w, 10, 500).1, "{w}");
        }
    }

    #[test]
    fn written_values_are_unique_in_the_run() {
        for w in [
            Workload::Register,
            Workload::Kv,
            Workload::ListAppend,
            Workload::Set,
        ] {
            let (_, ops) = run(w, 1, 5_000);
            let mut seen = BTreeSet::new();
            for (_, op) in ops {
                let v = match op {
                    Op::Write { value, .. } => value,
                    Op::Cas { to, .. } => to,
                    Op::Append { element, .. } => element,
                    _ => continue,
                };
                assert!(seen.insert(v), "{w}: value {v} written twice");
            }
            assert!(seen.len() > 1_000, "{w}");
        }
    }

    #[test]
    fn keys_rotate_and_no_key_has_more_than_its_group() {
        for w in [
            Workload::Register,
            Workload::ListAppend,
            Workload::Set,
            Workload::Kv,
        ] {
            let (g, ops) = run(w, 2, 5_000);
            let mut clients: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
            for (p, op) in &ops {
                clients
                    .entry(op.key().unwrap().to_string())
                    .or_default()
                    .insert(*p);
            }
            for (k, ps) in &clients {
                assert!(
                    ps.len() <= g.config().clients_per_key,
                    "{w}: key {k} used by {ps:?}"
                );
            }
            assert!(clients.len() > 10, "{w}: only {} keys", clients.len());
            let finals: BTreeSet<String> = g
                .final_ops()
                .iter()
                .map(|o| o.key().unwrap().to_string())
                .collect();
            assert_eq!(finals, clients.keys().cloned().collect(), "{w}");
        }
    }

    #[test]
    fn kv_keys_are_skewed() {
        let (_, ops) = run(Workload::Kv, 3, 20_000);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, op) in &ops {
            *counts.entry(op.key().unwrap().to_string()).or_default() += 1;
        }
        // Group 0's hottest key k0 against one of its cold keys.
        let hot = counts.get("k0").copied().unwrap_or(0);
        let cold = counts.get("k50").copied().unwrap_or(0);
        assert!(hot > 10 * cold.max(1), "hot {hot} cold {cold}");
        assert!(counts.keys().all(|k| k[1..].parse::<usize>().unwrap() < 64));
    }

    #[test]
    fn read_ratio_is_honoured() {
        let (_, ops) = run(Workload::Counter, 4, 10_000);
        let reads = ops.iter().filter(|(_, o)| !o.is_write()).count();
        assert!((4_500..5_500).contains(&reads), "{reads} reads");
        let mut cfg = GeneratorConfig::for_workload(Workload::Counter);
        cfg.read_permille = 0;
        let mut g = Generator::new(Workload::Counter, cfg).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!((0..100).all(|_| g.next_op(0, &mut rng).is_write()));
    }

    #[test]
    fn bank_transfers_move_money_between_two_accounts() {
        let (g, ops) = run(Workload::Bank, 5, 1_000);
        assert_eq!(g.bank_total(), 500);
        for (_, op) in ops {
            let Op::Txn { ops } = op else {
                panic!("bank ops are transactions")
            };
            if let [TxnOp::Add { key: a, delta: d1 }, TxnOp::Add { key: b, delta: d2 }] = &ops[..] {
                assert_ne!(a, b);
                assert_eq!(d1 + d2, 0);
                assert!(*d2 >= 1 && *d2 <= 20);
            } else {
                assert!(ops.iter().all(|o| matches!(o, TxnOp::Read { .. })) && ops.len() == 5);
            }
        }
        assert_eq!(g.initial_ops().len(), 1);
    }

    #[test]
    fn delays_average_to_the_rate() {
        let g = Generator::new(
            Workload::Counter,
            GeneratorConfig::for_workload(Workload::Counter),
        )
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mean = (0..10_000)
            .map(|_| g.next_delay_ns(&mut rng) as f64)
            .sum::<f64>()
            / 10_000.0;
        // 10 clients at 200 ops/s in all: each waits 50 ms on average.
        assert!((45e6..55e6).contains(&mean), "{mean}");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let mut cfg = GeneratorConfig::for_workload(Workload::Register);
        cfg.clients_per_key = 11;
        assert!(Generator::new(Workload::Register, cfg.clone())
            .unwrap_err()
            .to_string()
            .contains("1..=10"));
        cfg.clients_per_key = 5;
        cfg.concurrency = 0;
        assert!(Generator::new(Workload::Register, cfg).is_err());
        let mut cfg = GeneratorConfig::for_workload(Workload::Kv);
        cfg.key_count = 1;
        assert!(Generator::new(Workload::Kv, cfg)
            .unwrap_err()
            .to_string()
            .contains("key_count"));
        let mut cfg = GeneratorConfig::for_workload(Workload::Bank);
        cfg.accounts = 1;
        assert!(Generator::new(Workload::Bank, cfg).is_err());
    }
}
