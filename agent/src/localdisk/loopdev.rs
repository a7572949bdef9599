//! Which loop device backs an image file, and where that device is mounted: what the
//! freeze needs to know about a local-disk VM.

use std::path::{Path, PathBuf};

use super::LocalDiskError;

/// A loop device attached to an image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopMount {
    /// `/dev/loopN`.
    pub device: PathBuf,
    /// The device's `major:minor`.
    pub device_number: String,
    /// Where the device is mounted (the first mount listed, if it is mounted at all).
    pub mount_point: Option<PathBuf>,
}

/// The loop device backing `image` and the mount point of that device, from
/// `/sys/block/loop*/loop/backing_file` and `/proc/self/mountinfo`. `None` when no loop
/// device is attached to it.
pub fn loop_mount_of(image: &Path) -> Result<Option<LoopMount>, LocalDiskError> {
    let image = std::fs::canonicalize(image).map_err(|source| LocalDiskError::ImageOpen {
        path: image.to_owned(),
        source,
    })?;
    let sys_block = Path::new("/sys/block");
    let entries = std::fs::read_dir(sys_block).map_err(|source| LocalDiskError::SystemTable {
        path: sys_block.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        // A detached loop device has no backing_file.
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else {
            continue;
        };
        if Path::new(backing.trim_end_matches('\n')) != image {
            continue;
        }
        let device_number = read_system_file(&entry.path().join("dev"))?
            .trim()
            .to_owned();
        let mountinfo_path = Path::new("/proc/self/mountinfo");
        let mountinfo = read_system_file(mountinfo_path)?;
        return Ok(Some(LoopMount {
            device: Path::new("/dev").join(&name),
            mount_point: mount_point_of(&mountinfo, &device_number),
            device_number,
        }));
    }
    Ok(None)
}

/// Why nothing of a disk image's filesystem can be reached through a mount right now.
#[derive(Debug, thiserror::Error)]
pub enum NotMounted {
    #[error("no loop device is attached to it")]
    NoLoopDevice,
    #[error("its loop device {0} is not mounted")]
    LoopDeviceNotMounted(PathBuf),
    #[error("{mount_point}, where its loop device {device} is mounted, holds another filesystem")]
    MountPointCovered {
        device: PathBuf,
        mount_point: PathBuf,
    },
    #[error(transparent)]
    Unreadable(#[from] LocalDiskError),
}

/// The mount point through which the filesystem of `image` is reached right now: where its
/// loop device is mounted, checked to still open onto that device (`st_dev`), since another
/// mount over it would otherwise be frozen or written back in its place. Looked up afresh
/// each time: the image may be mounted, unmounted or moved while the agent runs.
pub fn own_mount_of(image: &Path) -> Result<PathBuf, NotMounted> {
    let looped = loop_mount_of(image)?.ok_or(NotMounted::NoLoopDevice)?;
    let mount_point = looped
        .mount_point
        .ok_or_else(|| NotMounted::LoopDeviceNotMounted(looped.device.clone()))?;
    let covered = || NotMounted::MountPointCovered {
        device: looped.device.clone(),
        mount_point: mount_point.clone(),
    };
    let found = rustix::fs::stat(&mount_point)
        .map_err(|_| covered())?
        .st_dev;
    let found = format!("{}:{}", rustix::fs::major(found), rustix::fs::minor(found));
    if found != looped.device_number {
        return Err(covered());
    }
    Ok(mount_point)
}

fn read_system_file(path: &Path) -> Result<String, LocalDiskError> {
    std::fs::read_to_string(path).map_err(|source| LocalDiskError::SystemTable {
        path: path.to_owned(),
        source,
    })
}

/// The mount point of the first mount of device `major:minor` in a mountinfo table
/// (`id parent major:minor root mount-point …`, with `\ooo` octal escapes).
fn mount_point_of(mountinfo: &str, device_number: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let device = fields.nth(2)?;
        let mount_point = fields.nth(1)?;
        (device == device_number).then(|| PathBuf::from(unescape_octal(mount_point)))
    })
}

/// Undoes the kernel's `\ooo` escaping of space, tab, newline and backslash.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match escape {
            Some(digits) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
98 22 7:3 / /tmp/with\\040space rw,relatime shared:50 - ext4 /dev/loop3 rw
99 22 7:3 / /mnt/again rw,relatime shared:50 - ext4 /dev/loop3 rw
";

    #[test]
    fn the_first_mount_of_the_device_is_found_and_unescaped() {
        assert_eq!(
            mount_point_of(MOUNTINFO, "7:3"),
            Some(PathBuf::from("/tmp/with space"))
        );
        assert_eq!(mount_point_of(MOUNTINFO, "7:4"), None);
    }
}
