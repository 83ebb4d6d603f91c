//! The bank as a map of balances.

use std::collections::BTreeMap;

use stateright::semantics::SequentialSpec;

use crate::op::{Observation, Op, TxnOp};

/// Balances by account. Absent accounts read as `None` and count as 0 for
/// `Add`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bank {
    pub balances: BTreeMap<String, i64>,
}

impl Bank {
    /// A bank whose `accounts` each start at `initial`.
    pub fn new(accounts: &[String], initial: i64) -> Bank {
        Bank {
            balances: accounts.iter().map(|a| (a.clone(), initial)).collect(),
        }
    }

    /// Run a transaction: all of it, or (if an `Add` would leave its key
    /// negative) none of it.
    fn txn(&mut self, ops: &[TxnOp]) -> Observation {
        let mut next = self.balances.clone();
        let mut reads = Vec::new();
        for op in ops {
            match op {
                TxnOp::Read { key } => reads.push((key.clone(), next.get(key).copied())),
                TxnOp::Write { key, value } => {
                    next.insert(key.clone(), *value);
                }
                TxnOp::Add { key, delta } => {
                    let v = next.get(key).copied().unwrap_or(0) + delta;
                    if v < 0 {
                        return Observation::Applied(false);
                    }
                    next.insert(key.clone(), v);
                }
            }
        }
        self.balances = next;
        if ops.iter().any(|o| matches!(o, TxnOp::Read { .. })) {
            Observation::TxnReads(reads)
        } else {
            Observation::Applied(true)
        }
    }
}

impl SequentialSpec for Bank {
    type Op = Op;
    type Ret = Observation;

    /// A transaction applies all of its steps, or none if an `Add` would
    /// leave its key negative; a transaction that reads
    /// returns its reads, one that only writes returns whether it applied.
    /// Single-key integer operations behave as on any integer map. List
    /// operations have no meaning here and return `Applied(false)`, which no
    /// completed list operation reports, so a history that mixes them in
    /// cannot be linearized.
    fn invoke(&mut self, op: &Op) -> Observation {
        match op {
            Op::Txn { ops } => self.txn(ops),
            Op::Read { key } => Observation::Int(self.balances.get(key).copied()),
            Op::Write { key, value } => {
                self.balances.insert(key.clone(), *value);
                Observation::Done
            }
            Op::Increment { key, delta } => {
                *self.balances.entry(key.clone()).or_insert(0) += delta;
                Observation::Done
            }
            Op::Cas { key, from, to } => {
                let hit = self.balances.get(key) == Some(from);
                if hit {
                    self.balances.insert(key.clone(), *to);
                }
                Observation::Applied(hit)
            }
            Op::Append { .. } | Op::ReadList { .. } => Observation::Applied(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

    fn accounts() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn transfer(from: &str, to: &str, amount: i64) -> Op {
        Op::Txn {
            ops: vec![
                TxnOp::Add {
                    key: from.into(),
                    delta: -amount,
                },
                TxnOp::Add {
                    key: to.into(),
                    delta: amount,
                },
            ],
        }
    }

    fn read_all() -> Op {
        Op::Txn {
            ops: vec![
                TxnOp::Read { key: "a".into() },
                TxnOp::Read { key: "b".into() },
            ],
        }
    }

    fn balances(a: i64, b: i64) -> Observation {
        Observation::TxnReads(vec![("a".into(), Some(a)), ("b".into(), Some(b))])
    }

    #[test]
    fn transfers_move_money_and_overdrafts_abort() {
        let mut bank = Bank::new(&accounts(), 10);
        assert_eq!(
            bank.invoke(&transfer("a", "b", 4)),
            Observation::Applied(true)
        );
        assert_eq!(
            bank.invoke(&transfer("a", "b", 7)),
            Observation::Applied(false)
        );
        assert_eq!(bank.invoke(&read_all()), balances(6, 14));
    }

    #[test]
    fn concurrent_transfer_and_read_linearize_either_way() {
        for seen in [balances(10, 10), balances(7, 13)] {
            let mut t = LinearizabilityTester::new(Bank::new(&accounts(), 10));
            t.on_invoke(0u64, transfer("a", "b", 3)).unwrap();
            t.on_invoke(1, read_all()).unwrap();
            t.on_return(1, seen).unwrap();
            t.on_return(0, Observation::Applied(true)).unwrap();
            assert!(t.is_consistent());
        }
    }

    #[test]
    fn a_half_applied_transfer_does_not_linearize() {
        let mut t = LinearizabilityTester::new(Bank::new(&accounts(), 10));
        t.on_invoke(0u64, transfer("a", "b", 3)).unwrap();
        t.on_invoke(1, read_all()).unwrap();
        t.on_return(1, balances(7, 10)).unwrap();
        t.on_return(0, Observation::Applied(true)).unwrap();
        assert!(!t.is_consistent());
    }

    #[test]
    fn a_stale_read_after_a_transfer_does_not_linearize() {
        let mut t = LinearizabilityTester::new(Bank::new(&accounts(), 10));
        t.on_invret(0u64, transfer("a", "b", 3), Observation::Applied(true))
            .unwrap();
        t.on_invret(1, read_all(), balances(10, 10)).unwrap();
        assert!(!t.is_consistent());
    }
}
