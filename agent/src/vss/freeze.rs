//! The filesystem freeze (`main/fsfreezer.py`, `main/safefreeze/src/safefreeze.c`).
//!
//! The first types are the interface the requester (`vss/mod.rs`) codes against. Below them
//! is [`FsFreezer`], the real freeze: it picks the mounts ([`MountSelection`]), takes the
//! freeze lock and runs the `vaultsim-safefreeze` helper, a separate process that holds the
//! freeze and thaws on its own when asked, when its timeout passes, or when the agent dies.
//!
//! The helper talks over pipes rather than the real helper's SIGUSR1 (see its own docs): it
//! writes `frozen` (or `Failed to open: <mount>`) on stdout, and its stdin is the lifeline:
//! the agent writes `thaw` to end the freeze, and the pipe closing, which the kernel does
//! when the agent dies in any way, thaws at once.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tracing::{debug, info, warn};
use vaultsim_protocol::extension::codes;

use crate::localdisk::own_mount_of;

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

/// How [`FsFreezer`] freezes: which mounts, with which helper, under which timers (spec §3.4,
/// §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeConfig {
    pub mounts: MountSelection,
    /// How long the helper holds the freeze before it thaws on its own (vmbackup.conf
    /// `timeout`), in whole seconds; a fraction rounds up.
    pub timeout: Duration,
    /// How long the freeze may take to be reported, counted from the freeze request after the
    /// lock, so it includes `helper_start_delay` (vmbackup.conf `SafeFreezeWaitInSeconds`).
    pub wait: Duration,
    /// The pause before the helper starts (the real extension's 3 s).
    pub helper_start_delay: Duration,
    /// The lock file that keeps two freezes apart.
    pub lock_file: PathBuf,
    /// The `vaultsim-safefreeze` binary.
    pub helper: PathBuf,
}

impl FreezeConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(66);
    pub const DEFAULT_HELPER_START_DELAY: Duration = Duration::from_secs(3);
    pub const DEFAULT_LOCK_FILE: &'static str =
        "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile";
    /// The helper's file name; it is installed next to the agent binary.
    pub const HELPER_NAME: &'static str = "vaultsim-safefreeze";

    /// The real extension's timers and lock file, for `mounts` frozen by `helper`.
    pub fn new(mounts: MountSelection, helper: PathBuf) -> Self {
        FreezeConfig {
            mounts,
            timeout: Self::DEFAULT_TIMEOUT,
            wait: Self::DEFAULT_WAIT,
            helper_start_delay: Self::DEFAULT_HELPER_START_DELAY,
            lock_file: PathBuf::from(Self::DEFAULT_LOCK_FILE),
            helper,
        }
    }
}

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

/// Lock tries as the real extension makes them: up to 5, 1 s apart, with 30 s more before the
/// last.
const LOCK_TRIES: u32 = 5;
const LOCK_RETRY_DELAY: Duration = Duration::from_secs(1);
const LOCK_LAST_TRY_EXTRA_DELAY: Duration = Duration::from_secs(30);

/// How long the helper gets to exit after being told to thaw (the real extension's 30 s).
const THAW_WAIT: Duration = Duration::from_secs(30);
/// How long the helper's stderr is awaited once it has exited.
const DIAGNOSTICS_WAIT: Duration = Duration::from_secs(1);

/// The freeze lock. Dropping it deletes the lock file and closes the descriptor, which
/// releases the lock.
#[derive(Debug)]
struct FreezeLock {
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
    async fn take(path: &Path) -> Option<FreezeLock> {
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

/// The real freeze, through the `vaultsim-safefreeze` helper.
#[derive(Debug, Clone)]
pub struct FsFreezer {
    pub config: FreezeConfig,
}

impl FsFreezer {
    pub fn new(config: FreezeConfig) -> Self {
        FsFreezer { config }
    }
}

/// A freeze in force. Dropping it without [`Freezer::thaw`] closes the helper's lifeline,
/// which thaws at once.
#[derive(Debug)]
pub struct FrozenMounts {
    mounts: Vec<PathBuf>,
    /// See [`FreezeTargets::left_out`].
    left_out: Vec<String>,
    frozen_at: std::time::Instant,
    /// None when there was nothing to freeze.
    helper: Option<FreezeHelper>,
}

impl FrozenMounts {
    /// The mounts frozen, in freeze order.
    pub fn mounts(&self) -> &[PathBuf] {
        &self.mounts
    }

    /// How long the mounts have been frozen: since the helper reported the freeze.
    pub fn frozen_for(&self) -> Duration {
        self.frozen_at.elapsed()
    }
}

/// The running helper and what the freeze holds with it.
#[derive(Debug)]
struct FreezeHelper {
    process: Child,
    lifeline: ChildStdin,
    /// The helper's stderr, read to its end.
    diagnostics: JoinHandle<String>,
    lock: Option<FreezeLock>,
}

/// What the helper said on stdout.
enum HelperReport {
    Frozen,
    FailedToOpen(String),
    /// Its stdout ended without a report.
    Ended,
}

impl Freezer for FsFreezer {
    type Frozen = FrozenMounts;

    async fn freeze(&self) -> Result<FrozenMounts, FreezeFailure> {
        let config = &self.config;
        let FreezeTargets { mounts, left_out } = config
            .mounts
            .targets()
            .map_err(|error| FreezeFailure::Failed(format!("cannot list the mounts: {error}")))?;
        if mounts.is_empty() {
            info!(?left_out, "no eligible mounts: nothing to freeze");
            return Ok(FrozenMounts {
                mounts,
                left_out,
                frozen_at: std::time::Instant::now(),
                helper: None,
            });
        }
        let lock = FreezeLock::take(&config.lock_file).await;

        let requested_at = Instant::now();
        let deadline = requested_at + config.wait;
        sleep_until((requested_at + config.helper_start_delay).min(deadline)).await;
        if Instant::now() >= deadline {
            warn!(
                wait_ms = config.wait.as_millis(),
                "the freeze wait ended before the helper started"
            );
            return Err(FreezeFailure::TimedOut);
        }

        let timeout_secs = config.timeout.as_secs() + u64::from(config.timeout.subsec_nanos() > 0);
        let mut process = Command::new(&config.helper)
            .arg(timeout_secs.to_string())
            .args(&mounts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                FreezeFailure::Failed(format!(
                    "cannot start the freeze helper {}: {error}",
                    config.helper.display()
                ))
            })?;
        let (Some(lifeline), Some(stdout), Some(stderr)) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            return Err(FreezeFailure::Failed(
                "the freeze helper has no pipes".to_owned(),
            ));
        };
        let diagnostics = tokio::spawn(async move {
            let mut text = String::new();
            // A read error only shortens the diagnostics.
            let _ = BufReader::new(stderr).read_to_string(&mut text).await;
            text
        });
        let helper = FreezeHelper {
            process,
            lifeline,
            diagnostics,
            lock,
        };

        match timeout_at(deadline, read_report(stdout)).await {
            Ok(Ok(HelperReport::Frozen)) => {
                info!(mounts = ?mounts, ?left_out, after_ms = requested_at.elapsed().as_millis(), "filesystems frozen");
                Ok(FrozenMounts {
                    mounts,
                    left_out,
                    frozen_at: std::time::Instant::now(),
                    helper: Some(helper),
                })
            }
            Ok(Ok(HelperReport::FailedToOpen(mount))) => {
                let (status, diagnostics) = helper.end().await;
                warn!(%mount, status = %describe(status), %diagnostics, "the freeze helper cannot open a mount");
                Err(FreezeFailure::UnableToOpenMount(mount))
            }
            Ok(Ok(HelperReport::Ended)) => {
                let (status, diagnostics) = helper.end().await;
                Err(FreezeFailure::Failed(format!(
                    "the freeze helper {} without freezing: {}",
                    describe(status),
                    diagnostics.trim()
                )))
            }
            Ok(Err(error)) => {
                let (status, diagnostics) = helper.end().await;
                Err(FreezeFailure::Failed(format!(
                    "cannot read the freeze helper's report: {error}; it {}: {}",
                    describe(status),
                    diagnostics.trim()
                )))
            }
            Err(_elapsed) => {
                // The real extension leaves the helper to auto-thaw; closing the lifeline
                // thaws now, so nothing stays frozen behind a failed freeze.
                let (status, diagnostics) = helper.end().await;
                warn!(wait_ms = config.wait.as_millis(), status = %describe(status), %diagnostics,
                    "the freeze helper did not report the freeze in time");
                Err(FreezeFailure::TimedOut)
            }
        }
    }

    async fn thaw(&self, frozen: FrozenMounts) -> Result<(), ThawFailure> {
        let frozen_for = frozen.frozen_for();
        let Some(mut helper) = frozen.helper else {
            return Ok(());
        };
        let thaw_requested_at = Instant::now();
        let result = match helper.process.try_wait() {
            Ok(Some(status)) => Err(ThawFailure(format!(
                "the freeze helper {} before the thaw: {}",
                describe(Some(status)),
                helper.diagnostics().await.trim()
            ))),
            Ok(None) | Err(_) => {
                // A failed write means the helper just died; its exit status says why.
                if let Err(error) = helper.lifeline.write_all(b"thaw\n").await {
                    debug!(%error, "cannot send the thaw request");
                }
                let (status, diagnostics) = helper.end().await;
                match status {
                    Some(status) if status.success() => {
                        debug!(%diagnostics, "freeze helper diagnostics");
                        Ok(())
                    }
                    status => Err(ThawFailure(format!(
                        "the freeze helper {}: {}",
                        describe(status),
                        diagnostics.trim()
                    ))),
                }
            }
        };
        info!(
            mounts = ?frozen.mounts,
            frozen_ms = frozen_for.as_millis(),
            thaw_ms = thaw_requested_at.elapsed().as_millis(),
            consistent = result.is_ok(),
            "filesystems thawed"
        );
        result
    }

    fn left_out<'a>(&self, frozen: &'a FrozenMounts) -> &'a [String] {
        &frozen.left_out
    }
}

impl FreezeHelper {
    /// Closes the lifeline, which tells the helper to thaw and exit, and waits for it up to
    /// [`THAW_WAIT`]; releases the lock. Returns its exit status (None if it did not exit) and
    /// its diagnostics.
    async fn end(self) -> (Option<ExitStatus>, String) {
        let FreezeHelper {
            mut process,
            lifeline,
            diagnostics,
            lock,
        } = self;
        drop(lifeline);
        let status = match timeout(THAW_WAIT, process.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(error)) => {
                warn!(%error, "cannot wait for the freeze helper");
                None
            }
            Err(_elapsed) => {
                warn!(
                    wait_s = THAW_WAIT.as_secs(),
                    "the freeze helper did not exit; its own timeout thaws"
                );
                None
            }
        };
        let diagnostics = match status {
            Some(_) => diagnostics_of(diagnostics).await,
            None => String::new(),
        };
        drop(lock);
        (status, diagnostics)
    }

    async fn diagnostics(self) -> String {
        diagnostics_of(self.diagnostics).await
    }
}

async fn diagnostics_of(diagnostics: JoinHandle<String>) -> String {
    match timeout(DIAGNOSTICS_WAIT, diagnostics).await {
        Ok(Ok(text)) => text,
        Ok(Err(_)) | Err(_) => String::new(),
    }
}

async fn read_report(stdout: ChildStdout) -> io::Result<HelperReport> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if line == "frozen" {
            return Ok(HelperReport::Frozen);
        }
        if let Some(mount) = line.strip_prefix("Failed to open: ") {
            return Ok(HelperReport::FailedToOpen(mount.to_owned()));
        }
        debug!(%line, "unexpected line from the freeze helper");
    }
    Ok(HelperReport::Ended)
}

/// How the helper ended, in the words of its exit codes.
fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "did not exit".to_owned();
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => "thawed on request".to_owned(),
        (Some(1), _) => "exited 1 (the freeze failed, or the timeout auto-thawed)".to_owned(),
        (Some(2), _) => "exited 2 (woke early without a thaw request)".to_owned(),
        (Some(code), _) => format!("exited {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    }
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

    #[test]
    fn the_default_config_uses_the_real_extension_timers_and_lock_file() {
        let config = FreezeConfig::new(
            MountSelection::Explicit(vec![]),
            PathBuf::from("/opt/helper"),
        );
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.wait, Duration::from_secs(66));
        assert_eq!(config.helper_start_delay, Duration::from_secs(3));
        assert_eq!(
            config.lock_file,
            PathBuf::from("/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile")
        );
    }

    #[tokio::test]
    async fn no_mounts_freeze_and_thaw_as_success_without_a_helper() {
        let lock_dir = tempfile::tempdir().expect("tempdir");
        let mut config = FreezeConfig::new(
            MountSelection::Explicit(vec![]),
            PathBuf::from("/nonexistent/vaultsim-safefreeze"),
        );
        config.lock_file = lock_dir.path().join("lock");
        let freezer = FsFreezer::new(config);
        let frozen = freezer.freeze().await.expect("nothing to freeze succeeds");
        assert!(frozen.mounts().is_empty());
        freezer
            .thaw(frozen)
            .await
            .expect("nothing to thaw succeeds");
    }

    #[tokio::test]
    async fn a_missing_helper_fails_the_freeze_with_121_and_releases_the_lock() {
        let lock_dir = tempfile::tempdir().expect("tempdir");
        let mut config = FreezeConfig::new(
            MountSelection::Explicit(vec![lock_dir.path().to_owned()]),
            PathBuf::from("/nonexistent/vaultsim-safefreeze"),
        );
        config.helper_start_delay = Duration::ZERO;
        config.lock_file = lock_dir.path().join("locks/lock");
        let failure = FsFreezer::new(config)
            .freeze()
            .await
            .expect_err("no helper, no freeze");
        assert_eq!(failure.code(), 121, "{failure}");
        assert!(!lock_dir.path().join("locks/lock").exists());
    }
}
