//! The demo's data directory: every demo starts from nothing, so the directory is wiped
//! first; but only a directory a demo made (it holds [`MARKER`]) or an empty one, never a
//! service's data that `--data-dir` or the environment happened to name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::data_dir::{DataDirError, DataDirLock, LOCK_FILE};

/// The file that marks a directory as a demo's.
pub const MARKER: &str = "vaultsim-demo";

#[derive(Debug, thiserror::Error)]
pub enum DemoDirError {
    #[error(
        "{} is not a demo's data directory (it holds other files and no {MARKER} marker): \
         the demo wipes its directory at every start, so give it an empty or new one with \
         --data-dir",
        .0.display()
    )]
    NotADemos(PathBuf),
    #[error(transparent)]
    Locked(#[from] DataDirError),
    #[error("cannot prepare the demo's data directory {}: {source}", .dir.display())]
    Io { dir: PathBuf, source: io::Error },
}

/// Empties `dir` (creating it if need be) and marks it as a demo's. Refused while another
/// process holds it, or when it holds anything but a demo's data.
pub fn prepare(dir: &Path) -> Result<(), DemoDirError> {
    let io_error = |source| DemoDirError::Io {
        dir: dir.to_owned(),
        source,
    };
    // Held while wiping, so that a running service's files are never pulled from under it.
    let _lock = DataDirLock::acquire(dir)?;
    let entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .and_then(|entries| entries.collect())
        .map_err(io_error)?;
    // The lock file is never deleted (see `data_dir`), and alone it is no one's data.
    let contents: Vec<&fs::DirEntry> = entries
        .iter()
        .filter(|entry| entry.file_name() != LOCK_FILE)
        .collect();
    let marked = contents.iter().any(|entry| entry.file_name() == MARKER);
    if !contents.is_empty() && !marked {
        return Err(DemoDirError::NotADemos(dir.to_owned()));
    }
    for entry in contents {
        let path = entry.path();
        let removed = if entry.file_type().map_err(io_error)?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(io_error)?;
    }
    fs::write(
        dir.join(MARKER),
        "This directory is vaultsim demo's: it is wiped at every demo start.\n",
    )
    .map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_or_empty_directory_becomes_a_demos() {
        let root = tempfile::tempdir().unwrap();
        let new = root.path().join("new");
        prepare(&new).unwrap();
        assert!(new.join(MARKER).exists());
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        prepare(&empty).unwrap();
        assert!(empty.join(MARKER).exists());
    }

    #[test]
    fn a_demos_directory_is_wiped_but_for_its_lock_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        prepare(dir).unwrap();
        fs::create_dir_all(dir.join("blob/segments")).unwrap();
        fs::write(dir.join("vaultsim.db"), "old").unwrap();
        prepare(dir).unwrap();
        let mut left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [MARKER, LOCK_FILE]);
    }

    #[test]
    fn other_data_is_refused_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        fs::write(dir.join("credentials.json"), "{}").unwrap();
        let refused = prepare(dir).unwrap_err();
        assert!(matches!(refused, DemoDirError::NotADemos(_)), "{refused}");
        assert!(refused.to_string().contains("not a demo's data directory"));
        assert!(dir.join("credentials.json").exists());
        assert!(!dir.join(MARKER).exists());
    }

    #[test]
    fn a_directory_in_use_is_not_wiped() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        prepare(dir).unwrap();
        fs::write(dir.join("vaultsim.db"), "live").unwrap();
        let _held = DataDirLock::acquire(dir).unwrap();
        assert!(matches!(prepare(dir), Err(DemoDirError::Locked(_))));
        assert!(dir.join("vaultsim.db").exists());
    }
}
