//! The store: one directory per run under a root (`store/` unless `--out`),
//! Jepsen's layout, with `latest` pointing at the newest.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The default store root, relative to the working directory.
pub const DEFAULT_ROOT: &str = "store";

/// File names inside a run directory.
pub const REPORT: &str = "report.json";
pub const HISTORY: &str = "history.jsonl";
pub const TIMELINE: &str = "timeline.html";
pub const TRACE: &str = "trace.log";
pub const LEDGER: &str = "seeds.jsonl";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create a fresh directory `<root>/<UTC time>-<name>`; a suffix keeps
    /// two runs started in the same second apart.
    pub fn create_run(&self, name: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.root)?;
        let stem = format!("{}-{}", timestamp(SystemTime::now()), sanitize(name));
        for n in 0..10_000u32 {
            let dir = if n == 0 {
                self.root.join(&stem)
            } else {
                self.root.join(format!("{stem}-{n}"))
            };
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "could not find a free run directory for {stem} in {}",
            self.root.display()
        )))
    }

    /// Point `<root>/latest` at `dir` (replaced atomically, so a reader
    /// never sees it missing).
    pub fn point_latest(&self, dir: &Path) -> io::Result<()> {
        let target = dir
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| dir.to_path_buf());
        let tmp = self.root.join(format!(".latest.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)?;
        fs::rename(&tmp, self.root.join("latest"))
    }
}

/// `20261129T151819Z`: sorts by time, and is safe in any file system.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace(['-', ':'], "")
}

/// Keep names to `[A-Za-z0-9._-]` so a run id is one path component.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A store directory or a `report.json` path, resolved to the report file.
pub fn resolve_report(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(REPORT)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_compact_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(t), "20231114T221320Z");
    }

    #[test]
    fn runs_get_unique_dirs_and_latest_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("store"));
        let a = store.create_run("seed-1").unwrap();
        let b = store.create_run("seed-1").unwrap();
        assert_ne!(a, b);
        assert!(a
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-seed-1"));
        store.point_latest(&a).unwrap();
        store.point_latest(&b).unwrap();
        let latest = store.root().join("latest");
        assert_eq!(
            fs::canonicalize(&latest).unwrap(),
            fs::canonicalize(&b).unwrap()
        );
        // Relative, so the store can be moved or uploaded as a whole.
        assert!(fs::read_link(&latest).unwrap().is_relative());
        assert_eq!(sanitize("a/b c"), "a-b-c");
    }

    #[test]
    fn resolves_dirs_to_their_report() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(resolve_report(tmp.path()), tmp.path().join(REPORT));
        let f = tmp.path().join("x.json");
        assert_eq!(resolve_report(&f), f);
    }
}
