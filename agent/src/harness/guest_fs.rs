//! A filesystem for a scenario's guest to freeze: a small ext4 image, loop-mounted in the
//! scenario's directory (as root). Freezing the machine's own filesystems is never the
//! harness's doing; dropping the mount thaws it first, whatever the scenario left, because
//! a frozen mount makes `umount` hang.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

/// The image's size: enough for ext4's journal, small enough to make in a blink.
const IMAGE_SIZE: &str = "16M";

/// A loop-mounted ext4 image.
pub struct GuestFilesystem {
    pub mount_point: PathBuf,
}

impl GuestFilesystem {
    /// Whether this process may make one (loop mounts need root).
    pub fn can_mount() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// Makes `<dir>/guest-fs.img` and mounts it on `<dir>/guest-fs`.
    pub fn mount(dir: &Path) -> anyhow::Result<GuestFilesystem> {
        let image = dir.join("guest-fs.img");
        let mount_point = dir.join("guest-fs");
        std::fs::create_dir_all(&mount_point)?;
        run(Command::new("truncate")
            .args(["-s", IMAGE_SIZE])
            .arg(&image))?;
        run(Command::new("mkfs.ext4").arg("-q").arg(&image))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mount_point))?;
        Ok(GuestFilesystem { mount_point })
    }

    /// Whether a write to the filesystem completes within `limit` (it blocks while frozen).
    pub fn writable_within(&self, limit: Duration) -> bool {
        let probe = self.mount_point.join("write-probe");
        let (done, finished) = mpsc::channel();
        // A write to a frozen filesystem blocks in the kernel: it runs apart, and the thaw
        // on drop releases it if it is still waiting.
        std::thread::spawn(move || {
            let written = std::fs::write(&probe, b"probe")
                .and_then(|()| std::fs::File::open(&probe)?.sync_all());
            let _ = done.send(written.is_ok());
        });
        finished.recv_timeout(limit).unwrap_or(false)
    }
}

impl Drop for GuestFilesystem {
    fn drop(&mut self) {
        // Fails harmlessly when it is not frozen.
        let _ = Command::new("fsfreeze")
            .arg("-u")
            .arg(&self.mount_point)
            .output();
        if let Err(error) = run(Command::new("umount").arg(&self.mount_point)) {
            tracing::warn!(%error, "the guest filesystem cannot be unmounted");
        }
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{shown} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
