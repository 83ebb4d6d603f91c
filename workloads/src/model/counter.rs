//! A counter: increments and reads of one integer.

use stateright::semantics::SequentialSpec;

use crate::op::{Observation, Op};

/// The counter's value; `None` until the first increment (an absent key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counter {
    pub value: Option<i64>,
}

impl SequentialSpec for Counter {
    type Op = Op;
    type Ret = Observation;

    /// `Increment` adds and returns `Done`; `Read` returns the value. Any
    /// other operation has no meaning on a counter and returns
    /// `Applied(false)`, which matches no completed counter operation.
    fn invoke(&mut self, op: &Op) -> Observation {
        match op {
            Op::Increment { delta, .. } => {
                self.value = Some(self.value.unwrap_or(0) + delta);
                Observation::Done
            }
            Op::Read { .. } => Observation::Int(self.value),
            _ => Observation::Applied(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

    fn inc(d: i64) -> Op {
        Op::Increment {
            key: "c".into(),
            delta: d,
        }
    }
    fn read() -> Op {
        Op::Read { key: "c".into() }
    }

    #[test]
    fn sequential_increments_add_up() {
        let mut c = Counter::default();
        assert_eq!(c.invoke(&read()), Observation::Int(None));
        c.invoke(&inc(2));
        c.invoke(&inc(3));
        assert_eq!(c.invoke(&read()), Observation::Int(Some(5)));
    }

    #[test]
    fn concurrent_increment_may_or_may_not_be_seen() {
        for seen in [Some(2), Some(5)] {
            let mut t = LinearizabilityTester::new(Counter::default());
            t.on_invret(0u64, inc(2), Observation::Done).unwrap();
            t.on_invoke(0, inc(3)).unwrap();
            t.on_invret(1, read(), Observation::Int(seen)).unwrap();
            t.on_return(0, Observation::Done).unwrap();
            assert!(t.is_consistent());
        }
    }

    #[test]
    fn a_read_that_misses_an_acknowledged_increment_does_not_linearize() {
        let mut t = LinearizabilityTester::new(Counter::default());
        t.on_invret(0u64, inc(2), Observation::Done).unwrap();
        t.on_invret(1, read(), Observation::Int(None)).unwrap();
        assert!(!t.is_consistent());
    }

    #[test]
    fn a_read_of_an_impossible_sum_does_not_linearize() {
        let mut t = LinearizabilityTester::new(Counter::default());
        t.on_invret(0u64, inc(2), Observation::Done).unwrap();
        t.on_invret(1, inc(3), Observation::Done).unwrap();
        t.on_invret(1, read(), Observation::Int(Some(4))).unwrap();
        assert!(!t.is_consistent());
    }
}
