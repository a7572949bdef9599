//! `vaultsim-safefreeze <timeout_secs> <mount>...`: the watchdog that holds the guest's
//! filesystems frozen, like the real extension's `safefreeze` (spec §3.4). It is its own
//! process so that a freeze never outlives its limit: whatever happens to the agent, this
//! process thaws every mount it froze on the way out.
//!
//! Talking to the parent goes over pipes instead of the real helper's SIGUSR1 to its
//! parent, so the parent needs no signal handler and the helper sees the parent die at once:
//! - **stdin is the lifeline.** The line `thaw` asks for the thaw (exit 0). End of file
//!   means the parent is gone, since the kernel closes its write end even after a SIGKILL:
//!   thaw at once (exit 2). A change of parent pid, checked every second, catches a parent
//!   whose write end leaked into another process.
//! - **stdout carries one report:** `frozen` once every mount is frozen, or
//!   `Failed to open: <mount>`. Nothing is written after `frozen`, so a parent that stops
//!   reading cannot disturb the freeze.
//! - **stderr** carries diagnostics.
//!
//! `PR_SET_PDEATHSIG` is deliberately not used: it fires when the *thread* that spawned the
//! helper exits, and a tokio runtime may retire that thread while the agent lives on.
//!
//! HUP, INT, QUIT, ABRT, PIPE, TERM, USR1, USR2, TSTP, TTIN and TTOU also mean "thaw", as in
//! the real helper. They are blocked before anything is frozen and read from a signalfd, so
//! none of them can end the process with a mount still frozen.
//!
//! Exit codes are the real helper's: 0 the thaw was requested; 1 the freeze failed, or the
//! timeout passed and the mounts were auto-thawed; 2 woke early without a thaw request.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::parent_id;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vaultsim_agent::vss::freeze::pipe;

/// `_IOWR('X', 119, int)` from `<linux/fs.h>`.
const FIFREEZE: u32 = 0xC004_5877;
/// `_IOWR('X', 120, int)` from `<linux/fs.h>`.
const FITHAW: u32 = 0xC004_5878;

const THAW_SIGNALS: [libc::c_int; 11] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGABRT,
    libc::SIGPIPE,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// How often the wait re-checks the parent pid; the lifeline pipe reports a dead parent
/// sooner, this only bounds the case where its write end leaked.
const PARENT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How the helper ended, as its exit code tells the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    ThawRequested,
    FreezeFailed,
    AutoThawed,
    WokeEarly,
}

impl Outcome {
    fn exit_code(self) -> u8 {
        match self {
            Outcome::ThawRequested => pipe::EXIT_THAW_REQUESTED,
            Outcome::FreezeFailed | Outcome::AutoThawed => pipe::EXIT_FAILED_OR_AUTO_THAWED,
            Outcome::WokeEarly => pipe::EXIT_WOKE_EARLY,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let outcome = match parse_args(&args) {
        Some((timeout, mounts)) => freeze_until_thaw(timeout, &mounts),
        None => {
            diagnose(format_args!(
                "usage: vaultsim-safefreeze <timeout_secs> <mount>..."
            ));
            Outcome::FreezeFailed
        }
    };
    ExitCode::from(outcome.exit_code())
}

fn parse_args(args: &[OsString]) -> Option<(Duration, Vec<PathBuf>)> {
    let (timeout, mounts) = args.split_first()?;
    // u32 seconds (136 years) keeps the deadline arithmetic from overflowing.
    let timeout_secs: u32 = timeout.to_str()?.parse().ok()?;
    if mounts.is_empty() {
        return None;
    }
    Some((
        Duration::from_secs(u64::from(timeout_secs)),
        mounts.iter().map(PathBuf::from).collect(),
    ))
}

fn freeze_until_thaw(timeout: Duration, mounts: &[PathBuf]) -> Outcome {
    // Signals first: from here on none of the thaw signals can kill the process, so it
    // always reaches the thaw below.
    let signals = match block_thaw_signals() {
        Ok(signals) => signals,
        Err(error) => {
            diagnose(format_args!("cannot block the thaw signals: {error}"));
            return Outcome::FreezeFailed;
        }
    };
    let lifeline = match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(error) => {
            diagnose(format_args!("cannot take stdin as the lifeline: {error}"));
            return Outcome::FreezeFailed;
        }
    };
    let parent = parent_id();

    // Every mount is opened before any is frozen, so a bad path freezes nothing.
    let mut directories = Vec::with_capacity(mounts.len());
    for mount in mounts {
        match open_mount(mount) {
            Ok(directory) => directories.push((mount.clone(), directory)),
            Err(error) => {
                report(format_args!("{}{}", pipe::FAILED_TO_OPEN, mount.display()));
                diagnose(format_args!("cannot open {}: {error}", mount.display()));
                return Outcome::FreezeFailed;
            }
        }
    }

    let mut frozen = FrozenMounts(Vec::with_capacity(directories.len()));
    for (mount, directory) in directories {
        if let Err(error) = fs_ioctl(&directory, FIFREEZE) {
            diagnose(format_args!("cannot freeze {}: {error}", mount.display()));
            // Dropping `frozen` thaws the mounts frozen so far.
            return Outcome::FreezeFailed;
        }
        frozen.0.push((mount, directory));
    }

    let outcome = if report(format_args!("{}", pipe::FROZEN)) {
        wait_for_thaw_request(timeout, lifeline, &signals, parent)
    } else {
        diagnose(format_args!(
            "cannot report the freeze to the parent; thawing"
        ));
        Outcome::WokeEarly
    };
    drop(frozen);
    outcome
}

/// The mounts frozen so far, in freeze order. Dropping thaws them in reverse order, so
/// every way out of [`freeze_until_thaw`], an unwinding panic included, thaws.
struct FrozenMounts(Vec<(PathBuf, File)>);

impl Drop for FrozenMounts {
    fn drop(&mut self) {
        for (mount, directory) in self.0.iter().rev() {
            if let Err(error) = fs_ioctl(directory, FITHAW) {
                diagnose(format_args!("cannot thaw {}: {error}", mount.display()));
            }
        }
    }
}

fn wait_for_thaw_request(
    timeout: Duration,
    mut lifeline: File,
    signals: &File,
    parent: u32,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut request = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            diagnose(format_args!(
                "no thaw request within {} s; auto-thawing",
                timeout.as_secs()
            ));
            return Outcome::AutoThawed;
        }
        if parent_id() != parent {
            diagnose(format_args!("the parent process is gone; thawing"));
            return Outcome::WokeEarly;
        }
        let ready = match poll_readable(
            [&lifeline, signals],
            (deadline - now).min(PARENT_CHECK_INTERVAL),
        ) {
            Ok(ready) => ready,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                diagnose(format_args!(
                    "cannot wait for the thaw request: {error}; thawing"
                ));
                return Outcome::WokeEarly;
            }
        };
        let [lifeline_ready, signal_ready] = ready;
        if signal_ready {
            match read_signal(signals) {
                Ok(signal) => diagnose(format_args!("signal {signal} asks for the thaw")),
                Err(error) => diagnose(format_args!(
                    "signal (unreadable: {error}) asks for the thaw"
                )),
            }
            return Outcome::ThawRequested;
        }
        if lifeline_ready {
            let mut chunk = [0u8; 64];
            match lifeline.read(&mut chunk) {
                Ok(0) => {
                    if asks_for_thaw(&request) {
                        return Outcome::ThawRequested;
                    }
                    diagnose(format_args!("the parent closed the lifeline; thawing"));
                    return Outcome::WokeEarly;
                }
                Ok(read) => {
                    request.extend_from_slice(&chunk[..read]);
                    if asks_for_thaw(&request) {
                        return Outcome::ThawRequested;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    diagnose(format_args!("cannot read the lifeline: {error}; thawing"));
                    return Outcome::WokeEarly;
                }
            }
        }
    }
}

fn asks_for_thaw(request: &[u8]) -> bool {
    request
        .split(|byte| *byte == b'\n')
        .any(|line| line == pipe::THAW.as_bytes())
}

fn open_mount(mount: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_DIRECTORY)
        .open(mount)
}

/// Writes one report line to the parent; false when the parent cannot hear it.
fn report(line: std::fmt::Arguments<'_>) -> bool {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// Diagnostics never fail the helper: with the parent gone stderr may be a broken pipe, and
/// `eprintln!` would panic there.
fn diagnose(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "vaultsim-safefreeze: {message}");
}

#[allow(unsafe_code)]
fn fs_ioctl(directory: &File, request: u32) -> io::Result<()> {
    // The request numbers are `_IOWR` values; the cast keeps their bits whichever integer
    // type the C library declares for requests.
    let request = request as libc::Ioctl;
    // SAFETY: `directory` is an open descriptor for the whole call. FIFREEZE and FITHAW
    // read no memory through the argument (the kernel ignores it), so passing 0, as
    // util-linux's fsfreeze does, hands the kernel no pointer.
    let result = unsafe { libc::ioctl(directory.as_raw_fd(), request, 0) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Blocks [`THAW_SIGNALS`] and returns a signalfd that reads them.
#[allow(unsafe_code)]
fn block_thaw_signals() -> io::Result<File> {
    // SAFETY: sigset_t is a plain bit set for which all zeroes is a valid value;
    // sigemptyset initialises it properly right below.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for signal in THAW_SIGNALS {
        // SAFETY: `set` is a valid, initialised sigset_t and `signal` a valid signal number.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    // SAFETY: `set` is initialised and the old mask is not wanted (null is allowed). The
    // helper never starts a thread, so this thread's mask is the whole process's.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(io::Error::from_raw_os_error(result));
    }
    // SAFETY: -1 asks for a new descriptor and `set` is initialised.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd just returned this descriptor and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn read_signal(mut signals: &File) -> io::Result<u32> {
    let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    signals.read_exact(&mut info)?;
    // `ssi_signo` is the struct's first field.
    Ok(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]))
}

/// Waits up to `timeout` for either descriptor to be readable (or hung up).
#[allow(unsafe_code)]
fn poll_readable(files: [&File; 2], timeout: Duration) -> io::Result<[bool; 2]> {
    let mut fds = files.map(|file| libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let timeout_ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a live array of exactly `fds.len()` pollfd structs that poll may
    // write, and the descriptors stay open for the call since `files` borrows them.
    let result = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds.map(|fd| fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_a_timeout_in_seconds_and_at_least_one_mount() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(&["60", "/data", "/"])),
            Some((
                Duration::from_secs(60),
                vec![PathBuf::from("/data"), PathBuf::from("/")]
            ))
        );
        assert_eq!(parse_args(&args(&["60"])), None);
        assert_eq!(parse_args(&args(&["soon", "/"])), None);
        assert_eq!(parse_args(&args(&["-1", "/"])), None);
        assert_eq!(parse_args(&args(&[])), None);
    }

    #[test]
    fn only_a_whole_thaw_line_asks_for_the_thaw() {
        assert!(asks_for_thaw(b"thaw\n"));
        assert!(asks_for_thaw(b"noise\nthaw"));
        assert!(!asks_for_thaw(b"tha"));
        assert!(!asks_for_thaw(b"thawed\n"));
        assert!(!asks_for_thaw(b""));
    }
}
