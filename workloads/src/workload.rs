//! The workloads a run can drive (`--workload NAME`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A workload: what clients do and which checker judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Independent single-key registers: read, write, compare-and-set.
    Register,
    /// Many keys chosen with a Zipfian skew: get and put.
    Kv,
    /// Append unique elements to per-key lists; read whole lists.
    ListAppend,
    /// Add unique elements to sets; read them back after the heal.
    Set,
    /// Transfers between accounts as multi-key transactions; read all balances.
    Bank,
    /// Increments of known size and reads.
    Counter,
}

impl Workload {
    /// Every workload, in a fixed order.
    pub const ALL: [Workload; 6] = [
        Workload::Register,
        Workload::Kv,
        Workload::ListAppend,
        Workload::Set,
        Workload::Bank,
        Workload::Counter,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Kv => "kv",
            Workload::ListAppend => "list-append",
            Workload::Set => "set",
            Workload::Bank => "bank",
            Workload::Counter => "counter",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--workload` value that names no workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWorkload(pub String);

impl fmt::Display for UnknownWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        write!(
            f,
            "unknown workload {:?}; expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownWorkload {}

impl FromStr for Workload {
    type Err = UnknownWorkload;

    fn from_str(s: &str) -> Result<Workload, UnknownWorkload> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| UnknownWorkload(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert_eq!("List_Append".parse::<Workload>(), Ok(Workload::ListAppend));
    }

    #[test]
    fn unknown_names_list_the_choices() {
        let e = "queue".parse::<Workload>().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("\"queue\"") && msg.contains("list-append") && msg.contains("counter"),
            "{msg}"
        );
    }
}
