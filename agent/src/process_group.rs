//! The process group a child was started in (`process_group(0)`), killed whole when the
//! child times out or is abandoned: a script's or handler command's own children go with it.

/// Kills the group on drop unless [`ProcessGroup::release`]d.
pub(crate) struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    pub(crate) fn of(child: &tokio::process::Child) -> Self {
        // `process_group(0)` made the child the leader: the group id is its pid.
        // `id()` is `None` only once the child was reaped, and pid 1 is never a child.
        let leader = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw)
            .filter(|pid| *pid != rustix::process::Pid::INIT);
        Self(leader)
    }

    /// The child exited by itself: what it left in the background may stay.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }

    pub(crate) fn kill(&mut self) {
        if let Some(leader) = self.0.take() {
            // Fails only if the group is already gone.
            let _ = rustix::process::kill_process_group(leader, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
