//! The sandbox's network and mount namespaces, made once by a thread of their own: it
//! unshares both, configures loopback, binds the forwarders' listeners inside, lays the
//! overlays and bind mounts, and hands back the listeners and a descriptor of each
//! namespace. The descriptors keep the namespaces alive after the thread ends; commands
//! `setns` into them.

use std::ffi::CString;
use std::fs::{self, File};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::mount::{mount, mount_bind, mount_change, MountFlags, MountPropagationFlags};
use rustix::thread::{unshare_unsafe, UnshareFlags};

use super::{netlink, SandboxError};

/// The system trust store the sandbox's copy of `/etc` extends with the service's CA.
pub(super) const TRUST_STORE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What the namespaces hold: what is set up before any command enters.
pub(super) struct Layout {
    /// Addresses beyond 127.0.0.1 and ::1 that loopback must answer on.
    pub local_addresses: Vec<IpAddr>,
    /// Where each forwarder listens inside, and where it forwards to on the host.
    pub forwards: Vec<(SocketAddr, SocketAddr)>,
    /// Host directories overlaid with a writable upper layer.
    pub overlays: Vec<Overlay>,
    /// Host directories bound onto paths inside (the handler and log roots).
    pub binds: Vec<(PathBuf, &'static str)>,
    /// The service's CA certificate (PEM), appended to the trust store inside.
    pub service_ca: Vec<u8>,
}

pub(super) struct Overlay {
    pub target: &'static str,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// The made namespaces and the listeners bound in the network one.
pub(super) struct Made {
    pub net: OwnedFd,
    pub mnt: OwnedFd,
    pub listeners: Vec<(TcpListener, SocketAddr)>,
}

/// Makes the namespaces on a thread of their own (unsharing changes only that thread), so
/// the agent's other threads stay on the host.
pub(super) fn make(layout: Layout) -> Result<Made, SandboxError> {
    std::thread::Builder::new()
        .name("sandbox-setup".into())
        .spawn(move || make_in_this_thread(&layout))
        .map_err(|source| SandboxError::setup("start the thread that makes namespaces", source))?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn make_in_this_thread(layout: &Layout) -> Result<Made, SandboxError> {
    // SAFETY: neither flag unshares the file descriptor table (`CLONE_FILES`), the one
    // `unshare_unsafe` warns about; this thread ends once the namespaces are made.
    #[allow(unsafe_code)]
    unsafe { unshare_unsafe(UnshareFlags::NEWNET | UnshareFlags::NEWNS) }
        .map_err(|e| SandboxError::setup("create network and mount namespaces", e.into()))?;
    netlink::configure_loopback(&layout.local_addresses)
        .map_err(|e| SandboxError::setup("bring loopback up with the wire server's address", e))?;
    let listeners = layout
        .forwards
        .iter()
        .map(|&(inside, target)| {
            TcpListener::bind(inside)
                .map(|listener| (listener, target))
                .map_err(|e| SandboxError::setup(format!("listen on {inside} inside"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Opened before the overlays are laid: a bind source under /etc or /var (the handler
    // root at /var/lib/waagent, say) must be the host's directory, not the overlay's view.
    let bind_sources = layout
        .binds
        .iter()
        .map(|(source, _)| {
            File::open(source)
                .map_err(|e| SandboxError::setup(format!("open {}", source.display()), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Downstream, not private: a filesystem the host mounts later (a disk image to freeze)
    // still shows inside, and nothing mounted inside shows on the host.
    mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| SandboxError::setup("make the sandbox's mounts its own", e.into()))?;
    for overlay in &layout.overlays {
        mount_overlay(overlay)?;
    }
    extend_trust_store(&layout.service_ca)?;
    for ((_, target), source) in layout.binds.iter().zip(&bind_sources) {
        fs::create_dir_all(target)
            .map_err(|e| SandboxError::setup(format!("create {target} inside"), e))?;
        let source = format!("/proc/thread-self/fd/{}", source.as_raw_fd());
        mount_bind(source.as_str(), *target)
            .map_err(|e| SandboxError::setup(format!("bind-mount onto {target}"), e.into()))?;
    }
    let namespace = |kind: &str| -> Result<OwnedFd, SandboxError> {
        File::open(format!("/proc/thread-self/ns/{kind}"))
            .map(OwnedFd::from)
            .map_err(|e| SandboxError::setup(format!("open the {kind} namespace"), e))
    };
    Ok(Made {
        net: namespace("net")?,
        mnt: namespace("mnt")?,
        listeners,
    })
}

fn mount_overlay(overlay: &Overlay) -> Result<(), SandboxError> {
    let cannot = |e: std::io::Error| {
        SandboxError::setup(format!("overlay {} (overlayfs)", overlay.target), e)
    };
    fs::create_dir_all(&overlay.upper).map_err(cannot)?;
    fs::create_dir_all(&overlay.work).map_err(cannot)?;
    let options = overlay_options(overlay.target, &overlay.upper, &overlay.work)
        .map_err(|e| cannot(e.into()))?;
    mount(
        "overlay",
        overlay.target,
        "overlay",
        MountFlags::empty(),
        Some(options.as_c_str()),
    )
    .map_err(|e| cannot(e.into()))
}

fn overlay_options(lower: &str, upper: &Path, work: &Path) -> Result<CString, std::ffi::NulError> {
    CString::new(format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    ))
}

/// The host's trust store plus the service's CA, written as a new file in the overlay
/// (a symlinked store, as some distributions have, is replaced rather than followed).
fn extend_trust_store(service_ca: &[u8]) -> Result<(), SandboxError> {
    let cannot = |e| SandboxError::setup(format!("add the service's CA to {TRUST_STORE}"), e);
    let mut bundle = fs::read(TRUST_STORE).unwrap_or_default();
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(service_ca);
    match fs::remove_file(TRUST_STORE) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cannot(e)),
        _ => {}
    }
    if let Some(parent) = Path::new(TRUST_STORE).parent() {
        fs::create_dir_all(parent).map_err(cannot)?;
    }
    fs::write(TRUST_STORE, bundle).map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_name_the_lower_upper_and_work_directories() {
        let options = overlay_options(
            "/etc",
            Path::new("/tmp/s/etc/upper"),
            Path::new("/tmp/s/etc/work"),
        );
        assert_eq!(
            options.unwrap().to_str().unwrap(),
            "lowerdir=/etc,upperdir=/tmp/s/etc/upper,workdir=/tmp/s/etc/work"
        );
    }
}
