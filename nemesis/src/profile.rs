//! Which fault families a run uses, parsed from `--nemesis a,b,c`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fault::FaultKind;

/// A set of fault families. Empty means no faults at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profile {
    pub kinds: BTreeSet<FaultKind>,
}

/// A `--nemesis` value that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileError {
    Empty,
    Unknown(String),
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        match self {
            ProfileError::Empty => write!(
                f,
                "--nemesis needs at least one name: {}, all or none",
                names.join(", ")
            ),
            ProfileError::Unknown(name) => write!(
                f,
                "unknown nemesis {name:?}; expected a comma-separated list of {}, all or none",
                names.join(", ")
            ),
        }
    }
}

impl std::error::Error for ProfileError {}

impl Profile {
    /// Every fault family `all` names ([`FaultKind::IN_ALL`]).
    pub fn all() -> Profile {
        Profile {
            kinds: FaultKind::IN_ALL.into_iter().collect(),
        }
    }

    /// No faults.
    pub fn none() -> Profile {
        Profile::default()
    }

    pub fn contains(&self, kind: FaultKind) -> bool {
        self.kinds.contains(&kind)
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

impl FromStr for FaultKind {
    type Err = ProfileError;

    fn from_str(s: &str) -> Result<FaultKind, ProfileError> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ProfileError::Unknown(s.to_string()))
    }
}

impl FromStr for Profile {
    type Err = ProfileError;

    /// `partition,crash`, `all`, or `none`; names are trimmed and
    /// case-insensitive, repeats are harmless.
    fn from_str(s: &str) -> Result<Profile, ProfileError> {
        let mut kinds = BTreeSet::new();
        let mut any = false;
        for raw in s.split(',') {
            let name = raw.trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            any = true;
            match name.as_str() {
                "all" => kinds.extend(FaultKind::IN_ALL),
                "none" => {}
                _ => {
                    kinds.insert(name.parse::<FaultKind>()?);
                }
            }
        }
        if !any {
            return Err(ProfileError::Empty);
        }
        Ok(Profile { kinds })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kinds.is_empty() {
            return write!(f, "none");
        }
        let all = Profile::all().kinds;
        if self.kinds.is_superset(&all) {
            // `all,failpoint` when it goes beyond `all`.
            let extra: Vec<&str> = self.kinds.difference(&all).map(|k| k.name()).collect();
            let mut names = vec!["all"];
            names.extend(extra);
            return write!(f, "{}", names.join(","));
        }
        let names: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        write!(f, "{}", names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_all_and_none() {
        let p: Profile = "partition, Crash,partition".parse().unwrap();
        assert_eq!(
            p.kinds,
            BTreeSet::from([FaultKind::Partition, FaultKind::Crash])
        );
        assert_eq!("all".parse::<Profile>().unwrap(), Profile::all());
        assert!("none".parse::<Profile>().unwrap().is_empty());
        assert_eq!(Profile::all().to_string(), "all");
        assert_eq!(p.to_string(), "partition,crash");
        assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
    }

    #[test]
    fn failpoint_is_opt_in() {
        assert!(!Profile::all().contains(FaultKind::Failpoint));
        let p: Profile = "all,failpoint".parse().unwrap();
        assert!(p.contains(FaultKind::Failpoint) && p.kinds.len() == FaultKind::ALL.len());
        assert_eq!(p.to_string(), "all,failpoint");
        assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
        let q: Profile = "crash,failpoint,partition".parse().unwrap();
        assert_eq!(q.to_string(), "partition,crash,failpoint");
    }

    #[test]
    fn unknown_and_empty_names_are_clear_errors() {
        let e = "partition,cosmic-rays".parse::<Profile>().unwrap_err();
        assert_eq!(e, ProfileError::Unknown("cosmic-rays".into()));
        let msg = e.to_string();
        assert!(
            msg.contains("cosmic-rays") && msg.contains("membership"),
            "{msg}"
        );
        assert_eq!("".parse::<Profile>(), Err(ProfileError::Empty));
        assert_eq!(" , ".parse::<Profile>(), Err(ProfileError::Empty));
    }
}
