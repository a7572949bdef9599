//! The freeze lock, as the real extension takes it: a lock file that keeps two freezes
//! apart, tried a few times and given up on without failing the freeze.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::sleep;
use tracing::{debug, warn};

/// Lock tries as the real extension makes them: up to 5, 1 s apart, with 30 s more before the
/// last.
const LOCK_TRIES: u32 = 5;
const LOCK_RETRY_DELAY: Duration = Duration::from_secs(1);
const LOCK_LAST_TRY_EXTRA_DELAY: Duration = Duration::from_secs(30);

/// The freeze lock. Dropping it deletes the lock file and closes the descriptor, which
/// releases the lock.
#[derive(Debug)]
pub(super) struct FreezeLock {
    path: PathBuf,
    /// Held open only: closing it releases the lock.
    _file: File,
}

impl Drop for FreezeLock {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.path) {
            if error.kind() != io::ErrorKind::NotFound {
                warn!(path = %self.path.display(), %error, "cannot delete the freeze lock file");
            }
        }
    }
}

impl FreezeLock {
    /// Takes the lock as the real extension does, or None when every try fails: the freeze
    /// goes ahead regardless.
    pub(super) async fn take(path: &Path) -> Option<FreezeLock> {
        for attempt in 1..=LOCK_TRIES {
            match FreezeLock::try_take(path) {
                Ok(lock) => return Some(lock),
                // Only a lock held elsewhere can clear up by waiting.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock && attempt < LOCK_TRIES => {
                    debug!(path = %path.display(), attempt, "the freeze lock is held; retrying");
                    let delay = if attempt + 1 == LOCK_TRIES {
                        LOCK_RETRY_DELAY + LOCK_LAST_TRY_EXTRA_DELAY
                    } else {
                        LOCK_RETRY_DELAY
                    };
                    sleep(delay).await;
                }
                Err(error) => {
                    warn!(path = %path.display(), attempt, %error,
                        "cannot take the freeze lock; freezing without it, as the real extension does");
                    return None;
                }
            }
        }
        None
    }

    fn try_take(path: &Path) -> io::Result<FreezeLock> {
        if let Some(directory) = path.parent() {
            fs::create_dir_all(directory)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        try_lock_exclusive(&file)?;
        Ok(FreezeLock {
            path: path.to_owned(),
            _file: file,
        })
    }
}

/// An exclusive, non-blocking `flock`. The real extension uses `lockf`; `flock` also keeps
/// two freezers of one process apart, which `lockf`'s per-process locks would not.
#[allow(unsafe_code)]
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock takes no pointer, and `file` keeps the descriptor open across the call.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
