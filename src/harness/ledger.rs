//! The seed ledger (`seeds.jsonl`): one line per seed a soak ran, written
//! as each finishes, so an interrupted soak still says what it covered.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::verdict::{Checker, Verdict};

/// How one seed ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Valid,
    Unknown,
    Invalid,
    /// The harness itself failed on this seed (not the system under test).
    HarnessCrash,
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Status {
        match v {
            Verdict::Valid => Status::Valid,
            Verdict::Unknown => Status::Unknown,
            Verdict::Invalid => Status::Invalid,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Valid => "valid",
            Status::Unknown => "unknown",
            Status::Invalid => "invalid",
            Status::HarnessCrash => "harness-crash",
        })
    }
}

/// What happened to one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRecord {
    pub seed: u64,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caught_by: Vec<Checker>,
    /// Why it is not valid, in one line (empty when valid).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub wall_ms: u64,
    pub sim_ms: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub history_hash: String,
    /// Where its store directory was kept, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The command that reproduces it.
    pub repro: String,
}

impl SeedRecord {
    pub fn is_failure(&self) -> bool {
        self.status != Status::Valid
    }
}

/// Appends records to `seeds.jsonl`, flushing each line.
pub struct Ledger {
    out: BufWriter<File>,
}

impl Ledger {
    pub fn create(path: &Path) -> io::Result<Ledger> {
        Ok(Ledger {
            out: BufWriter::new(File::create(path)?),
        })
    }

    pub fn append(&mut self, record: &SeedRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Read a ledger back (for tools and tests); names the bad line.
pub fn read(path: &Path) -> Result<Vec<SeedRecord>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seeds.jsonl");
        let mut ledger = Ledger::create(&path).unwrap();
        let a = SeedRecord {
            seed: 1,
            status: Status::Valid,
            caught_by: vec![],
            reason: String::new(),
            wall_ms: 10,
            sim_ms: 60_000,
            history_hash: "00".into(),
            dir: None,
            repro: "faultline run --seed 1".into(),
        };
        let b = SeedRecord {
            seed: 2,
            status: Status::Invalid,
            caught_by: vec![Checker::Linearizability],
            reason: "linearizability: key k3 cannot be ordered".into(),
            dir: Some("store/x/seed-2".into()),
            ..a.clone()
        };
        ledger.append(&a).unwrap();
        ledger.append(&b).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text
            .lines()
            .next()
            .unwrap()
            .contains("\"status\":\"valid\""));
        assert_eq!(read(&path).unwrap(), vec![a, b]);
        std::fs::write(&path, "{}\n").unwrap();
        assert!(read(&path).unwrap_err().contains(":1:"));
    }
}
