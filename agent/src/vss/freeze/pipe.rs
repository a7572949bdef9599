//! What the agent and the `vaultsim-safefreeze` helper say to each other over its pipes
//! (the helper's docs give the whole exchange), and what its exit codes mean. Both sides
//! use these, so a word cannot change on one side only.

/// The helper's report on stdout once every mount is frozen.
pub const FROZEN: &str = "frozen";
/// The start of the helper's report on stdout when a mount cannot be opened; the mount
/// follows. Nothing was frozen.
pub const FAILED_TO_OPEN: &str = "Failed to open: ";
/// The line the agent writes on the helper's stdin (the lifeline) to end the freeze.
pub const THAW: &str = "thaw";

/// Exit code: the thaw was requested (on the lifeline, or by a signal).
pub const EXIT_THAW_REQUESTED: u8 = 0;
/// Exit code: the freeze failed, or the timeout passed and the mounts were auto-thawed.
pub const EXIT_FAILED_OR_AUTO_THAWED: u8 = 1;
/// Exit code: the helper woke early without a thaw request (the lifeline closed or failed,
/// or the parent is gone), and thawed.
pub const EXIT_WOKE_EARLY: u8 = 2;
