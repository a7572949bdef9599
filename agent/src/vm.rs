//! The guest agent of one VM: registers it, long-polls its goal state, lays out each new
//! sequence number of the snapshot extension (settings file, certificate and key) and
//! calls enable, hands every extension a package hosts to that package's handler, and
//! reports every status file the extensions write.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use vaultsim_protocol::guest::{GoalState, RegisterDisk, RegisterRequest, Registered};

use base64::Engine;

use crate::extension::{
    extension_version, is_snapshot_extension, Enabled, ExtensionConfig, GuestContext, HostClock,
    LocalDisks, RunReport, SnapshotExtension,
};
use crate::guest::{GuestApi, GuestApiError, GuestReport};
use crate::handler::HandlerLayout;
use crate::keys::{KeyError, VmKeys};
use crate::localdisk::{LocalDisk, LocalDiskError, PageBlobTarget};
use crate::management::{TokenError, TokenSource};
use crate::os::GuestOs;
use crate::package::{unavailable_status, ExtensionPackage, HostedHandler, PackageHosting};
use crate::vss::freeze::Freezer;
use crate::workload::StorageAccount;

/// How long one goal-state poll waits.
const POLL_WAIT: Duration = Duration::from_secs(25);
/// The pause after a failed call before the next try.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Who the VM is.
#[derive(Debug, Clone)]
pub struct VmIdentity {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub vm_size: Option<String>,
}

/// One disk as the VM declares it: the OS disk is LUN -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    pub lun: i64,
    pub name: String,
    pub size_bytes: u64,
}

/// Everything one VM's agent needs.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub guest_url: String,
    pub identity: VmIdentity,
    pub disks: Vec<DiskSpec>,
    /// Keys, the VM id and, unless given apart, the handler root.
    pub state_dir: PathBuf,
    /// The guest agent's layout, Linux's or Windows': it names the VM's OS.
    pub layout: HandlerLayout,
    pub token: TokenSource,
    pub extension: ExtensionConfig,
    /// Disks that are local image files, by LUN: each is mirrored to its page blob.
    pub disk_images: Vec<(i64, PathBuf)>,
    /// The account the VM's disks live in, for mirroring the disk images.
    pub storage: Option<StorageAccount>,
    /// Extension handler packages to host; one with the snapshot extension's publisher and
    /// type replaces the built-in extension.
    pub packages: Vec<ExtensionPackage>,
    pub hosting: PackageHosting,
    /// Shared by VMs that share a process (a fleet): a run of the built-in extension
    /// starts once it holds a slot. A VM of its own has none and never waits.
    pub run_slots: Option<Arc<Semaphore>>,
}

#[derive(Debug, thiserror::Error)]
pub enum VmAgentError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("the management token: {0}")]
    Token(#[from] TokenError),
    #[error("registration refused: {0}")]
    Registration(GuestApiError),
    #[error("the agent's files cannot be used: {0}")]
    Files(#[from] std::io::Error),
    #[error("a disk image: {0}")]
    DiskImage(#[from] LocalDiskError),
    #[error("disk images need the storage account (--blob-endpoint, --account-key)")]
    NoStorageAccount,
    #[error("the service reports no disk at LUN {0} for the disk image")]
    NoDiskForImage(i64),
    #[error("extension packages are hosted as the Linux guest agent hosts them; a Windows guest cannot run them")]
    PackagesNeedLinux,
}

/// Something that wants to hear how each run ended (tests, the fleet's accounting).
pub type RunReports = mpsc::UnboundedSender<RunReport>;

/// Whether a goal state was acted on in full, or in part (to be tried again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActedOn {
    Wholly,
    Partly,
}

/// A registered VM and its extensions.
pub struct VmAgent<F: Freezer + Clone + 'static> {
    config: VmConfig,
    guest: GuestApi,
    http: reqwest::Client,
    keys: VmKeys,
    freezer: F,
    clock: HostClock,
    registered: Registered,
    credential: Arc<RwLock<String>>,
    extensions: HashMap<String, Arc<SnapshotExtension<F>>>,
    /// One per package.
    hosted: Vec<(ExtensionPackage, HostedHandler)>,
    /// Goal-state extensions nothing hosts, by name and sequence number, once reported.
    unavailable: HashSet<(String, i64)>,
    /// The built-in extension's runs started, by name and sequence number: a goal state
    /// acted on again (after a failure) does not start one twice, even before the run has
    /// recorded its sequence number.
    launched: HashSet<(String, i64)>,
    local_disks: LocalDisks,
    statuses: mpsc::UnboundedSender<GuestReport>,
    reports: Option<RunReports>,
    runs: JoinSet<RunReport>,
}

impl<F: Freezer + Clone + 'static> VmAgent<F> {
    /// Makes (or loads) the VM's keys and registers it; retries while the guest API cannot
    /// be reached, and gives up when it refuses.
    pub async fn register(
        config: VmConfig,
        http: reqwest::Client,
        freezer: F,
        reports: Option<RunReports>,
    ) -> Result<VmAgent<F>, VmAgentError> {
        let keys = {
            let dir = config.state_dir.join("keys");
            tokio::task::spawn_blocking(move || VmKeys::load_or_create(&dir))
                .await
                .map_err(std::io::Error::other)??
        };
        if !config.packages.is_empty() && config.layout.os() != GuestOs::Linux {
            return Err(VmAgentError::PackagesNeedLinux);
        }
        keys.install_for_extensions(&config.layout.certificate_dir())?;
        let guest = GuestApi::new(&config.guest_url, http.clone());
        let registered = register(&config, &guest, &http, &keys).await?;
        tracing::info!(vm = %config.identity.name, vm_id = %registered.vm_id, "VM registered");
        std::fs::write(config.state_dir.join("vm-id"), &registered.vm_id)?;
        let local_disks = open_disk_images(&config, &registered)?;
        let credential = Arc::new(RwLock::new(registered.credential.clone()));
        let (statuses, pending) = mpsc::unbounded_channel();
        let hosted = config
            .packages
            .iter()
            .map(|package| {
                let handler = HostedHandler::start(
                    package.clone(),
                    config.layout.root().to_owned(),
                    config.hosting.clone(),
                    statuses.clone(),
                );
                (package.clone(), handler)
            })
            .collect();
        tokio::spawn(report_statuses(
            guest.clone(),
            Arc::clone(&credential),
            pending,
        ));
        Ok(VmAgent {
            config,
            guest,
            http,
            keys,
            freezer,
            clock: HostClock::default(),
            registered,
            credential,
            extensions: HashMap::new(),
            hosted,
            unavailable: HashSet::new(),
            launched: HashSet::new(),
            local_disks,
            statuses,
            reports,
            runs: JoinSet::new(),
        })
    }

    pub fn registered(&self) -> &Registered {
        &self.registered
    }

    pub fn host_clock(&self) -> &HostClock {
        &self.clock
    }

    /// Polls the goal state and acts on it until `shutdown` resolves. Runs in flight are
    /// left to finish.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut incarnation = None;
        loop {
            let credential = self.current_credential();
            let polled = tokio::select! {
                () = &mut shutdown => break,
                polled = self.guest.goal_state(&credential, incarnation, POLL_WAIT) => polled,
                Some(joined) = self.runs.join_next(), if !self.runs.is_empty() => {
                    if let Ok(report) = joined {
                        self.note_run(report);
                    }
                    continue;
                }
            };
            match polled {
                Ok(goal_state) => {
                    self.clock.observe(goal_state.host_time);
                    let polled_incarnation = goal_state.incarnation;
                    if self.act_on(goal_state).await == ActedOn::Wholly {
                        incarnation = Some(polled_incarnation);
                    } else {
                        // Polled again with the incarnation acted on last, the same goal
                        // state comes back at once: what failed (a file that could not be
                        // written, say) is tried again, rather than the task being lost
                        // until the next incarnation.
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
                Err(error) if error.is_unauthenticated() => {
                    tracing::warn!(vm = %self.config.identity.name, "credential refused; registering again");
                    match register(&self.config, &self.guest, &self.http, &self.keys).await {
                        Ok(registered) => {
                            *self.credential.write().unwrap_or_else(|p| p.into_inner()) =
                                registered.credential.clone();
                            self.registered = registered;
                        }
                        Err(error) => {
                            tracing::error!(%error, "registering again failed");
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "goal state");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        while let Some(joined) = self.runs.join_next().await {
            if let Ok(report) = joined {
                self.note_run(report);
            }
        }
    }

    fn current_credential(&self) -> String {
        self.credential
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn note_run(&self, report: RunReport) {
        let code = report.status.as_ref().map(|s| s.status.code.clone());
        tracing::info!(
            vm = %self.config.identity.name,
            sequence_number = report.sequence_number,
            code = code.as_deref().unwrap_or("none"),
            frozen_ms = report.frozen_for.map(|d| d.as_millis() as u64),
            "snapshot task ended"
        );
        if let Some(reports) = &self.reports {
            let _ = reports.send(report);
        }
    }

    /// Each extension a package hosts goes to its handler (and a package missing from the
    /// goal state is uninstalled); for the built-in snapshot extension, a new sequence
    /// number's settings file, then enable; any other extension is reported unavailable, and
    /// uninstalled at once when the goal state says so. Answers whether every extension was
    /// acted on.
    async fn act_on(&mut self, goal_state: GoalState) -> ActedOn {
        let mut acted_on = ActedOn::Wholly;
        for (package, handler) in &self.hosted {
            handler.want(
                goal_state
                    .extensions
                    .iter()
                    .find(|e| package.hosts(&e.publisher, &e.extension_type)),
            );
        }
        for wanted in goal_state.extensions {
            let hosted = self
                .hosted
                .iter()
                .any(|(package, _)| package.hosts(&wanted.publisher, &wanted.extension_type));
            if hosted {
                continue;
            }
            if !is_snapshot_extension(&wanted.publisher, &wanted.extension_type) {
                if wanted.state == "uninstall" {
                    // Never installed, so nothing to run: as WALinuxAgent, the handler is
                    // simply gone, and the guest API hears it.
                    let _ = self.statuses.send(GuestReport::Uninstalled {
                        extension_name: wanted.name.clone(),
                    });
                    continue;
                }
                if self
                    .unavailable
                    .insert((wanted.name.clone(), wanted.sequence_number))
                {
                    tracing::warn!(
                        extension = %wanted.name,
                        publisher = %wanted.publisher,
                        extension_type = %wanted.extension_type,
                        "no package hosts this extension; reporting it as not downloadable"
                    );
                    let _ = self.statuses.send(unavailable_status(&wanted).into());
                }
                continue;
            }
            if wanted.state == "uninstall" {
                self.uninstall_built_in(&wanted.name);
                continue;
            }
            if wanted.state != "enabled" {
                continue;
            }
            let extension =
                match self.extension(&wanted.name, &wanted.publisher, &wanted.extension_type) {
                    Ok(extension) => extension,
                    Err(error) => {
                        tracing::error!(%error, "the extension's directories cannot be made");
                        acted_on = ActedOn::Partly;
                        continue;
                    }
                };
            let sequence_number = wanted.sequence_number;
            let run_key = (wanted.name.clone(), sequence_number);
            if self.launched.contains(&run_key)
                || extension.dirs().last_sequence_number() == Some(sequence_number)
            {
                continue;
            }
            let settings = match serde_json::to_value(&wanted.settings) {
                Ok(settings) => settings,
                Err(error) => {
                    tracing::error!(%error, "settings");
                    continue;
                }
            };
            if let Err(error) = extension.dirs().write_settings(sequence_number, &settings) {
                tracing::error!(%error, "the settings file cannot be written");
                acted_on = ActedOn::Partly;
                continue;
            }
            self.launched.insert(run_key);
            // Enable sleeps its start delay: it runs apart so polling goes on.
            let extension = Arc::clone(&extension);
            let run_slots = self.config.run_slots.clone();
            self.runs.spawn(async move {
                let _slot = match run_slots {
                    Some(slots) => slots.acquire_owned().await.ok(),
                    None => None,
                };
                match extension.enable(sequence_number).await {
                    Ok(Enabled::Started(run)) => run.await.unwrap_or_else(|_| RunReport::none(sequence_number)),
                    Ok(other) => {
                        tracing::info!(sequence_number, outcome = ?other, "enable did not start a run");
                        RunReport::none(sequence_number)
                    }
                    Err(error) => {
                        tracing::error!(%error, "enable failed");
                        RunReport::none(sequence_number)
                    }
                }
            });
        }
        acted_on
    }

    /// The built-in extension's `uninstall`, as the real one's (it only exits 0), and the
    /// guest agent's part: the handler directory goes (a run in flight finishes on its
    /// own, as the real extension's detached daemon does), then the guest API hears it.
    fn uninstall_built_in(&mut self, name: &str) {
        // Installed again, it counts its sequence numbers from the start.
        self.launched.retain(|(launched, _)| launched != name);
        let removed = self.extensions.remove(name);
        let directory = match &removed {
            Some(extension) => Some(extension.dirs().extension_dir.clone()),
            None => self.existing_built_in_dir(),
        };
        let Some(directory) = directory else {
            return;
        };
        if let Err(error) = std::fs::remove_dir_all(&directory) {
            tracing::warn!(%error, directory = %directory.display(), "the extension's directory cannot be removed");
        }
        tracing::info!(extension = %name, "extension uninstalled");
        let _ = self.statuses.send(GuestReport::Uninstalled {
            extension_name: name.to_owned(),
        });
    }

    /// The built-in extension's directory a previous run of the agent left.
    fn existing_built_in_dir(&self) -> Option<std::path::PathBuf> {
        let extension_type = match self.config.layout.os() {
            GuestOs::Linux => vaultsim_protocol::extension::LINUX_TYPE,
            GuestOs::Windows => vaultsim_protocol::extension::WINDOWS_TYPE,
        };
        let directory = self.config.layout.extension_dir(
            &format!(
                "{}.{extension_type}",
                vaultsim_protocol::extension::PUBLISHER
            ),
            extension_version(extension_type),
        );
        directory.is_dir().then_some(directory)
    }

    fn extension(
        &mut self,
        name: &str,
        publisher: &str,
        extension_type: &str,
    ) -> std::io::Result<Arc<SnapshotExtension<F>>> {
        if let Some(extension) = self.extensions.get(name) {
            return Ok(Arc::clone(extension));
        }
        let dirs = self.config.layout.prepare(
            &format!("{publisher}.{extension_type}"),
            extension_version(extension_type),
        )?;
        let mut config = self.config.extension.clone();
        // The guest's OS decides its quiesce: scripts and fsfreeze, or VSS alone.
        config.quiesce.os = self.config.layout.os();
        let extension = Arc::new(SnapshotExtension::new(
            name,
            extension_type,
            dirs,
            config,
            GuestContext {
                keys: self.keys.clone(),
                http: self.http.clone(),
                clock: self.clock.clone(),
                freezer: self.freezer.clone(),
                local_disks: Arc::clone(&self.local_disks),
                statuses: self.statuses.clone(),
                wire_server: self.config.guest_url.clone(),
            },
        ));
        self.extensions
            .insert(name.to_owned(), Arc::clone(&extension));
        Ok(extension)
    }
}

/// Each disk image, bound to the page blob the service keeps for its LUN.
fn open_disk_images(
    config: &VmConfig,
    registered: &Registered,
) -> Result<LocalDisks, VmAgentError> {
    let mut disks = Vec::new();
    for (lun, image) in &config.disk_images {
        let storage = config
            .storage
            .as_ref()
            .ok_or(VmAgentError::NoStorageAccount)?;
        let blob = registered
            .disks
            .iter()
            .find(|disk| disk.lun == *lun)
            .ok_or(VmAgentError::NoDiskForImage(*lun))?;
        let path = format!("{}/{}", blob.container, blob.blob);
        let target = PageBlobTarget::new(
            &format!("{}/{path}", storage.endpoint),
            &storage.name,
            &base64::engine::general_purpose::STANDARD.encode(storage.key.expose_secret()),
        )?;
        let disk = LocalDisk::open(image, target, &config.state_dir)?;
        disks.push((path, tokio::sync::Mutex::new(disk)));
    }
    Ok(Arc::new(disks))
}

async fn register(
    config: &VmConfig,
    guest: &GuestApi,
    http: &reqwest::Client,
    keys: &VmKeys,
) -> Result<Registered, VmAgentError> {
    let vm_id = std::fs::read_to_string(config.state_dir.join("vm-id"))
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    let request = RegisterRequest {
        vm_id,
        subscription_id: config.identity.subscription_id.clone(),
        resource_group: config.identity.resource_group.clone(),
        name: config.identity.name.clone(),
        location: config.identity.location.clone(),
        os_type: config.layout.os().os_type().to_owned(),
        vm_size: config.identity.vm_size.clone(),
        disks: config
            .disks
            .iter()
            .map(|disk| RegisterDisk {
                lun: disk.lun,
                name: disk.name.clone(),
                size_bytes: disk.size_bytes,
            })
            .collect(),
        certificate: keys.certificate_pem.clone(),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    };
    loop {
        let token = config.token.token(http).await;
        let attempt = match token {
            Ok(token) => guest.register(&token, &request).await,
            Err(TokenError::Unreachable(reason)) => Err(GuestApiError::Unreachable(reason)),
            Err(error) => return Err(error.into()),
        };
        match attempt {
            Ok(registered) => return Ok(registered),
            Err(GuestApiError::Unreachable(reason)) => {
                tracing::warn!(%reason, "the service cannot be reached; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(error) => return Err(VmAgentError::Registration(error)),
        }
    }
}

/// Reports each status file to the guest API, as the guest agent does; a few tries each.
async fn report_statuses(
    guest: GuestApi,
    credential: Arc<RwLock<String>>,
    mut pending: mpsc::UnboundedReceiver<GuestReport>,
) {
    while let Some(report) = pending.recv().await {
        for attempt in 1..=3 {
            let current = credential
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            match guest.report(&current, &report).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, attempt, "status report");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}
