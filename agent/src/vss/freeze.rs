//! The filesystem freeze (`main/fsfreezer.py`, `main/safefreeze/src/safefreeze.c`).
//!
//! These types are the interface the requester (`vss/mod.rs`) codes against; the
//! implementation over the safefreeze helper process lives here too.

use std::future::Future;

/// Why a freeze failed, with the extension code each one reports (spec §3.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreezeFailure {
    /// 121: the helper failed, died, or the lock could not be taken.
    #[error("file system freeze failed: {0}")]
    Failed(String),
    /// 122: the helper did not report the freeze in time.
    #[error("file system freeze timed out")]
    TimedOut,
    /// 123: a mount could not be opened.
    #[error("unable to open mount {0}")]
    UnableToOpenMount(String),
}

impl FreezeFailure {
    /// The extension code of this failure.
    pub fn code(&self) -> u32 {
        match self {
            FreezeFailure::Failed(_) => 121,
            FreezeFailure::TimedOut => 122,
            FreezeFailure::UnableToOpenMount(_) => 123,
        }
    }
}

/// The thaw found the freeze broken (the helper auto-thawed or died): the snapshot may not
/// be consistent. The extension reports code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot result inconsistent: {0}")]
pub struct ThawFailure(pub String);

/// Something that can freeze the guest's filesystems and thaw them again.
pub trait Freezer: Send + Sync {
    /// What a successful freeze holds until the thaw.
    type Frozen: Send;

    fn freeze(&self) -> impl Future<Output = Result<Self::Frozen, FreezeFailure>> + Send;

    fn thaw(&self, frozen: Self::Frozen) -> impl Future<Output = Result<(), ThawFailure>> + Send;
}

/// A guest with no eligible mounts (a simulated VM): freeze and thaw do nothing and count
/// as success, as in the real extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEligibleMounts;

impl Freezer for NoEligibleMounts {
    type Frozen = ();

    async fn freeze(&self) -> Result<(), FreezeFailure> {
        Ok(())
    }

    async fn thaw(&self, (): ()) -> Result<(), ThawFailure> {
        Ok(())
    }
}
