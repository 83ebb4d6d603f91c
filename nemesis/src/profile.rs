//! Which fault families a run uses, parsed from `--nemesis a,b,c`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fault::{Failpoint, FaultKind};

/// A set of fault families. Empty means no faults at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profile {
    pub kinds: BTreeSet<FaultKind>,
    /// The points failpoint faults draw from (`failpoint:a+b`, as an etcd
    /// robustness run picks its gofail points); empty means every point.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub failpoints: BTreeSet<Failpoint>,
}

/// A `--nemesis` value that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileError {
    Empty,
    BadFailpoint(String),
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
            ProfileError::BadFailpoint(why) => write!(f, "--nemesis failpoint:...: {why}"),
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
            failpoints: BTreeSet::new(),
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
        let mut failpoints = BTreeSet::new();
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
                _ if name.starts_with("failpoint:") => {
                    kinds.insert(FaultKind::Failpoint);
                    for point in name["failpoint:".len()..].split('+') {
                        failpoints.insert(
                            point
                                .trim()
                                .parse::<Failpoint>()
                                .map_err(ProfileError::BadFailpoint)?,
                        );
                    }
                }
                _ => {
                    kinds.insert(name.parse::<FaultKind>()?);
                }
            }
        }
        if !any {
            return Err(ProfileError::Empty);
        }
        Ok(Profile { kinds, failpoints })
    }
}

impl Profile {
    /// The points failpoint faults draw from, in a fixed order.
    pub fn failpoint_choices(&self) -> Vec<Failpoint> {
        if self.failpoints.is_empty() {
            Failpoint::ALL.to_vec()
        } else {
            self.failpoints.iter().copied().collect()
        }
    }

    fn kind_name(&self, kind: FaultKind) -> String {
        if kind == FaultKind::Failpoint && !self.failpoints.is_empty() {
            let points: Vec<&str> = self.failpoints.iter().map(|p| p.name()).collect();
            format!("failpoint:{}", points.join("+"))
        } else {
            kind.name().to_string()
        }
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
            let extra: Vec<String> = self
                .kinds
                .difference(&all)
                .map(|k| self.kind_name(*k))
                .collect();
            let mut names = vec!["all".to_string()];
            names.extend(extra);
            return write!(f, "{}", names.join(","));
        }
        let names: Vec<String> = self.kinds.iter().map(|k| self.kind_name(*k)).collect();
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
        assert_eq!(q.failpoint_choices(), Failpoint::ALL.to_vec());
        let r: Profile = "partition,failpoint:before-apply+before-leader-send"
            .parse()
            .unwrap();
        assert_eq!(
            r.failpoint_choices(),
            vec![Failpoint::BeforeLeaderSend, Failpoint::BeforeApply]
        );
        assert_eq!(
            r.to_string(),
            "partition,failpoint:before-leader-send+before-apply"
        );
        assert_eq!(r.to_string().parse::<Profile>().unwrap(), r);
        let e = "failpoint:before-lunch".parse::<Profile>().unwrap_err();
        assert!(
            e.to_string().contains("unknown failpoint \"before-lunch\""),
            "{e}"
        );
        assert!("failpoint:".parse::<Profile>().is_err());
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
