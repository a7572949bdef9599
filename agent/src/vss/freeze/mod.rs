//! The filesystem freeze (`main/fsfreezer.py`, `main/safefreeze/src/safefreeze.c`).
//!
//! This module is the interface the requester (`vss/requester.rs`) codes against. Behind it
//! is [`FsFreezer`], the real freeze: it picks the mounts ([`MountSelection`]), takes the
//! freeze lock and runs the `vaultsim-safefreeze` helper, a separate process that holds the
//! freeze and thaws on its own when asked, when its timeout passes, or when the agent dies.
//!
//! The helper talks over pipes rather than the real helper's SIGUSR1 (see its own docs): it
//! writes `frozen` (or `Failed to open: <mount>`) on stdout, and its stdin is the lifeline:
//! the agent writes `thaw` to end the freeze, and the pipe closing, which the kernel does
//! when the agent dies in any way, thaws at once. [`pipe`] holds those words.

use std::future::Future;

use vaultsim_protocol::extension::codes;

/// [`FsFreezer`]: the real freeze, driving the helper.
mod fs_freezer;
/// The freeze lock that keeps two freezes apart.
mod lock;
/// Which mounts a freeze covers: the real extension's rule over mountinfo, or given ones.
mod mounts;
/// The words the agent and the `vaultsim-safefreeze` helper exchange, and its exit codes.
pub mod pipe;

pub use fs_freezer::{FreezeConfig, FrozenMounts, FsFreezer};
pub use mounts::{
    eligible_mounts, parse_mountinfo, resource_disk_device, FreezeTargets, MountInfoEntry,
    MountSelection,
};

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
            FreezeFailure::Failed(_) => codes::FS_FREEZE_FAILED,
            FreezeFailure::TimedOut => codes::FS_FREEZE_TIMEOUT,
            FreezeFailure::UnableToOpenMount(_) => codes::UNABLE_TO_OPEN_MOUNT,
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

    /// The disks a freeze in force covers nothing of, each saying why: their snapshots are
    /// crash consistent at best.
    fn left_out<'a>(&self, frozen: &'a Self::Frozen) -> &'a [String];
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

    fn left_out<'a>(&self, (): &'a ()) -> &'a [String] {
        &[]
    }
}
