//! Register values that no operation can observe, collapsed into one
//! stand-in, so that the search sees fewer distinct states and fewer
//! distinct operations.
//!
//! A register's history observes values in only two ways: an operation
//! that definitely returned (a read's value, a CAS's expected value, which
//! a swap shows was there and a mismatch shows was not), and a CAS of
//! unknown outcome, whose expected value decides what it would do. Let `N`
//! be the smallest set holding the initial value, every value a definite
//! read returned, the expected value of every definite CAS, every value a
//! definite operation wrote (see below), and the expected value of every
//! unknown-outcome CAS whose new value is in `N`. Every value outside `N`
//! is replaced by one stand-in `⊥` (a number in no operation of `N`), and
//! an unknown-outcome CAS whose expected value is outside `N` is left out
//! (its new value then is outside `N` too).
//!
//! Values written by definite operations stay apart although collapsing
//! them would be just as exact: it is the unknown-outcome ones that make a
//! search hard, and a definite write of the value the register already
//! holds is one the search must branch on (placed later it overwrites
//! another value), where a unique value lets it see at once that the write
//! changes something. So only operations of unknown outcome write `⊥`.
//!
//! Why the verdict is unchanged. Let `α` map values in `N` to themselves
//! and all others to `⊥` (absent stays absent). Every kept operation's
//! validity and return depend on the state `s` only through `α(s)`: a
//! definite read returns a value in `N` or absent, which equals `s` iff it
//! equals `α(s)`; every kept CAS expects a value in `N`, which equals `s`
//! iff it equals `α(s)`; and every kept operation leaves `α` of the new
//! state equal to the rewritten operation's new state.
//! - A valid order of the rewritten operations, replayed on the original
//!   ones, keeps `α(original state) = rewritten state` at every step, so
//!   each step is valid there too (a left-out CAS is one of unknown
//!   outcome that did not take effect).
//! - Conversely, take a valid order of the original operations and delete
//!   the left-out CASes. Such a CAS either mismatched or replaced a value
//!   outside `N` by another outside `N`; both leave `α` of the state as it
//!   was, so after the deletion `α(state)` is still the same at every other
//!   step, and each kept step is valid on the rewritten operations.
//!
//! Nothing here assumes unique written values, though it gains most from
//! them: then every write of unknown outcome that nobody read becomes the
//! same `write ⊥`, and the search treats those as interchangeable.

use std::collections::{BTreeMap, BTreeSet};

use super::register::{RegOp, RegRet};

/// `ops` with unobservable values collapsed (`None`: left out), or `None`
/// when that changes nothing.
pub(crate) fn collapse(
    initial: Option<i64>,
    ops: &[(RegOp, RegRet)],
) -> Option<Vec<Option<(RegOp, RegRet)>>> {
    let mut seen: BTreeSet<i64> = initial.into_iter().collect();
    // Unknown-outcome CASes: new value -> expected values.
    let mut feeds: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (op, ret) in ops {
        match (op, ret) {
            (RegOp::Read, RegRet::Value(Some(v))) => {
                seen.insert(*v);
            }
            (RegOp::Cas { from, to }, RegRet::Unknown) => {
                feeds.entry(*to).or_default().push(*from);
            }
            (RegOp::Cas { from, to }, RegRet::Swapped) => {
                seen.insert(*from);
                seen.insert(*to);
            }
            (RegOp::Cas { from, .. }, _) => {
                seen.insert(*from);
            }
            (RegOp::Write(v), RegRet::Written) => {
                seen.insert(*v);
            }
            _ => {}
        }
    }
    let mut work: Vec<i64> = seen.iter().copied().collect();
    while let Some(v) = work.pop() {
        for &from in feeds.get(&v).map_or(&[][..], Vec::as_slice) {
            if seen.insert(from) {
                work.push(from);
            }
        }
    }
    let mut hidden = i64::MIN;
    while seen.contains(&hidden) {
        hidden += 1;
    }
    let keep = |v: i64| if seen.contains(&v) { v } else { hidden };
    let mut changed = false;
    let out = ops
        .iter()
        .map(|&(op, ret)| {
            let new = match op {
                RegOp::Read => Some(op),
                RegOp::Write(v) => Some(RegOp::Write(keep(v))),
                RegOp::Cas { from, .. } if !seen.contains(&from) => None,
                RegOp::Cas { from, to } => Some(RegOp::Cas { from, to: keep(to) }),
            };
            changed |= new != Some(op);
            new.map(|o| (o, ret))
        })
        .collect();
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegOp::{Cas, Read, Write};
    use RegRet::{Mismatch, Swapped, Unknown, Value, Written};

    const H: i64 = i64::MIN;

    #[test]
    fn a_write_nobody_reads_becomes_the_stand_in_and_a_read_one_stays() {
        let ops = [
            (Write(1), Unknown),
            (Write(2), Unknown),
            (Write(3), Written),
            (Read, Value(Some(2))),
        ];
        assert_eq!(
            collapse(None, &ops).unwrap(),
            vec![
                Some((Write(H), Unknown)),
                Some((Write(2), Unknown)),
                Some((Write(3), Written)),
                Some((Read, Value(Some(2)))),
            ]
        );
    }

    #[test]
    fn nothing_to_collapse_gives_none() {
        let ops = [
            (Write(1), Written),
            (Read, Value(Some(1))),
            (Cas { from: 2, to: 1 }, Mismatch),
            (Read, Value(None)),
        ];
        assert_eq!(collapse(None, &ops), None);
        // The initial value counts as observed.
        assert_eq!(collapse(Some(5), &[(Write(5), Unknown)]), None);
    }

    #[test]
    fn an_unknown_cas_chain_that_feeds_a_read_is_kept_whole() {
        let ops = [
            (Write(1), Unknown),
            (Cas { from: 1, to: 2 }, Unknown),
            (Cas { from: 2, to: 3 }, Unknown),
            (Read, Value(Some(3))),
        ];
        assert_eq!(collapse(None, &ops), None);
    }

    #[test]
    fn an_unknown_cas_from_an_unobserved_value_is_left_out() {
        let ops = [
            (Write(1), Unknown),
            (Cas { from: 1, to: 2 }, Unknown),
            (Cas { from: 2, to: 3 }, Unknown),
            (Read, Value(Some(4))),
            (Write(4), Written),
        ];
        assert_eq!(
            collapse(None, &ops).unwrap(),
            vec![
                Some((Write(H), Unknown)),
                None,
                None,
                Some((Read, Value(Some(4)))),
                Some((Write(4), Written)),
            ]
        );
    }

    #[test]
    fn a_definite_cas_keeps_its_expected_value_and_an_unknown_one_from_an_observed_value_stays() {
        let ops = [
            (Write(1), Unknown),
            (Write(7), Written),
            (Cas { from: 1, to: 2 }, Mismatch),
            (Cas { from: 7, to: 8 }, Swapped),
            (Cas { from: 7, to: 9 }, Unknown),
        ];
        assert_eq!(
            collapse(None, &ops).unwrap(),
            vec![
                Some((Write(1), Unknown)),
                Some((Write(7), Written)),
                Some((Cas { from: 1, to: H }, Mismatch)),
                Some((Cas { from: 7, to: 8 }, Swapped)),
                Some((Cas { from: 7, to: H }, Unknown)),
            ]
        );
    }

    #[test]
    fn the_stand_in_is_no_observed_value() {
        let ops = [
            (Read, Value(Some(i64::MIN))),
            (
                Cas {
                    from: i64::MIN + 1,
                    to: 3,
                },
                Mismatch,
            ),
            (Write(4), Unknown),
        ];
        assert_eq!(
            collapse(None, &ops).unwrap()[2],
            Some((Write(i64::MIN + 2), Unknown))
        );
    }
}
