//! What a command does between fork and exec to be inside the sandbox. It runs in the
//! forked child, so it makes only system calls on memory prepared before the fork: no
//! allocation, no locks (async-signal-safe).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::thread::{
    capabilities, move_into_link_name_space, remove_capability_from_bounding_set, set_capabilities,
    CapabilitySet, LinkNameSpaceType,
};

/// The namespaces a sandbox's commands enter, kept open for as long as a sandbox or a
/// configured command holds them.
pub(super) struct Namespaces {
    pub net: OwnedFd,
    pub mnt: OwnedFd,
}

/// One command's way in, prepared before the fork.
pub(super) struct Entry {
    pub namespaces: Arc<Namespaces>,
    /// The command's working directory, absolute: entering a mount namespace moves a
    /// process to its root, so the directory is entered again after.
    pub cwd: CString,
    /// fsfreeze needs `CAP_SYS_ADMIN`; without it the extension cannot mount, unshare or
    /// freeze anything.
    pub keep_sys_admin: bool,
}

impl Entry {
    pub fn enter(&self) -> io::Result<()> {
        move_into_link_name_space(
            self.namespaces.net.as_fd(),
            Some(LinkNameSpaceType::Network),
        )?;
        move_into_link_name_space(self.namespaces.mnt.as_fd(), Some(LinkNameSpaceType::Mount))?;
        rustix::process::chdir(self.cwd.as_c_str())?;
        if !self.keep_sys_admin {
            drop_sys_admin()?;
        }
        Ok(())
    }
}

/// Removes `CAP_SYS_ADMIN` from every set. The bounding set is what matters for a root
/// process: exec gives root every capability of the bounding and inheritable sets.
fn drop_sys_admin() -> io::Result<()> {
    remove_capability_from_bounding_set(CapabilitySet::SYS_ADMIN)?;
    let mut sets = capabilities(None)?;
    for set in [
        &mut sets.effective,
        &mut sets.permitted,
        &mut sets.inheritable,
    ] {
        set.remove(CapabilitySet::SYS_ADMIN);
    }
    set_capabilities(None, sets)?;
    Ok(())
}
