//! Which mounts a freeze covers: given ones, the real extension's rule over
//! `/proc/self/mountinfo`, or the mounts of the agent's own disk images.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::localdisk::own_mount_of;

/// Which mounts a freeze covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSelection {
    /// Exactly these mount points, in this order (e.g. the mount of a loop-mounted disk
    /// image, which the eligibility rule would skip).
    Explicit(Vec<PathBuf>),
    /// The real extension's rule over `/proc/self/mountinfo`; see [`eligible_mounts`].
    Eligible { mounts_to_skip: Vec<PathBuf> },
    /// The mounts of these disk images' loop devices, found at each freeze (see
    /// [`own_mount_of`]): an image mounted after the agent started is frozen, and one
    /// unmounted since leaves its mount point's new filesystem alone.
    DiskImages(Vec<PathBuf>),
}

/// What one freeze covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreezeTargets {
    /// Mount points, in freeze order.
    pub mounts: Vec<PathBuf>,
    /// One line per disk nothing of which can be frozen, saying why.
    pub left_out: Vec<String>,
}

/// Where the kernel lists the VMBus devices, one of which is the Azure resource disk.
const VMBUS_DEVICES: &str = "/sys/bus/vmbus/devices";

impl MountSelection {
    /// What to freeze now.
    pub fn targets(&self) -> io::Result<FreezeTargets> {
        match self {
            MountSelection::Explicit(mounts) => Ok(FreezeTargets {
                mounts: mounts.clone(),
                left_out: Vec::new(),
            }),
            MountSelection::Eligible { mounts_to_skip } => {
                let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
                let resource_disk = resource_disk_device(Path::new(VMBUS_DEVICES));
                Ok(FreezeTargets {
                    mounts: eligible_mounts(
                        &parse_mountinfo(&mountinfo),
                        mounts_to_skip,
                        resource_disk.as_deref(),
                        is_on_loop_device,
                    ),
                    left_out: Vec::new(),
                })
            }
            MountSelection::DiskImages(images) => {
                let mut targets = FreezeTargets::default();
                for image in images {
                    match own_mount_of(image) {
                        Ok(mount_point) => targets.mounts.push(mount_point),
                        Err(why) => targets.left_out.push(format!(
                            "nothing of the disk image {} is frozen: {why}",
                            image.display()
                        )),
                    }
                }
                Ok(targets)
            }
        }
    }
}

/// One line of `/proc/<pid>/mountinfo` (proc(5)), reduced to what mount selection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfoEntry {
    /// `major:minor` of the mounted device.
    pub device: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// The mount source, e.g. `/dev/sda1`.
    pub source: String,
}

/// The entries of a mountinfo text, in mount order; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfoEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfoEntry> {
    // The optional fields end at a lone "-"; spaces inside fields are escaped as \040, so
    // splitting on spaces is exact.
    let (mount_fields, filesystem_fields) = line.split_once(" - ")?;
    let mut mount_fields = mount_fields.split(' ');
    let device = mount_fields.nth(2)?;
    let mount_point = mount_fields.nth(1)?;
    let mut filesystem_fields = filesystem_fields.split(' ');
    let fstype = filesystem_fields.next()?;
    let source = filesystem_fields.next()?;
    Some(MountInfoEntry {
        device: device.to_owned(),
        mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
        fstype: fstype.to_owned(),
        source: unescape_mountinfo(source).to_string_lossy().into_owned(),
    })
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash).
fn unescape_mountinfo(field: &str) -> OsString {
    let bytes = field.as_bytes();
    let mut unescaped = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes
            .get(index + 1..index + 4)
            .filter(|digits| {
                bytes[index] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d))
            })
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                unescaped.push(byte);
                index += 4;
            }
            None => {
                unescaped.push(bytes[index]);
                index += 1;
            }
        }
    }
    OsString::from_vec(unescaped)
}

/// The filesystems the real extension freezes.
const FREEZABLE_FSTYPES: [&str; 4] = ["ext3", "ext4", "xfs", "btrfs"];

/// The real extension's freeze list (`main/mounts.py`, `main/fsfreezer.py`): for each mount
/// point the first entry wins; only ext3, ext4, xfs and btrfs; not on a loop device (its
/// backing file lives on a filesystem that is frozen anyway, and thawing the two out of order
/// fails); not in `mounts_to_skip`; not on `resource_disk` (a device name such as `sdb`).
/// The order is the reverse of mount order, so a mount freezes before the one it sits on,
/// with `/` last.
pub fn eligible_mounts(
    mounts: &[MountInfoEntry],
    mounts_to_skip: &[PathBuf],
    resource_disk: Option<&str>,
    is_loop_device: impl Fn(&MountInfoEntry) -> bool,
) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    let mut eligible: Vec<PathBuf> = mounts
        .iter()
        .filter(|mount| seen.insert(&mount.mount_point))
        .filter(|mount| FREEZABLE_FSTYPES.contains(&mount.fstype.as_str()))
        .filter(|mount| !is_loop_device(mount))
        .filter(|mount| !mounts_to_skip.contains(&mount.mount_point))
        .filter(|mount| !resource_disk.is_some_and(|disk| is_on_disk(&mount.source, disk)))
        .map(|mount| mount.mount_point.clone())
        .collect();
    eligible.reverse();
    if let Some(root) = eligible.iter().position(|mount| mount == Path::new("/")) {
        let root = eligible.remove(root);
        eligible.push(root);
    }
    eligible
}

/// Whether `source` is `disk` or one of its partitions (`/dev/sdb`, `/dev/sdb1`,
/// `/dev/nvme1n1p2`).
fn is_on_disk(source: &str, disk: &str) -> bool {
    let Some(rest) = source
        .strip_prefix("/dev/")
        .and_then(|name| name.strip_prefix(disk))
    else {
        return false;
    };
    let partition = rest.strip_prefix('p').unwrap_or(rest);
    partition.bytes().all(|byte| byte.is_ascii_digit())
        && (rest.is_empty() || !partition.is_empty())
}

/// lsblk's TYPE `loop`, which the real extension skips: the loop driver's sysfs directory
/// exists for the device, or the source names a loop device.
fn is_on_loop_device(mount: &MountInfoEntry) -> bool {
    mount.source.starts_with("/dev/loop")
        || Path::new("/sys/dev/block")
            .join(&mount.device)
            .join("loop")
            .exists()
}

/// The block device (e.g. `sdb`) of the Azure resource disk: the VMBus device whose id
/// starts `00000000-0001` (`ResourceDiskUtil.device_for_ide_port(1)`). None when there is
/// no such device, as outside Azure.
pub fn resource_disk_device(vmbus_devices: &Path) -> Option<String> {
    fs::read_dir(vmbus_devices)
        .ok()?
        .flatten()
        .find(|device| {
            fs::read_to_string(device.path().join("device_id")).is_ok_and(|id| {
                let mut groups = id.trim().trim_start_matches('{').split('-');
                groups.next() == Some("00000000") && groups.next() == Some("0001")
            })
        })
        .and_then(|device| block_device_under(&device.path(), SYSFS_SEARCH_DEPTH))
}

/// How deep below a VMBus device its block device is looked for (it sits at
/// `host*/target*/*:*:*:*/block/<name>`).
const SYSFS_SEARCH_DEPTH: usize = 6;

/// The first entry of a `block` directory below `directory`, not following symlinks (sysfs
/// links back up the tree).
fn block_device_under(directory: &Path, depth: usize) -> Option<String> {
    let mut subdirectories: Vec<_> = fs::read_dir(directory)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    subdirectories.sort();
    if let Some(block) = subdirectories.iter().find(|path| path.ends_with("block")) {
        let mut devices: Vec<_> = fs::read_dir(block)
            .ok()?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        devices.sort();
        return devices.into_iter().next();
    }
    if depth == 0 {
        return None;
    }
    subdirectories
        .iter()
        .find_map(|subdirectory| block_device_under(subdirectory, depth - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM with an OS disk, a resource disk on sdb, a data disk with a nested btrfs, a
    /// loop-mounted image, a skipped mount, a tmpfs, a later duplicate of /data, an escaped
    /// space, vfat /boot and a mount point whose first entry is tmpfs.
    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,discard
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
24 22 8:17 / /mnt/resource rw,relatime shared:2 - ext4 /dev/sdb1 rw
25 22 8:33 / /data rw,relatime shared:3 - xfs /dev/sdc1 rw,attr2
26 25 0:45 / /data/logs rw,relatime shared:4 - btrfs /dev/sdc2 rw,space_cache
27 22 7:0 / /images/disk rw,relatime - ext4 /dev/loop0 rw
28 22 8:49 / /skipped rw,relatime shared:5 - ext4 /dev/sdd1 rw
29 22 0:30 / /tmp rw shared:6 - tmpfs tmpfs rw
30 22 8:34 / /data rw,relatime - ext4 /dev/sdc3 rw
31 22 8:65 / /with\\040space rw,relatime shared:7 - ext3 /dev/sde1 rw
32 22 8:81 / /boot/efi rw,relatime shared:8 - vfat /dev/sdf1 rw
33 22 0:46 / /srv rw - tmpfs tmpfs rw
34 33 8:97 / /srv rw - ext4 /dev/sdg1 rw
not a mountinfo line
";

    fn is_loop_major(mount: &MountInfoEntry) -> bool {
        mount.device.starts_with("7:")
    }

    #[test]
    fn parsing_reads_device_mount_point_fstype_and_source_past_the_optional_fields() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 13, "the malformed line is skipped");
        assert_eq!(
            mounts[4],
            MountInfoEntry {
                device: "0:45".to_owned(),
                mount_point: PathBuf::from("/data/logs"),
                fstype: "btrfs".to_owned(),
                source: "/dev/sdc2".to_owned(),
            }
        );
        assert_eq!(mounts[9].mount_point, PathBuf::from("/with space"));
    }

    #[test]
    fn octal_escapes_are_undone_and_a_lone_backslash_is_kept() {
        assert_eq!(
            unescape_mountinfo(r"/a\040b\011c\134d"),
            OsString::from("/a b\tc\\d")
        );
        assert_eq!(unescape_mountinfo(r"/a\9z\04"), OsString::from(r"/a\9z\04"));
    }

    #[test]
    fn eligible_mounts_follow_the_real_extension_rule() {
        let eligible = eligible_mounts(
            &parse_mountinfo(MOUNTINFO),
            &[PathBuf::from("/skipped/")],
            Some("sdb"),
            is_loop_major,
        );
        // Reverse mount order; the first /data entry (xfs) wins over the later ext4 one; /srv's
        // first entry is tmpfs, so the ext4 mounted over it is skipped too; / comes last.
        assert_eq!(
            eligible,
            ["/with space", "/data/logs", "/data", "/"].map(PathBuf::from)
        );
    }

    #[test]
    fn root_comes_last_even_when_it_is_not_the_first_mount() {
        let mountinfo = "\
40 1 8:33 / /data rw - ext4 /dev/sdc1 rw
41 1 8:1 / / rw - ext4 /dev/sda1 rw
42 41 8:49 / /var rw - xfs /dev/sdd1 rw
";
        let eligible = eligible_mounts(&parse_mountinfo(mountinfo), &[], None, is_loop_major);
        assert_eq!(eligible, ["/var", "/data", "/"].map(PathBuf::from));
    }

    #[test]
    fn without_a_resource_disk_nothing_is_skipped_for_it() {
        let eligible = eligible_mounts(&parse_mountinfo(MOUNTINFO), &[], None, |_| false);
        assert!(eligible.contains(&PathBuf::from("/mnt/resource")));
        assert!(
            eligible.contains(&PathBuf::from("/images/disk")),
            "the predicate decides what is a loop device"
        );
        assert!(eligible.contains(&PathBuf::from("/skipped")));
    }

    #[test]
    fn a_disk_covers_its_partitions_and_nothing_else() {
        assert!(is_on_disk("/dev/sdb", "sdb"));
        assert!(is_on_disk("/dev/sdb1", "sdb"));
        assert!(is_on_disk("/dev/nvme1n1p2", "nvme1n1"));
        assert!(!is_on_disk("/dev/sdbc1", "sdb"));
        assert!(!is_on_disk("/dev/sda1", "sdb"));
        assert!(!is_on_disk("/dev/nvme1n1p", "nvme1n1"));
        assert!(!is_on_disk("sdb1", "sdb"));
    }

    fn vmbus_device(devices: &Path, name: &str, device_id: &str, block_path: &str) {
        let device = devices.join(name);
        fs::create_dir_all(device.join(block_path)).expect("create the fake sysfs tree");
        fs::write(device.join("device_id"), device_id).expect("write the device id");
    }

    #[test]
    fn the_resource_disk_is_the_vmbus_device_00000000_0001() {
        let sysfs = tempfile::tempdir().expect("tempdir");
        let devices = sysfs.path();
        vmbus_device(
            devices,
            "os",
            "{00000000-0000-8899-0000-000000000000}\n",
            "host0/target0:0:0/0:0:0:0/block/sda",
        );
        vmbus_device(
            devices,
            "resource",
            "{00000000-0001-8899-0000-000000000000}\n",
            "host1/target1:0:1/1:0:1:0/block/sdb",
        );
        // sysfs links back up the tree; following the link would loop.
        std::os::unix::fs::symlink(devices, devices.join("resource/subsystem")).expect("symlink");
        assert_eq!(resource_disk_device(devices), Some("sdb".to_owned()));
    }

    #[test]
    fn without_a_resource_disk_device_there_is_none() {
        let sysfs = tempfile::tempdir().expect("tempdir");
        vmbus_device(
            sysfs.path(),
            "os",
            "{00000000-0000-8899-0000-000000000000}",
            "host0/target0:0:0/0:0:0:0/block/sda",
        );
        assert_eq!(resource_disk_device(sysfs.path()), None);
        assert_eq!(resource_disk_device(&sysfs.path().join("missing")), None);
    }
}
