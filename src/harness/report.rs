//! The failure capsule (`report.json`): everything needed to understand a
//! run and to replay it, in one file a person can read and a later faultline
//! can re-run.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::verdict::Verdicts;

/// Written in `format`, so a reader knows the file is a capsule.
pub const CAPSULE_FORMAT: &str = "faultline-capsule";
/// Bumped when a field changes meaning.
pub const CAPSULE_VERSION: u32 = 1;

/// The faultline that wrote a capsule.
pub fn faultline_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The git commit the binary was built from (`unknown` outside a checkout).
pub fn git_commit() -> &'static str {
    env!("FAULTLINE_GIT_COMMIT")
}

/// What shrinking did to produce this capsule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrunk {
    /// The capsule that was shrunk.
    pub from: PathBuf,
    /// `(before, after)` sizes, by what was shrunk.
    pub faults: (usize, usize),
    pub clients: (usize, usize),
    pub nodes: (usize, usize),
    pub duration_ms: (u64, u64),
    pub events: (usize, usize),
    /// Simulations run while shrinking.
    pub runs: usize,
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capsule {
    pub format: String,
    pub version: u32,
    pub faultline_version: String,
    pub git_commit: String,
    pub seed: u64,
    /// The command that reproduces this run exactly.
    pub repro: String,
    /// The full `RunConfig`, as the simulation read it.
    pub config: serde_json::Value,
    /// The nemesis schedule the run followed.
    pub schedule: serde_json::Value,
    /// Faults as applied, with leader targets resolved and skips recorded.
    #[serde(default)]
    pub faults_applied: serde_json::Value,
    pub verdicts: Verdicts,
    /// Which faults overlapped client operations and touched the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effectiveness: Option<faultline_nemesis::Effectiveness>,
    /// SHA-256 of the canonical history; `repro` checks it.
    pub history_hash: String,
    /// Events in the history.
    pub events: usize,
    pub sim_time_ms: u64,
    pub wall_ms: u64,
    /// Planted bugs that were switched on (empty on the correct build).
    #[serde(default)]
    pub bugs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shrunk>,
}

/// A capsule that cannot be read.
#[derive(Debug)]
pub struct CapsuleError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for CapsuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for CapsuleError {}

impl Capsule {
    /// Write `report.json` into `dir` (via a temporary file and a rename, so
    /// a crash never leaves half a report).
    pub fn write(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join(super::store::REPORT);
        let tmp = dir.join(".report.json.tmp");
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Read and check a capsule.
    pub fn read(path: &Path) -> Result<Capsule, CapsuleError> {
        let err = |message: String| CapsuleError {
            path: path.to_path_buf(),
            message,
        };
        let text = fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "not JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ))
        })?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(CAPSULE_FORMAT) => {}
            other => {
                return Err(err(format!(
                    "not a faultline report (format {other:?}, expected {CAPSULE_FORMAT:?})"
                )))
            }
        }
        let capsule: Capsule =
            serde_json::from_value(value).map_err(|e| err(format!("bad report: {e}")))?;
        if capsule.version > CAPSULE_VERSION {
            return Err(err(format!(
                "report version {} is newer than this faultline reads ({CAPSULE_VERSION})",
                capsule.version
            )));
        }
        Ok(capsule)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::harness::verdict::{CheckResult, Checker, Verdict};

    pub(crate) fn sample() -> Capsule {
        Capsule {
            format: CAPSULE_FORMAT.into(),
            version: CAPSULE_VERSION,
            faultline_version: faultline_version().into(),
            git_commit: git_commit().into(),
            seed: 42,
            repro: "faultline run --seed 42".into(),
            config: serde_json::json!({"seed": 42}),
            schedule: serde_json::json!({"nodes": [1, 2, 3], "end_ms": 1000, "items": []}),
            faults_applied: serde_json::Value::Null,
            verdicts: Verdicts::combine(vec![CheckResult::new(
                Checker::Agreement,
                Verdict::Invalid,
                "node 2 applied 7 entries, node 3 applied 6 different ones",
            )]),
            effectiveness: None,
            history_hash: "ab".repeat(32),
            events: 10,
            sim_time_ms: 1000,
            wall_ms: 5,
            bugs: vec!["minority-quorum".into()],
            shrunk: None,
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = sample();
        let path = c.write(dir.path()).unwrap();
        assert_eq!(Capsule::read(&path).unwrap(), c);
        assert!(!dir.path().join(".report.json.tmp").exists());
    }

    #[test]
    fn foreign_or_broken_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        fs::write(&p, "{ not json").unwrap();
        assert!(Capsule::read(&p).unwrap_err().message.contains("line 1"));
        fs::write(&p, r#"{"format": "something-else"}"#).unwrap();
        assert!(Capsule::read(&p)
            .unwrap_err()
            .message
            .contains("not a faultline report"));
        fs::write(&p, r#"{"format": "faultline-capsule", "version": 1}"#).unwrap();
        assert!(Capsule::read(&p)
            .unwrap_err()
            .message
            .contains("bad report"));
        let mut future = serde_json::to_value(sample()).unwrap();
        future["version"] = 99.into();
        fs::write(&p, future.to_string()).unwrap();
        assert!(Capsule::read(&p).unwrap_err().message.contains("newer"));
        assert!(Capsule::read(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn build_info_is_present() {
        assert!(!git_commit().is_empty());
        assert_eq!(faultline_version(), env!("CARGO_PKG_VERSION"));
    }
}
