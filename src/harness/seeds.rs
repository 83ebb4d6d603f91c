//! Which seeds a soak runs: a range (`--seeds A..B`, or open-ended `A..`),
//! split into shards (`--shard i/n`) so several machines can share one
//! sweep without running a seed twice, and cut off by a count or a time.

use std::fmt;
use std::str::FromStr;

/// Seeds `start..end` (half-open); `end == None` runs until a limit stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl SeedRange {
    /// Seeds from `start` on, without end.
    pub fn from(start: u64) -> SeedRange {
        SeedRange { start, end: None }
    }

    /// How many seeds the range holds, if it is bounded.
    pub fn len(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.start))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl FromStr for SeedRange {
    type Err = String;

    /// `A..B` (B excluded), `A..=B`, `A..` or a single seed `A`.
    fn from_str(s: &str) -> Result<SeedRange, String> {
        let num = |t: &str| {
            t.trim().replace('_', "").parse::<u64>().map_err(|_| {
                format!("{t:?} in seed range {s:?} is not a seed (an unsigned 64-bit integer)")
            })
        };
        let Some((a, b)) = s.split_once("..") else {
            let a = num(s)?;
            return Ok(SeedRange {
                start: a,
                end: Some(a.checked_add(1).ok_or("seed range ends past u64::MAX")?),
            });
        };
        let start = num(a)?;
        let end = if let Some(b) = b.strip_prefix('=') {
            Some(
                num(b)?
                    .checked_add(1)
                    .ok_or("seed range ends past u64::MAX")?,
            )
        } else if b.trim().is_empty() {
            None
        } else {
            Some(num(b)?)
        };
        if let Some(e) = end {
            if e < start {
                return Err(format!("seed range {s:?} ends before it starts"));
            }
        }
        Ok(SeedRange { start, end })
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(e) => write!(f, "{}..{}", self.start, e),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// Shard `index` of `count` (1-based, as CI matrices count): the seeds
/// whose offset from the range start is `index - 1` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard {s:?} should be i/n with 1 <= i <= n, like 3/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds of one shard of a range, in increasing order, at most `limit`.
#[derive(Clone, Debug)]
pub struct Seeds {
    next: Option<u64>,
    end: Option<u64>,
    step: u64,
    left: Option<u64>,
}

impl Seeds {
    pub fn new(range: SeedRange, shard: Shard, limit: Option<u64>) -> Seeds {
        Seeds {
            next: range.start.checked_add(shard.index - 1),
            end: range.end,
            step: shard.count,
            left: limit,
        }
    }
}

impl Iterator for Seeds {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.left == Some(0) {
            return None;
        }
        let seed = self.next?;
        if self.end.is_some_and(|e| seed >= e) {
            return None;
        }
        self.next = seed.checked_add(self.step);
        if let Some(l) = &mut self.left {
            *l -= 1;
        }
        Some(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn parses_ranges() {
        assert_eq!(
            "3..7".parse(),
            Ok(SeedRange {
                start: 3,
                end: Some(7)
            })
        );
        assert_eq!(
            "3..=7".parse(),
            Ok(SeedRange {
                start: 3,
                end: Some(8)
            })
        );
        assert_eq!("3..".parse(), Ok(SeedRange::from(3)));
        assert_eq!(
            "42".parse(),
            Ok(SeedRange {
                start: 42,
                end: Some(43)
            })
        );
        assert_eq!(
            "1_000..2_000".parse::<SeedRange>().unwrap().len(),
            Some(1000)
        );
        assert!("7..3"
            .parse::<SeedRange>()
            .unwrap_err()
            .contains("ends before"));
        assert!("a..3".parse::<SeedRange>().is_err());
        assert!("-1..3".parse::<SeedRange>().is_err());
        assert!(format!("{}..=", u64::MAX).parse::<SeedRange>().is_err());
        assert_eq!(SeedRange::from(5).to_string(), "5..");
    }

    #[test]
    fn parses_shards() {
        assert_eq!("3/8".parse(), Ok(Shard { index: 3, count: 8 }));
        for bad in ["0/8", "9/8", "1/0", "x/2", "3", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_a_range() {
        let range: SeedRange = "100..200".parse().unwrap();
        let mut seen = BTreeSet::new();
        for i in 1..=7 {
            for s in Seeds::new(range, Shard { index: i, count: 7 }, None) {
                assert!(seen.insert(s), "seed {s} in two shards");
            }
        }
        assert_eq!(seen, (100..200).collect());
    }

    #[test]
    fn limits_and_open_ranges() {
        let s: Vec<u64> =
            Seeds::new(SeedRange::from(10), Shard { index: 2, count: 4 }, Some(3)).collect();
        assert_eq!(s, vec![11, 15, 19]);
        let near_max = SeedRange::from(u64::MAX - 1);
        assert_eq!(Seeds::new(near_max, Shard::WHOLE, None).count(), 2);
        assert_eq!(
            Seeds::new("5..5".parse().unwrap(), Shard::WHOLE, None).count(),
            0
        );
        assert_eq!(
            Seeds::new(SeedRange::from(0), Shard::WHOLE, Some(0)).count(),
            0
        );
    }
}
