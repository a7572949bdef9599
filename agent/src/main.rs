//! `vaultsim-agent`: the inside of a VM for vaultsim. `run` is one VM's guest agent and
//! snapshot extension; `fleet` runs many simulated VMs in one process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use vaultsim_agent::extension::ExtensionConfig;
use vaultsim_agent::fleet::{run_fleet, FleetConfig, FleetTally, DEFAULT_RUNS_AT_ONCE};
use vaultsim_agent::handler::HandlerLayout;
use vaultsim_agent::harness::scenarios::{Hosting, Scenario};
use vaultsim_agent::harness::service::ServiceChoice;
use vaultsim_agent::harness::vm::AgentSpec;
use vaultsim_agent::harness::{HarnessConfig, Verdict};
use vaultsim_agent::management::{ensure_resource_group, read_credentials, TokenSource};
use vaultsim_agent::os::GuestOs;
use vaultsim_agent::package::{
    CommandRunner, CommandTimeouts, CommandWrapper, ExtensionPackage, PackageHosting,
};
use vaultsim_agent::sandbox::{Sandbox, SandboxConfig};
use vaultsim_agent::vm::{DiskSpec, VmAgent, VmConfig, VmIdentity};
use vaultsim_agent::vss::freeze::{FreezeConfig, FsFreezer, MountSelection};
use vaultsim_agent::vss::requester::QuiesceSettings;
use vaultsim_agent::vss::writers::WriterSpec;
use vaultsim_agent::workload::{run_workload, StorageAccount, WorkloadConfig};
use vaultsim_protocol::disk::OS_DISK_LUN;
use vaultsim_protocol::page_blob::PAGE_SIZE;

const GIB: u64 = 1 << 30;

/// The in-VM guest agent and VM snapshot extension of vaultsim.
///
/// It registers a VM with the vaultsim guest API, receives the VMSnapshot extension
/// settings, quiesces the guest, snapshots every disk through its SAS and reports status.
#[derive(Debug, Parser)]
#[command(name = "vaultsim-agent", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One VM: register, poll the goal state, run every snapshot task.
    Run(Box<RunArgs>),
    /// Many simulated VMs in one process: each registers, polls and runs its own tasks.
    Fleet(Box<FleetArgs>),
    /// Runs an extension through Azure Backup's scenarios (faults, stale and repeated
    /// commands, …) against a vaultsim service, and reports each as a summary and JUnit XML.
    Harness(Box<HarnessArgs>),
}

/// Where the service is and how to sign in to it.
#[derive(Debug, Args)]
struct ServiceArgs {
    /// The guest API (Azure's wire server).
    #[arg(
        long = "service",
        env = "VAULTSIM_AGENT_SERVICE",
        default_value = "http://127.0.0.1:32526"
    )]
    guest_url: String,
    /// The management API, for the registration token.
    #[arg(
        long,
        env = "VAULTSIM_AGENT_MANAGEMENT_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    management_url: String,
    /// The service's `credentials.json` (client credentials for the registration token).
    #[arg(
        long,
        env = "VAULTSIM_AGENT_CREDENTIALS",
        default_value = "vaultsim-data/credentials.json"
    )]
    credentials: PathBuf,
    /// A management bearer token to register with, instead of the credentials file.
    #[arg(long, env = "VAULTSIM_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// The VM: a resource id (`/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/virtualMachines/…`) or a name.
    #[arg(long)]
    vm: String,
    #[command(flatten)]
    placement: PlacementArgs,
    /// The guest's OS: the handler layout and the quiesce of its guest agent and extension
    /// (Windows: the Windows agent's layout under --windows-root, VSS writers alone).
    #[arg(long = "os", visible_alias = "os-type", value_enum, ignore_case = true, default_value_t = GuestOs::Linux)]
    os: GuestOs,
    /// The OS disk's size in GiB, for a VM the registration creates.
    #[arg(long, default_value_t = 1)]
    os_disk_gib: u64,
    /// A data disk of this many GiB (repeat for more), for a VM the registration creates.
    #[arg(long = "data-disk-gib")]
    data_disks_gib: Vec<u64>,
    /// A data disk that is this local image file (repeat for more; they take the first data
    /// LUNs), mirrored to its page blob; backups freeze the mount of its loop device as
    /// found at each backup, and report crash consistency when it is not mounted.
    #[arg(long = "disk-image")]
    disk_images: Vec<PathBuf>,
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    storage: StorageArgs,
    /// The agent's keys, VM id and handler files.
    #[arg(
        long,
        env = "VAULTSIM_AGENT_STATE_DIR",
        default_value = "vaultsim-agent-state"
    )]
    state_dir: PathBuf,
    /// What stands for /var/lib/waagent (Linux); default `<state-dir>/waagent`.
    #[arg(long)]
    handler_root: Option<PathBuf>,
    /// What stands for C:\ (Windows): Packages\Plugins, WindowsAzure\Logs and the certificate store go under it; default `<state-dir>/c`.
    #[arg(long)]
    windows_root: Option<PathBuf>,
    #[command(flatten)]
    extension: ExtensionArgs,
    #[command(flatten)]
    packages: PackageArgs,
    #[command(flatten)]
    freeze: FreezeArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Extension handler packages the VM hosts as the Linux guest agent does.
#[derive(Debug, Args)]
struct PackageArgs {
    /// An extension handler package to host (repeat for more): a directory or .zip holding HandlerManifest.json, named by its manifest.xml or by `,name=<Publisher>.<Type>,version=<Version>` after the path. One of type VMSnapshotLinux (publisher Microsoft.Azure.RecoveryServices) replaces the built-in extension.
    #[arg(long = "extension-package", value_name = "DIR|ZIP[,name=P.T][,version=V]", value_parser = parse_package)]
    packages: Vec<ExtensionPackage>,
    /// Limit every handler command to this many seconds, instead of the guest agent's (enable and uninstall 300, install, disable and update 900).
    #[arg(long)]
    handler_command_timeout_secs: Option<u64>,
}

impl PackageArgs {
    /// The packages, at most one per handler: two versions at once would undo each other.
    fn packages(&self) -> anyhow::Result<Vec<ExtensionPackage>> {
        let mut seen = std::collections::HashSet::new();
        for package in &self.packages {
            if !seen.insert(package.handler_name().to_ascii_lowercase()) {
                bail!(
                    "two --extension-package arguments name {}; give one version of a handler",
                    package.handler_name()
                );
            }
        }
        Ok(self.packages.clone())
    }

    fn hosting(&self) -> PackageHosting {
        let mut hosting = PackageHosting::default();
        if let Some(secs) = self.handler_command_timeout_secs {
            hosting.timeouts = CommandTimeouts::all(Duration::from_secs(secs));
        }
        hosting
    }
}

fn parse_package(argument: &str) -> Result<ExtensionPackage, String> {
    ExtensionPackage::from_argument(argument).map_err(|e| e.to_string())
}

/// Where VMs given by name live.
#[derive(Debug, Args)]
struct PlacementArgs {
    /// The resource group of VMs given by name.
    #[arg(long, default_value = "vaultsim")]
    resource_group: String,
    /// The subscription of VMs given by name; default the credentials file's.
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long, default_value = "eastus")]
    location: String,
    /// Create the VMs' resource group first if it does not exist.
    #[arg(long)]
    ensure_resource_group: bool,
}

impl PlacementArgs {
    /// `--subscription`, else the one the credentials file names.
    fn subscription(&self, from_credentials: Option<String>) -> anyhow::Result<String> {
        match self.subscription.clone().or(from_credentials) {
            Some(subscription) => Ok(subscription),
            None => bail!("VMs given by name need --subscription (or a credentials file)"),
        }
    }
}

/// How the snapshot extension behaves.
#[derive(Debug, Args)]
struct ExtensionArgs {
    /// Where VMSnapshotPluginHost.conf and VMSnapshotScriptPluginConfig.json are read (a real VM: /etc/azure); default `<state-dir>/etc-azure`.
    #[arg(long)]
    azure_config_dir: Option<PathBuf>,
    /// The extension's random start delay in milliseconds, `MIN-MAX` (the real one: 500-5000).
    #[arg(long, default_value = "500-5000", value_parser = parse_delay)]
    start_delay_ms: (Duration, Duration),
    /// Simulated VSS application writers: a JSON list of `{name, prepareMs, freezeMs, thawMs, failIn, badState}`.
    #[arg(long)]
    writers: Option<PathBuf>,
}

impl ExtensionArgs {
    /// What stands for `/etc/azure`.
    fn azure_config_dir(&self, state_dir: &std::path::Path) -> PathBuf {
        self.azure_config_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("etc-azure"))
    }
}

/// Which filesystems the extension freezes, and the safefreeze helper's timers.
#[derive(Debug, Args)]
struct FreezeArgs {
    /// A mount point to freeze (repeat for more). Without any, a VM freezes its disk images' mounts, if any.
    #[arg(long = "freeze-mount")]
    freeze_mounts: Vec<PathBuf>,
    /// Freeze what the real extension freezes: every ext3/ext4/xfs/btrfs mount of this machine not on a loop device, `/` last. Use only inside a real VM.
    #[arg(long, conflicts_with = "freeze_mounts")]
    freeze_eligible_mounts: bool,
    /// Mounts the eligible rule leaves out (vmbackup.conf `MountsToSkip`).
    #[arg(long = "mounts-to-skip")]
    mounts_to_skip: Vec<PathBuf>,
    /// The helper thaws by itself after this many seconds (vmbackup.conf `timeout`).
    #[arg(long, default_value_t = 60)]
    freeze_timeout_secs: u64,
    /// How long the extension waits for the helper to freeze (`SafeFreezeWaitInSeconds`).
    #[arg(long, default_value_t = 66)]
    safefreeze_wait_secs: u64,
    /// The pause before the helper starts (the real extension: 3 s).
    #[arg(long, default_value_t = 3000)]
    safefreeze_start_delay_ms: u64,
    /// The vaultsim-safefreeze binary; default the one next to this binary.
    #[arg(long)]
    safefreeze: Option<PathBuf>,
}

/// Where hosted extensions run.
#[derive(Debug, Args)]
struct SandboxArgs {
    /// `netns`: in a network and mount namespace of their own, as if inside an Azure VM:
    /// 168.63.129.16 and port 443 of the blob host reach the service, /etc and /var are
    /// overlaid, CAP_SYS_ADMIN is dropped (Linux, as root). `none`: on this host as it is.
    #[arg(long, value_enum, default_value_t = SandboxKind::None)]
    sandbox: SandboxKind,
    /// Keep CAP_SYS_ADMIN in the sandbox, which fsfreeze needs.
    #[arg(long)]
    allow_freeze: bool,
    /// The blob endpoint's HTTPS listener, which port 443 of the blob host reaches.
    #[arg(long, default_value = "127.0.0.1:10443")]
    sandbox_blob_tls: std::net::SocketAddr,
    /// The blob host that SAS URLs name (an IP address the service's certificate covers).
    #[arg(long, default_value = "127.0.0.1")]
    sandbox_blob_host: std::net::IpAddr,
    /// The service's CA certificate, added to the sandbox's trust store.
    #[arg(long, default_value = "vaultsim-data/tls/ca.pem")]
    service_ca: PathBuf,
    /// What stands for /var/log/azure in the sandbox; default `<state-dir>/log-azure`.
    #[arg(long)]
    log_root: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SandboxKind {
    None,
    Netns,
}

impl SandboxArgs {
    /// The VM's sandbox, when one is asked for: made now, so a host that cannot have one
    /// says so at start.
    fn start(
        &self,
        args: &RunArgs,
        handler_root: &std::path::Path,
    ) -> anyhow::Result<Option<Sandbox>> {
        if self.sandbox == SandboxKind::None {
            return Ok(None);
        }
        let guest_api = reqwest::Url::parse(&args.service.guest_url)
            .ok()
            .and_then(|url| url.socket_addrs(|| None).ok()?.into_iter().next())
            .with_context(|| {
                format!(
                    "--service {} is not a reachable URL",
                    args.service.guest_url
                )
            })?;
        let config = SandboxConfig {
            guest_api,
            blob_tls: self.sandbox_blob_tls,
            blob_host: self.sandbox_blob_host,
            service_ca: self.service_ca.clone(),
            handler_root: handler_root.to_owned(),
            azure_config_dir: args.extension.azure_config_dir(&args.state_dir),
            log_root: self
                .log_root
                .clone()
                .unwrap_or_else(|| args.state_dir.join("log-azure")),
            allow_freeze: self.allow_freeze,
        };
        Ok(Some(Sandbox::new(config)?))
    }
}

#[derive(Debug, Args)]
struct HarnessArgs {
    /// The extension handler package under test (a directory or a .zip), passed to every
    /// scenario VM's `run`; without one, the built-in VMSnapshot extension is tested.
    #[arg(long = "extension-package")]
    extension_packages: Vec<PathBuf>,
    /// How the package runs: `none`, or `netns` (as root: its own network namespace with the
    /// wire server and the blob host, /etc and /var overlaid).
    #[arg(long, default_value = "none")]
    sandbox: String,
    /// Leave the sandboxed extension CAP_SYS_ADMIN, which fsfreeze needs.
    #[arg(long)]
    allow_freeze: bool,
    /// A scenario to run (repeat for more); default all of them.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Write the results as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// The service's data, each scenario's VM state, handler files and logs.
    #[arg(long, default_value = "vaultsim-harness")]
    work_dir: PathBuf,
    /// The `vaultsim` binary to start; default the one next to this binary, else PATH's.
    #[arg(long)]
    vaultsim: Option<PathBuf>,
    /// Test against the running service that --service, --management-url, --credentials and
    /// the storage flags name, instead of starting one (its clock is moved and its faults
    /// set and cleared: use a service of its own).
    #[arg(long)]
    connect: bool,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    storage: StorageArgs,
    /// The connected service's CA certificate (`<data dir>/tls/ca.pem`).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The connected service's blob endpoint over HTTPS, which a sandbox's port 443 reaches.
    #[arg(long)]
    blob_https_addr: Option<std::net::SocketAddr>,
    /// How long a scenario's job may take, in seconds of real time.
    #[arg(long, default_value_t = 120)]
    job_timeout_secs: u64,
    /// Any other argument for each VM's `run` (repeat; e.g. `--agent-arg=--writers=w.json`).
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    agent_args: Vec<String>,
}

#[derive(Debug, Args)]
struct FleetArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// How many VMs.
    #[arg(long)]
    count: usize,
    /// VM `i` is named `<prefix>-<i>`.
    #[arg(long, default_value = "simvm")]
    name_prefix: String,
    #[command(flatten)]
    placement: PlacementArgs,
    #[arg(long, default_value_t = 1)]
    os_disk_gib: u64,
    /// Data disks per VM.
    #[arg(long, default_value_t = 1)]
    data_disks: usize,
    #[arg(long, default_value_t = 1)]
    data_disk_gib: u64,
    /// Extension runs going on at once across the fleet (the VMs share this process's
    /// descriptors); the others wait their turn.
    #[arg(long, default_value_t = DEFAULT_RUNS_AT_ONCE)]
    runs_at_once: std::num::NonZeroUsize,
    #[arg(
        long,
        env = "VAULTSIM_AGENT_STATE_DIR",
        default_value = "vaultsim-fleet-state"
    )]
    state_dir: PathBuf,
    #[command(flatten)]
    extension: ExtensionArgs,
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    storage: StorageArgs,
}

/// A simulated VM's writes to its (blob) disks.
#[derive(Debug, Args)]
struct WorkloadArgs {
    /// Each VM writes this many random bytes (a multiple of 512) at a random offset of each
    /// of its simulated disks every `--write-interval-ms`; 0 writes nothing.
    #[arg(long, default_value_t = 0)]
    write_bytes: u64,
    #[arg(long, default_value_t = 1000)]
    write_interval_ms: u64,
}

impl WorkloadArgs {
    fn workload(
        &self,
        storage: &StorageArgs,
    ) -> anyhow::Result<Option<(StorageAccount, WorkloadConfig)>> {
        if self.write_bytes == 0 {
            return Ok(None);
        }
        if !self.write_bytes.is_multiple_of(PAGE_SIZE) {
            bail!("--write-bytes must be a multiple of 512");
        }
        Ok(Some((
            storage.account()?,
            WorkloadConfig {
                interval: Duration::from_millis(self.write_interval_ms),
                write_bytes: self.write_bytes,
            },
        )))
    }
}

/// The storage account the VM's disks live in: a workload and a disk image write there.
#[derive(Debug, Args)]
struct StorageArgs {
    #[arg(long, default_value = "http://127.0.0.1:10000/devstoreaccount1")]
    blob_endpoint: String,
    #[arg(long, default_value = "devstoreaccount1")]
    account_name: String,
    #[arg(long, env = "VAULTSIM_ACCOUNT_KEY", hide_env_values = true, default_value = DEV_ACCOUNT_KEY)]
    account_key: SecretString,
}

impl StorageArgs {
    fn account(&self) -> anyhow::Result<StorageAccount> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(self.account_key.expose_secret())
            .context("--account-key is not base64")?;
        Ok(StorageAccount {
            endpoint: self.blob_endpoint.trim_end_matches('/').to_owned(),
            name: self.account_name.clone(),
            key: key.into(),
        })
    }
}

/// Azurite's well-known key, the service's default account key.
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn parse_delay(text: &str) -> Result<(Duration, Duration), String> {
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let ms = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("'{text}' is not MIN-MAX milliseconds"))
    };
    let (low, high) = (ms(low)?, ms(high)?);
    if low > high {
        return Err(format!("'{text}': MIN is above MAX"));
    }
    Ok((low, high))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_command().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line: what failed and why, its causes joined by ": ".
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_command() -> anyhow::Result<()> {
    // Colours only on a terminal: agent logs usually go to files that are grepped.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colours)
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(*args).await,
        Command::Fleet(args) => fleet(*args).await,
        Command::Harness(args) => harness(*args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let packages = args.packages.packages()?;
    let (token, default_subscription) = token_source(&args.service)?;
    let identity = vm_identity(&args, default_subscription)?;
    if args.placement.ensure_resource_group {
        ensure_group(
            &args.service,
            &token,
            &identity.subscription_id,
            &identity.resource_group,
            &identity.location,
        )
        .await?;
    }
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("the state directory {}", args.state_dir.display()))?;
    let mut disks = vec![DiskSpec {
        lun: OS_DISK_LUN,
        name: format!("{}-os", identity.name),
        size_bytes: args.os_disk_gib * GIB,
    }];
    let mut disk_images = Vec::new();
    let image_sizes = args
        .disk_images
        .iter()
        .map(|image| {
            std::fs::metadata(image)
                .map(|m| m.len().div_ceil(GIB).max(1) * GIB)
                .with_context(|| format!("the disk image {}", image.display()))
        })
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let sizes = image_sizes
        .iter()
        .copied()
        .chain(args.data_disks_gib.iter().map(|gib| gib * GIB));
    for (lun, size_bytes) in sizes.enumerate() {
        disks.push(DiskSpec {
            lun: lun as i64,
            name: format!("{}-data{lun}", identity.name),
            size_bytes,
        });
        if let Some(image) = args.disk_images.get(lun) {
            disk_images.push((lun as i64, image.clone()));
        }
    }
    let storage = (!disk_images.is_empty())
        .then(|| args.storage.account())
        .transpose()?;
    let layout = handler_layout(&args)?;
    // Held for as long as the agent runs: dropping it ends the forwarders.
    let sandbox = args.sandbox.start(&args, layout.root())?.map(Arc::new);
    let mut hosting = args.packages.hosting();
    if let Some(sandbox) = &sandbox {
        hosting.runner = CommandRunner::new(Some(Arc::clone(sandbox) as Arc<dyn CommandWrapper>));
    }
    let config = VmConfig {
        guest_url: args.service.guest_url.clone(),
        identity,
        disks,
        layout,
        token,
        extension: extension_config(
            &args.extension,
            &args.state_dir,
            machine_identity(&args.state_dir)?,
        )?,
        state_dir: args.state_dir.clone(),
        disk_images,
        storage,
        packages,
        hosting,
        run_slots: None,
    };
    let freezer = FsFreezer::new(freeze_config(
        &args.freeze,
        &args.disk_images,
        &config.extension.quiesce.config_dir,
    )?);
    let agent = VmAgent::register(config, reqwest::Client::new(), freezer, None).await?;
    tracing::info!(vm_id = %agent.registered().vm_id, "agent running; polling the goal state");
    // The workload writes to the simulated disks; a disk image is written by its own guest.
    let workload = args
        .workload
        .workload(&args.storage)?
        .map(|(account, workload)| {
            let simulated = agent
                .registered()
                .disks
                .iter()
                .filter(|disk| disk.lun < 0 || disk.lun as usize >= args.disk_images.len())
                .cloned()
                .collect();
            tokio::spawn(run_workload(
                reqwest::Client::new(),
                account,
                simulated,
                workload,
            ))
        });
    agent.run(shutdown_signal()).await;
    if let Some(workload) = workload {
        workload.abort();
    }
    Ok(())
}

async fn harness(args: HarnessArgs) -> anyhow::Result<()> {
    if args.list {
        for scenario in Scenario::ALL {
            println!("{:<22} {}", scenario.name(), scenario.summary());
        }
        return Ok(());
    }
    let this = std::env::current_exe().context("this binary's path")?;
    let service = if args.connect {
        ServiceChoice::Connect {
            management_url: args.service.management_url.clone(),
            guest_url: args.service.guest_url.clone(),
            credentials: args.service.credentials.clone(),
            ca_file: args.ca_file.clone(),
            storage: args.storage.account()?,
            blob_https: args.blob_https_addr,
        }
    } else {
        let sibling = this.with_file_name("vaultsim");
        ServiceChoice::Start {
            vaultsim: args.vaultsim.clone().unwrap_or_else(|| {
                if sibling.exists() {
                    sibling
                } else {
                    "vaultsim".into()
                }
            }),
        }
    };
    let sandboxed = match args.sandbox.as_str() {
        "none" => false,
        "netns" => true,
        other => bail!("--sandbox '{other}': use none or netns"),
    };
    let mut extra_args: Vec<std::ffi::OsString> = Vec::new();
    for package in &args.extension_packages {
        extra_args.push("--extension-package".into());
        extra_args.push(std::path::absolute(package)?.into());
    }
    if args.allow_freeze {
        extra_args.push("--allow-freeze".into());
    }
    extra_args.extend(args.agent_args.iter().map(Into::into));
    let config = HarnessConfig {
        service,
        agent: AgentSpec {
            program: this,
            extra_args,
            sandboxed,
        },
        hosting: if args.extension_packages.is_empty() {
            Hosting::BuiltIn
        } else {
            Hosting::Package {
                sandboxed,
                allow_freeze: args.allow_freeze,
            }
        },
        scenarios: if args.scenarios.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            args.scenarios.clone()
        },
        work_dir: std::path::absolute(&args.work_dir)?,
        job_timeout: Duration::from_secs(args.job_timeout_secs),
    };
    let results = vaultsim_agent::harness::run(&config).await?;
    print!("{}", vaultsim_agent::harness::summary(&results));
    if let Some(path) = &args.junit {
        std::fs::write(path, vaultsim_agent::harness::junit::render(&results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if results.iter().any(|r| r.verdict() == Verdict::Failed) {
        std::process::exit(1);
    }
    Ok(())
}

async fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    let (token, default_subscription) = token_source(&args.service)?;
    let subscription_id = args.placement.subscription(default_subscription)?;
    let workload = args.workload.workload(&args.storage)?;
    let config = FleetConfig {
        count: args.count,
        name_prefix: args.name_prefix.clone(),
        subscription_id,
        resource_group: args.placement.resource_group.clone(),
        location: args.placement.location.clone(),
        guest_url: args.service.guest_url.clone(),
        token,
        state_dir: args.state_dir.clone(),
        os_disk_bytes: args.os_disk_gib * GIB,
        data_disks: args.data_disks,
        data_disk_bytes: args.data_disk_gib * GIB,
        extension: extension_config(&args.extension, &args.state_dir, String::new())?,
        workload,
        runs_at_once: args.runs_at_once,
    };
    if args.placement.ensure_resource_group {
        ensure_group(
            &args.service,
            &config.token,
            &config.subscription_id,
            &config.resource_group,
            &config.location,
        )
        .await?;
    }
    let (tallies, mut tallied) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(tally) = tallied.recv().await {
            let tally: FleetTally = tally;
            tracing::info!(runs = tally.runs(), by_code = ?tally.by_code, "fleet tally");
        }
    });
    let tally = run_fleet(
        config,
        reqwest::Client::new(),
        default_safefreeze()?,
        shutdown_signal(),
        Some(tallies),
    )
    .await?;
    tracing::info!(runs = tally.runs(), by_code = ?tally.by_code, "fleet stopped");
    Ok(())
}

fn extension_config(
    args: &ExtensionArgs,
    state_dir: &std::path::Path,
    unique_machine_id: String,
) -> anyhow::Result<ExtensionConfig> {
    let writers = match &args.writers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("the writers file {}", path.display()))?;
            serde_json::from_str::<Vec<WriterSpec>>(&text)
                .with_context(|| format!("the writers file {}", path.display()))?
        }
        None => Vec::new(),
    };
    Ok(ExtensionConfig {
        start_delay: args.start_delay_ms,
        unique_machine_id,
        quiesce: QuiesceSettings {
            config_dir: args.azure_config_dir(state_dir),
            writers,
            ..QuiesceSettings::default()
        },
    })
}

fn freeze_config(
    args: &FreezeArgs,
    disk_images: &[PathBuf],
    azure_config_dir: &std::path::Path,
) -> anyhow::Result<FreezeConfig> {
    let mounts = if args.freeze_eligible_mounts {
        MountSelection::Eligible {
            mounts_to_skip: args.mounts_to_skip.clone(),
        }
    } else if args.freeze_mounts.is_empty() {
        // A disk image's mount is the filesystem its backups must freeze, wherever it is
        // mounted at the time of each backup.
        MountSelection::DiskImages(disk_images.to_vec())
    } else {
        MountSelection::Explicit(args.freeze_mounts.clone())
    };
    let helper = match &args.safefreeze {
        Some(path) => path.clone(),
        None => default_safefreeze()?,
    };
    Ok(FreezeConfig {
        timeout: Duration::from_secs(args.freeze_timeout_secs),
        wait: Duration::from_secs(args.safefreeze_wait_secs),
        helper_start_delay: Duration::from_millis(args.safefreeze_start_delay_ms),
        // Beside the scripts' configuration, as /etc/azure holds both in a real VM.
        lock_file: azure_config_dir
            .join("MicrosoftRecoverySvcsSafeFreezeLock")
            .join("SafeFreezeLockFile"),
        ..FreezeConfig::new(mounts, helper)
    })
}

/// The safefreeze helper installed next to this binary.
fn default_safefreeze() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("the agent's own path")?;
    Ok(me.with_file_name(FreezeConfig::HELPER_NAME))
}

/// The token source, and the subscription the credentials file names.
fn token_source(service: &ServiceArgs) -> anyhow::Result<(TokenSource, Option<String>)> {
    if let Some(token) = &service.token {
        return Ok((TokenSource::Bearer(token.clone().into()), None));
    }
    let credentials = read_credentials(&service.credentials)?;
    let subscription = credentials.subscription_id.clone();
    Ok((
        TokenSource::ClientCredentials {
            management_url: service.management_url.clone(),
            credentials,
        },
        Some(subscription),
    ))
}

/// `--ensure-resource-group`: the VMs' group, created through the management API when it
/// does not exist.
async fn ensure_group(
    service: &ServiceArgs,
    token: &TokenSource,
    subscription_id: &str,
    group: &str,
    location: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let token = token.token(&http).await?;
    ensure_resource_group(
        &http,
        &service.management_url,
        &token,
        subscription_id,
        group,
        location,
    )
    .await?;
    Ok(())
}

fn vm_identity(args: &RunArgs, default_subscription: Option<String>) -> anyhow::Result<VmIdentity> {
    let (subscription, group, name) = match parse_vm_id(&args.vm) {
        Some(parts) => parts,
        None => {
            if args.vm.contains('/') {
                bail!(
                    "--vm '{}' is neither a VM name nor a VM resource id",
                    args.vm
                );
            }
            (
                args.placement.subscription(default_subscription)?,
                args.placement.resource_group.clone(),
                args.vm.clone(),
            )
        }
    };
    Ok(VmIdentity {
        subscription_id: subscription,
        resource_group: group,
        name,
        location: args.placement.location.clone(),
        vm_size: None,
    })
}

/// The guest agent's layout for `--os`, under its root; what only a Linux guest can do is
/// refused for a Windows one.
fn handler_layout(args: &RunArgs) -> anyhow::Result<HandlerLayout> {
    let root = match args.os {
        GuestOs::Linux => {
            if args.windows_root.is_some() {
                bail!("--windows-root is for --os windows; a Linux guest's root is --handler-root");
            }
            args.handler_root
                .clone()
                .unwrap_or_else(|| args.state_dir.join("waagent"))
        }
        GuestOs::Windows => {
            if args.handler_root.is_some() {
                bail!("--handler-root is for --os linux; a Windows guest's root is --windows-root");
            }
            if !args.packages.packages.is_empty() || args.sandbox.sandbox != SandboxKind::None {
                bail!(
                    "--extension-package and --sandbox host Linux extension packages; \
                     a Windows guest runs the built-in VMSnapshot extension only"
                );
            }
            args.windows_root
                .clone()
                .unwrap_or_else(|| args.state_dir.join("c"))
        }
    };
    Ok(HandlerLayout::new(args.os, root))
}

/// `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{n}`.
fn parse_vm_id(id: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [subscriptions, subscription, groups, group, providers, namespace, kind, name]
            if subscriptions.eq_ignore_ascii_case("subscriptions")
                && groups.eq_ignore_ascii_case("resourceGroups")
                && providers.eq_ignore_ascii_case("providers")
                && namespace.eq_ignore_ascii_case("Microsoft.Compute")
                && kind.eq_ignore_ascii_case("virtualMachines") =>
        {
            Some((
                subscription.to_string(),
                group.to_string(),
                name.to_string(),
            ))
        }
        _ => None,
    }
}

/// The VM's unique machine id (`/etc/azure/machine_identity_…` in a real VM), made once.
fn machine_identity(state_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = state_dir.join("machine_identity_FD76C85E-406F-4CFA-8EB0-CF18B123358B");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_owned());
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("{}", path.display()))?;
    Ok(id)
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_resource_ids_are_parsed_in_any_case() {
        assert_eq!(
            parse_vm_id("/subscriptions/s1/resourcegroups/rg/providers/microsoft.compute/virtualMachines/vm1"),
            Some(("s1".into(), "rg".into(), "vm1".into()))
        );
        assert_eq!(parse_vm_id("vm1"), None);
        assert_eq!(parse_vm_id("/subscriptions/s1/resourceGroups/rg"), None);
    }

    #[test]
    fn start_delays_are_min_max_milliseconds() {
        assert_eq!(
            parse_delay("500-5000"),
            Ok((Duration::from_millis(500), Duration::from_secs(5)))
        );
        assert_eq!(parse_delay("0"), Ok((Duration::ZERO, Duration::ZERO)));
        assert!(parse_delay("5-1").is_err());
        assert!(parse_delay("x").is_err());
    }
}
