//! What the root-only tests share: the checks that they can run here (they fail loudly when
//! they cannot, unless `VAULTSIM_SKIP_ROOT_TESTS=1`), and an ext4 image loop-mounted in a
//! temporary directory that is thawed, unmounted and detached on drop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether the root-only tests can run here. When they cannot, this panics with the reason,
/// unless `VAULTSIM_SKIP_ROOT_TESTS=1`, in which case it says so and returns false.
pub fn can_run_root_tests() -> bool {
    let problem = if !is_root() {
        Some("they must run as root".to_owned())
    } else if !Path::new("/dev/loop-control").exists() {
        Some("there is no /dev/loop-control for loop devices".to_owned())
    } else {
        [
            "mkfs.ext4",
            "dumpe2fs",
            "e2fsck",
            "debugfs",
            "fsfreeze",
            "mount",
            "umount",
        ]
        .into_iter()
        .find(|tool| command_output("sh", &["-c", &format!("command -v {tool}")]).is_none())
        .map(|tool| format!("`{tool}` is not installed (e2fsprogs, util-linux)"))
    };
    unless_skipped(problem)
}

/// Whether the sandbox's tests can run here: as root, with curl and python3 for clients
/// inside. Fails or skips as [`can_run_root_tests`] does.
pub fn can_run_sandbox_tests() -> bool {
    let problem = if !is_root() {
        Some("they must run as root".to_owned())
    } else {
        ["curl", "python3"]
            .into_iter()
            .find(|tool| command_output("sh", &["-c", &format!("command -v {tool}")]).is_none())
            .map(|tool| format!("`{tool}` is not installed"))
    };
    unless_skipped(problem)
}

fn is_root() -> bool {
    command_output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// True without a problem; with one, a panic naming it, unless `VAULTSIM_SKIP_ROOT_TESTS=1`
/// asks to skip (then it says so and returns false).
fn unless_skipped(problem: Option<String>) -> bool {
    match problem {
        None => true,
        Some(problem) if std::env::var("VAULTSIM_SKIP_ROOT_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED (VAULTSIM_SKIP_ROOT_TESTS=1): root tests cannot run: {problem}");
            false
        }
        Some(problem) => panic!(
            "the root tests cannot run: {problem}. Run them as root on a machine that has \
             what they need, or set VAULTSIM_SKIP_ROOT_TESTS=1 to skip them"
        ),
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a command that must succeed.
pub fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An ext4 image file, loop-mounted.
pub struct LoopExt4 {
    pub dir: tempfile::TempDir,
    pub image: PathBuf,
    pub mount: PathBuf,
}

impl LoopExt4 {
    pub fn new(size_mib: u64) -> LoopExt4 {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        LoopExt4::in_dir(dir, size_mib, mount)
    }

    /// An image of its own mounted at `mount`, a directory that exists (e.g. inside
    /// another loop-mounted filesystem).
    pub fn mounted_at(size_mib: u64, mount: &Path) -> LoopExt4 {
        LoopExt4::in_dir(tempfile::tempdir().unwrap(), size_mib, mount.to_owned())
    }

    fn in_dir(dir: tempfile::TempDir, size_mib: u64, mount: PathBuf) -> LoopExt4 {
        let image = dir.path().join("disk.img");
        run(
            "truncate",
            &["-s", &format!("{size_mib}M"), image.to_str().unwrap()],
        );
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let disk = LoopExt4 { dir, image, mount };
        disk.mount();
        disk
    }

    /// Loop-mounts the image at its mount point.
    pub fn mount(&self) {
        run(
            "mount",
            &[
                "-o",
                "loop",
                self.image.to_str().unwrap(),
                self.mount.to_str().unwrap(),
            ],
        );
    }

    /// Unmounts the image and detaches its loop device.
    pub fn unmount(&self) {
        run("umount", &["-d", self.mount.to_str().unwrap()]);
    }

    pub fn size_bytes(&self) -> u64 {
        std::fs::metadata(&self.image).unwrap().len()
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let mount = self.mount.to_str().unwrap();
        // A frozen mount makes umount hang: thaw first (an error just means not frozen).
        let _ = Command::new("fsfreeze").args(["-u", mount]).output();
        let _ = Command::new("umount").args(["-d", mount]).output();
    }
}

/// Keeps writing small files into the mount until stopped; writes block while frozen.
pub fn busy_writer(mount: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let dir = mount.join("busy");
    std::fs::create_dir_all(&dir).unwrap();
    std::thread::spawn(move || {
        let mut written = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut file = std::fs::File::create(dir.join(format!("f{}", written % 200))).unwrap();
            file.write_all(&[written as u8; 8192]).unwrap();
            written += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        written
    })
}

/// The `Filesystem features` line of an ext4 image.
pub fn ext4_features(image: &Path) -> String {
    let output = run("dumpe2fs", &["-h", image.to_str().unwrap()]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|line| line.starts_with("Filesystem features:"))
        .unwrap_or_default()
        .to_owned()
}

/// `e2fsck -fn`: answers whether the filesystem is clean, and what it said.
pub fn e2fsck(image: &Path) -> (bool, String) {
    let output = Command::new("e2fsck")
        .args(["-fn", image.to_str().unwrap()])
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// A file's bytes inside an ext4 image, read with debugfs (no mount needed).
pub fn debugfs_cat(image: &Path, path: &str) -> Vec<u8> {
    let output = Command::new("debugfs")
        .args(["-R", &format!("cat {path}"), image.to_str().unwrap()])
        .output()
        .unwrap();
    output.stdout
}
