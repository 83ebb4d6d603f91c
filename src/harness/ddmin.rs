//! Delta debugging (Zeller and Hildebrandt's ddmin): the smallest subset of
//! a failing input that still fails, found by removing chunks and, when no
//! chunk can go, trying smaller chunks. The result is 1-minimal: removing
//! any single element makes the failure disappear (within the test budget).

use std::collections::BTreeMap;

/// What ddmin found and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduced<T> {
    pub items: Vec<T>,
    /// Tests run (each is one simulation when shrinking a run).
    pub tests: usize,
    /// The budget ran out before 1-minimality was established.
    pub exhausted: bool,
}

/// Reduce `items` to a 1-minimal subset for which `fails` still returns
/// true, running it at most `max_tests` times. `fails` is assumed to hold
/// for the full input and is never asked about it. Subsets keep the
/// original order. Repeated questions are answered from a cache.
pub fn ddmin<T: Clone>(
    items: &[T],
    max_tests: usize,
    mut fails: impl FnMut(&[T]) -> bool,
) -> Reduced<T> {
    // Work on indices so the cache key is cheap and order is kept.
    let mut current: Vec<usize> = (0..items.len()).collect();
    let mut cache: BTreeMap<Vec<usize>, bool> = BTreeMap::new();
    let mut tests = 0;
    let mut exhausted = false;
    let mut test = |subset: &[usize], tests: &mut usize, exhausted: &mut bool| -> bool {
        if let Some(&r) = cache.get(subset) {
            return r;
        }
        if *tests >= max_tests {
            *exhausted = true;
            return false;
        }
        *tests += 1;
        let chosen: Vec<T> = subset.iter().map(|&i| items[i].clone()).collect();
        let r = fails(&chosen);
        cache.insert(subset.to_vec(), r);
        r
    };

    // The empty input is the best possible answer: try it first.
    if !current.is_empty() && test(&[], &mut tests, &mut exhausted) {
        current.clear();
    }
    let mut n = 2;
    while current.len() >= 2 && !exhausted {
        let chunks = split(&current, n);
        let mut reduced = false;
        // Try each chunk alone, then each complement.
        for chunk in &chunks {
            if test(chunk, &mut tests, &mut exhausted) {
                current = chunk.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && n > 2 {
            for i in 0..chunks.len() {
                let complement: Vec<usize> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, c)| c.iter().copied())
                    .collect();
                if test(&complement, &mut tests, &mut exhausted) {
                    current = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (2 * n).min(current.len());
        }
    }
    Reduced {
        items: current.into_iter().map(|i| items[i].clone()).collect(),
        tests,
        exhausted,
    }
}

/// `v` in `n` contiguous chunks of near-equal size.
fn split(v: &[usize], n: usize) -> Vec<Vec<usize>> {
    let n = n.min(v.len()).max(1);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = start + (v.len() - start) / (n - i);
        out.push(v[start..end].to_vec());
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_a_single_culprit() {
        let items: Vec<u32> = (0..100).collect();
        let r = ddmin(&items, 1000, |s| s.contains(&37));
        assert_eq!(r.items, vec![37]);
        assert!(!r.exhausted);
        assert!(r.tests < 40, "{} tests", r.tests);
    }

    #[test]
    fn finds_an_interacting_pair_in_order() {
        let items: Vec<u32> = (0..64).collect();
        let r = ddmin(&items, 1000, |s| s.contains(&3) && s.contains(&60));
        assert_eq!(r.items, vec![3, 60]);
    }

    #[test]
    fn empty_input_wins_when_the_failure_needs_nothing() {
        let r = ddmin(&[1, 2, 3], 10, |_| true);
        assert!(r.items.is_empty());
        assert_eq!(r.tests, 1);
    }

    #[test]
    fn budget_is_respected() {
        let items: Vec<u32> = (0..1000).collect();
        let mut calls = 0;
        let r = ddmin(&items, 5, |s| {
            calls += 1;
            s.contains(&999) && s.contains(&0)
        });
        assert_eq!(calls, 5);
        assert_eq!(r.tests, 5);
        assert!(r.exhausted);
        assert!(r.items.contains(&999) && r.items.contains(&0));
    }

    #[test]
    fn split_covers_everything_in_order() {
        let v: Vec<usize> = (0..10).collect();
        let chunks = split(&v, 3);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), v);
        assert_eq!(split(&v, 20).len(), 10);
    }

    proptest! {
        // For "fails iff it contains all of a hidden set", ddmin must return
        // exactly that set (the unique 1-minimal failing subset).
        #[test]
        fn returns_the_hidden_culprits(len in 1usize..60, picks in proptest::collection::btree_set(0usize..60, 1..5)) {
            let culprits: Vec<usize> = picks.into_iter().filter(|&p| p < len).collect();
            prop_assume!(!culprits.is_empty());
            let items: Vec<usize> = (0..len).collect();
            let r = ddmin(&items, 10_000, |s| culprits.iter().all(|c| s.contains(c)));
            prop_assert_eq!(r.items, culprits);
        }

        // Whatever the predicate, the result still fails and is 1-minimal.
        #[test]
        fn result_is_one_minimal(len in 2usize..40, modulus in 2usize..7) {
            let items: Vec<usize> = (0..len).collect();
            // Fails when at least two multiples of `modulus` are present.
            let fails = |s: &[usize]| s.iter().filter(|x| *x % modulus == 0).count() >= 2;
            prop_assume!(fails(&items));
            let r = ddmin(&items, 10_000, fails);
            prop_assert!(fails(&r.items));
            for i in 0..r.items.len() {
                let mut smaller = r.items.clone();
                smaller.remove(i);
                prop_assert!(!fails(&smaller));
            }
        }
    }
}
