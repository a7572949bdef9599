//! A data directory belongs to one process: the blob store's journal, the SQLite file and
//! the TLS chain would be silently interleaved by two. The owner holds an exclusive `flock`
//! on `<data dir>/vaultsim.lock` for as long as it runs; the kernel drops it when the
//! process dies, however it dies, so there is nothing stale to clean up.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file in the data directory. It is never deleted: unlinking a lock file lets a
/// third process lock a new file of the same name while the second holds the old one.
pub const LOCK_FILE: &str = "vaultsim.lock";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the lock.
    #[error(
        "the data directory {} is in use by another vaultsim process{}; stop it, or give this \
         one another --data-dir",
        .dir.display(),
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse { dir: PathBuf, holder: Option<u32> },
    #[error("cannot lock the data directory {}: {source}", .dir.display())]
    Io { dir: PathBuf, source: io::Error },
}

/// The exclusive hold on a data directory; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    /// Held open only: closing it releases the lock.
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if it does not exist yet and locks it, writing this process's pid into
    /// the lock file for the message another process gets. Fails at once when another
    /// process (or another `DataDirLock` in this one) holds it, having written nothing.
    pub fn acquire(dir: &Path) -> Result<Self, DataDirError> {
        let io_error = |source| DataDirError::Io {
            dir: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_error)?;
        // Opened without truncating: a refused process must leave the holder's pid.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder may not have written its pid yet: the message then has none.
                let _ = file.read_to_string(&mut holder);
                return Err(DataDirError::InUse {
                    dir: dir.to_owned(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_error(e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io_error)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let refused = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(&refused, DataDirError::InUse { holder: Some(pid), .. } if *pid == std::process::id()),
            "{refused:?}"
        );
        let message = refused.to_string();
        assert!(
            message.contains(&dir.path().display().to_string())
                && message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
