//! `vaultsim-agent`: the inside of a VM for vaultsim. `run` is one VM's guest agent and
//! snapshot extension; `fleet` runs many simulated VMs in one process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use vaultsim_agent::extension::ExtensionConfig;
use vaultsim_agent::management::{ClientCredentials, TokenSource};
use vaultsim_agent::vm::{DiskSpec, VmAgent, VmConfig, VmIdentity};
use vaultsim_agent::vss::freeze::NoEligibleMounts;
use vaultsim_agent::vss::requester::QuiesceSettings;
use vaultsim_agent::vss::writers::WriterSpec;

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
    Run(RunArgs),
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
    /// The resource group of a VM given by name.
    #[arg(long, default_value = "vaultsim")]
    resource_group: String,
    /// The subscription of a VM given by name; default the credentials file's.
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long, default_value = "eastus")]
    location: String,
    #[arg(long, default_value = "Linux")]
    os_type: String,
    /// The OS disk's size in GiB, for a VM the registration creates.
    #[arg(long, default_value_t = 1)]
    os_disk_gib: u64,
    /// A data disk of this many GiB (repeat for more), for a VM the registration creates.
    #[arg(long = "data-disk-gib")]
    data_disks_gib: Vec<u64>,
    /// The agent's keys, VM id and handler files.
    #[arg(
        long,
        env = "VAULTSIM_AGENT_STATE_DIR",
        default_value = "vaultsim-agent-state"
    )]
    state_dir: PathBuf,
    /// What stands for /var/lib/waagent; default `<state-dir>/waagent`.
    #[arg(long)]
    handler_root: Option<PathBuf>,
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
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (token, default_subscription) = token_source(&args.service)?;
    let identity = vm_identity(&args, default_subscription)?;
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("the state directory {}", args.state_dir.display()))?;
    let mut disks = vec![DiskSpec {
        lun: -1,
        name: format!("{}-os", identity.name),
        size_bytes: args.os_disk_gib * GIB,
    }];
    for (lun, gib) in args.data_disks_gib.iter().enumerate() {
        disks.push(DiskSpec {
            lun: lun as i64,
            name: format!("{}-data{lun}", identity.name),
            size_bytes: gib * GIB,
        });
    }
    let writers = match &args.writers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("the writers file {}", path.display()))?;
            serde_json::from_str::<Vec<WriterSpec>>(&text)
                .with_context(|| format!("the writers file {}", path.display()))?
        }
        None => Vec::new(),
    };
    let config = VmConfig {
        guest_url: args.service.guest_url.clone(),
        identity,
        disks,
        handler_root: args
            .handler_root
            .clone()
            .unwrap_or_else(|| args.state_dir.join("waagent")),
        token,
        extension: ExtensionConfig {
            start_delay: args.start_delay_ms,
            unique_machine_id: machine_identity(&args.state_dir)?,
            quiesce: QuiesceSettings {
                config_dir: args
                    .azure_config_dir
                    .clone()
                    .unwrap_or_else(|| args.state_dir.join("etc-azure")),
                writers,
                ..QuiesceSettings::default()
            },
        },
        state_dir: args.state_dir.clone(),
    };
    let agent = VmAgent::register(config, reqwest::Client::new(), NoEligibleMounts, None).await?;
    tracing::info!(vm_id = %agent.registered().vm_id, "agent running; polling the goal state");
    agent.run(shutdown_signal()).await;
    Ok(())
}

/// The token source, and the subscription the credentials file names.
fn token_source(service: &ServiceArgs) -> anyhow::Result<(TokenSource, Option<String>)> {
    if let Some(token) = &service.token {
        return Ok((TokenSource::Bearer(token.clone()), None));
    }
    let credentials = ClientCredentials::from_file(&service.credentials)?;
    let subscription = credentials.subscription_id.clone();
    Ok((
        TokenSource::ClientCredentials {
            management_url: service.management_url.clone(),
            credentials,
        },
        Some(subscription),
    ))
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
            let Some(subscription) = args.subscription.clone().or(default_subscription) else {
                bail!("--vm names a VM by name: give --subscription (or a credentials file)");
            };
            (subscription, args.resource_group.clone(), args.vm.clone())
        }
    };
    Ok(VmIdentity {
        subscription_id: subscription,
        resource_group: group,
        name,
        location: args.location.clone(),
        os_type: args.os_type.clone(),
        vm_size: None,
    })
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
