//! The sandbox a hosted extension runs in, so that it runs as if inside an Azure VM without
//! touching the host: a network namespace where Azure's wire server address and the blob
//! host of its SAS URLs reach the service, and a mount namespace where `/etc` and `/var`
//! are overlaid, the handler and log roots stand at `/var/lib/waagent` and `/var/log/azure`,
//! and the trust store holds the service's CA.
//!
//! One sandbox serves every command of one VM's agent: the namespaces are made once (see
//! `namespaces`), the forwarders run in the agent's runtime, and [`Sandbox::wrap`] makes a
//! [`Command`] enter both namespaces before it executes. Linux only, and it needs root.

#[cfg(target_os = "linux")]
mod enter;
#[cfg(target_os = "linux")]
mod forward;
#[cfg(target_os = "linux")]
mod namespaces;
#[cfg(target_os = "linux")]
mod netlink;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Azure's wire server, as every extension and guest agent calls it.
pub const WIRE_SERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);
/// The wire server's ports: 80 for `/metadata/…` (the host snapshot path), 32526 for the
/// goal state protocol.
pub const WIRE_SERVER_PORTS: [u16; 2] = [80, 32526];
/// The port real extensions dial on their SAS URLs' host, whatever the URL says.
pub const BLOB_TLS_PORT: u16 = 443;

/// Where the sandbox's ends meet the service, and what stands for the VM's directories.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The guest API on the host (e.g. 127.0.0.1:32526): what the wire server's ports reach.
    pub guest_api: SocketAddr,
    /// The blob endpoint's HTTPS listener on the host (e.g. 127.0.0.1:10443): what port 443
    /// of the blob host reaches.
    pub blob_tls: SocketAddr,
    /// The host SAS URLs name (e.g. 127.0.0.1). The service's certificate must cover it.
    pub blob_host: IpAddr,
    /// The service's CA certificate (PEM; `<data dir>/tls/ca.pem`).
    pub service_ca: PathBuf,
    /// What stands for `/var/lib/waagent`.
    pub handler_root: PathBuf,
    /// What stands for `/var/log/azure`.
    pub log_root: PathBuf,
    /// What stands for `/etc/azure`, where the backup extension reads its script and
    /// freeze configuration (the built-in extension's `--azure-config-dir`), so the VM's
    /// owner (or the harness) can give it one without writing the host's `/etc`.
    pub azure_config_dir: PathBuf,
    /// Keep `CAP_SYS_ADMIN`, which fsfreeze needs, in the sandbox's commands.
    pub allow_freeze: bool,
}

/// Why a sandbox cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the netns sandbox needs Linux network and mount namespaces, which this OS does not \
         have; run extensions with --sandbox none"
    )]
    Unsupported,
    #[error(
        "the netns sandbox cannot create network and mount namespaces: they need \
         CAP_SYS_ADMIN (run vaultsim-agent as root), which this process does not have; run \
         extensions with --sandbox none, or as root"
    )]
    NotPrivileged,
    #[error("the sandbox cannot {what}")]
    Setup {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    fn setup(what: impl Into<String>, source: io::Error) -> SandboxError {
        SandboxError::Setup {
            what: what.into(),
            source,
        }
    }
}

/// Environment variables that point TLS clients at the sandbox's trust store (OpenSSL and
/// Python's `requests`, which brings its own bundle otherwise).
#[cfg(target_os = "linux")]
const TRUST_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"];

/// A VM's sandbox. Dropping it stops the forwarders and removes its directory; the
/// namespaces go when the last command in them ends.
///
/// Fields drop in order: the namespaces are released before the directory holding their
/// overlays' layers is removed.
pub struct Sandbox {
    #[cfg(target_os = "linux")]
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    #[cfg(target_os = "linux")]
    namespaces: std::sync::Arc<enter::Namespaces>,
    /// Each overlaid directory and where its layers are.
    overlays: Vec<(&'static str, PathBuf)>,
    allow_freeze: bool,
    dir: SandboxDir,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("dir", &self.dir.0)
            .field("allow_freeze", &self.allow_freeze)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Makes the namespaces and starts the forwarders (in the current Tokio runtime).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    #[cfg(target_os = "linux")]
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        if !has_sys_admin() {
            return Err(SandboxError::NotPrivileged);
        }
        let service_ca = std::fs::read(&config.service_ca).map_err(|e| {
            SandboxError::setup(
                format!("read the service's CA {}", config.service_ca.display()),
                e,
            )
        })?;
        for root in [
            &config.handler_root,
            &config.log_root,
            &config.azure_config_dir,
        ] {
            std::fs::create_dir_all(root)
                .map_err(|e| SandboxError::setup(format!("create {}", root.display()), e))?;
        }
        let dir = sandbox_dir()?;
        let overlays: Vec<(&'static str, PathBuf)> = ["/etc", "/var"]
            .into_iter()
            .map(|target| (target, dir.0.join(&target[1..])))
            .collect();
        let layout = namespaces::Layout {
            local_addresses: std::iter::once(IpAddr::V4(WIRE_SERVER))
                .chain(needs_adding(config.blob_host).then_some(config.blob_host))
                .collect(),
            forwards: WIRE_SERVER_PORTS
                .iter()
                .map(|&port| ((WIRE_SERVER, port).into(), config.guest_api))
                .chain([((config.blob_host, BLOB_TLS_PORT).into(), config.blob_tls)])
                .collect(),
            overlays: overlays
                .iter()
                .map(|(target, layers)| namespaces::Overlay {
                    target,
                    upper: layers.join("upper"),
                    work: layers.join("work"),
                })
                .collect(),
            binds: vec![
                (config.handler_root.clone(), "/var/lib/waagent"),
                (config.log_root.clone(), "/var/log/azure"),
                (config.azure_config_dir.clone(), "/etc/azure"),
            ],
            service_ca,
        };
        let made = namespaces::make(layout)?;
        let forwarders = made
            .listeners
            .into_iter()
            .map(|(listener, target)| forward::spawn(listener, target))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| SandboxError::setup("serve the forwarders", e))?;
        Ok(Sandbox {
            overlays,
            namespaces: std::sync::Arc::new(enter::Namespaces {
                net: made.net,
                mnt: made.mnt,
            }),
            forwarders,
            allow_freeze: config.allow_freeze,
            dir,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new(_config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        Err(SandboxError::Unsupported)
    }

    /// Makes `cmd` run inside: in both namespaces, in the same working directory (call this
    /// after `current_dir`), without `CAP_SYS_ADMIN` unless freezing is allowed, with
    /// `SSL_CERT_FILE` and `REQUESTS_CA_BUNDLE` naming the trust store.
    #[cfg(target_os = "linux")]
    pub fn wrap(&self, cmd: &mut Command) -> io::Result<()> {
        use std::os::unix::ffi::OsStringExt;
        use std::os::unix::process::CommandExt;

        let here = std::env::current_dir()?;
        let cwd = match cmd.get_current_dir() {
            Some(dir) => here.join(dir),
            None => here,
        };
        let entry = enter::Entry {
            namespaces: std::sync::Arc::clone(&self.namespaces),
            cwd: std::ffi::CString::new(cwd.into_os_string().into_vec())?,
            keep_sys_admin: self.allow_freeze,
        };
        for variable in TRUST_STORE_VARIABLES {
            cmd.env(variable, namespaces::TRUST_STORE);
        }
        // SAFETY: `enter` makes only system calls (setns, chdir, prctl, capget, capset) on
        // memory prepared before the fork: it allocates nothing and takes no lock, so it
        // is safe between fork and exec.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || entry.enter());
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn wrap(&self, _cmd: &mut Command) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            SandboxError::Unsupported.to_string(),
        ))
    }

    /// Where a file the sandbox's commands wrote under `/etc` or `/var` is on the host (in
    /// the overlay's upper layer), e.g. `/etc/azure/vmbackup.conf`; `None` for other paths.
    /// The handler and log roots are written in place.
    pub fn written_path(&self, inside: &Path) -> Option<PathBuf> {
        self.overlays.iter().find_map(|(target, layers)| {
            let rest = inside.strip_prefix(target).ok()?;
            Some(layers.join("upper").join(rest))
        })
    }

    /// The sandbox's own directory (the overlays' layers), removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        for forwarder in &self.forwarders {
            forwarder.abort();
        }
    }
}

/// `<temp>/vaultsim-sandbox-<uuid>`. It holds the upper layers of /etc and /var, so it
/// must be outside both (overlayfs refuses layers inside their lower directory) and its
/// path must not hold the separators of overlayfs' options.
#[cfg(target_os = "linux")]
fn sandbox_dir() -> Result<SandboxDir, SandboxError> {
    let temp = std::env::temp_dir();
    let temp = temp.canonicalize().unwrap_or(temp);
    let dir = temp.join(format!("vaultsim-sandbox-{}", uuid::Uuid::new_v4()));
    let unusable = |why: &str| {
        SandboxError::setup(
            format!("keep its layers in {}", dir.display()),
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{why}; set TMPDIR to a directory elsewhere"),
            ),
        )
    };
    if ["/etc", "/var"].iter().any(|lower| temp.starts_with(lower)) {
        return Err(unusable("it is under /etc or /var, which it overlays"));
    }
    if dir.to_string_lossy().contains([',', ':', '\\']) {
        return Err(unusable(
            "overlayfs options cannot name a path with ',', ':' or '\\'",
        ));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| SandboxError::setup(format!("create {}", dir.display()), e))?;
    Ok(SandboxDir(dir))
}

/// Whether the blob host must be added to loopback: loopback answers on 127.0.0.0/8 and
/// ::1 once up, and the wire server's address is added anyway.
#[cfg(target_os = "linux")]
fn needs_adding(blob_host: IpAddr) -> bool {
    !blob_host.is_loopback() && blob_host != IpAddr::V4(WIRE_SERVER)
}

/// Whether this process may create namespaces and mount.
#[cfg(target_os = "linux")]
fn has_sys_admin() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|sets| {
        sets.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

/// The sandbox's directory, removed when dropped (so a sandbox that fails half made leaves
/// nothing behind).
struct SandboxDir(PathBuf);

impl Drop for SandboxDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), %error, "cannot remove the sandbox's directory");
        }
    }
}

/// Hosted extension handlers run their commands inside the sandbox.
impl crate::package::CommandWrapper for Sandbox {
    fn wrap(&self, cmd: &mut Command) -> io::Result<()> {
        Sandbox::wrap(self, cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn only_a_blob_host_loopback_does_not_answer_on_is_added_to_it() {
        assert!(!needs_adding("127.0.0.1".parse().unwrap()));
        assert!(!needs_adding("::1".parse().unwrap()));
        assert!(!needs_adding(IpAddr::V4(WIRE_SERVER)));
        assert!(needs_adding("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn privileges_are_named_in_the_error() {
        let message = SandboxError::NotPrivileged.to_string();
        assert!(message.contains("CAP_SYS_ADMIN"), "{message}");
        assert!(message.contains("root"), "{message}");
        assert!(message.contains("--sandbox none"), "{message}");
    }
}
