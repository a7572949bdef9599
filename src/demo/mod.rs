//! `vaultsim demo`: a first run that shows backups happening. The service starts as `serve`
//! starts it (in a data directory of the demo's own, wiped at every start); a fleet of
//! simulated VMs runs in this process, each a real agent that registers over the guest API,
//! runs the built-in VMSnapshot extension and writes to its disks through the blob
//! endpoint; the demo then sets up a vault, a policy and protection over the management API
//! and moves the simulated clock faster than real time, printing each job as it finishes.
//!
//! The clock is pinned and moved in small steps through `/_sim/clock/advance` rather than
//! left running fast: each step stops at every scheduled run and waits for the snapshots
//! of the backups it started, so the extension's staleness check and the engine's
//! deadlines (both in simulated time) see a backup take the seconds it takes, however fast
//! the demo runs.

mod data_dir;
mod estate;
mod jobs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use secrecy::ExposeSecret;
use tokio::sync::{oneshot, watch};
use vaultsim_agent::extension::ExtensionConfig;
use vaultsim_agent::fleet::{run_fleet, FleetConfig};
use vaultsim_agent::management::{ensure_resource_group, read_credentials, ArmClient, TokenSource};
use vaultsim_agent::vault::VaultClient;
use vaultsim_agent::vss::freeze::FreezeConfig;
use vaultsim_agent::vss::requester::QuiesceSettings;
use vaultsim_agent::workload::{StorageAccount, WorkloadConfig};
use vaultsim_protocol::credentials;

use self::estate::{GROUP, INTERVAL_HOURS, LOCATION, POLICY, VAULT, VM_PREFIX};
use self::jobs::JobWatch;
use crate::config::{DemoConfig, ServeConfig};
use crate::startup::{shutdown_signal, Application};

/// Real time between two moves of the clock.
const STEP: Duration = Duration::from_millis(250);
/// While snapshots are awaited, simulated time runs at most this many times real time (each
/// step then waits for them), so the extension's 140-minute staleness limit is over two
/// real minutes away whatever the demo's speed.
const AWAITING_SPEED: f64 = 60.0;
/// How often the job list is read for finished jobs.
const JOB_POLL: Duration = Duration::from_millis(500);
/// How long the backups in flight at Ctrl-C may take to finish.
const FINISH_LIMIT: Duration = Duration::from_secs(5);
/// How long the VMs' agents may take to stop.
const FLEET_STOP_LIMIT: Duration = Duration::from_secs(5);
const GIB: u64 = 1 << 30;

/// Runs the demo until SIGINT or SIGTERM; a second one ends the process at once.
pub async fn run(config: DemoConfig) -> anyhow::Result<()> {
    // From the start: a Ctrl-C while the service starts stops the demo once it has.
    let interrupted = interrupts();
    let data_dir =
        std::path::absolute(&config.serve.database.data_dir).context("the data directory")?;
    data_dir::prepare(&data_dir)?;
    let mut serve = config.serve.clone();
    serve.database.data_dir = data_dir.clone();
    let app = Application::build(&serve).await?;
    let endpoints = Endpoints::of(&app, &serve);
    let (stop_service, service_stopped) = oneshot::channel::<()>();
    let service = tokio::spawn(app.run_until_stopped(async {
        let _ = service_stopped.await;
    }));
    let shown = show(&config, &serve, &endpoints, interrupted).await;
    let _ = stop_service.send(());
    let served = service.await.context("the service's task")?;
    shown?;
    served?;
    println!("vaultsim demo stopped.");
    Ok(())
}

/// Turns true at the first SIGINT (Ctrl-C) or SIGTERM; a second one ends the process.
fn interrupts() -> watch::Receiver<bool> {
    let (interrupted, receiver) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        println!("Stopping: the VMs, then the service (Ctrl-C again to quit at once)...");
        let _ = interrupted.send(true);
        shutdown_signal().await;
        eprintln!("vaultsim demo: quit at once");
        std::process::exit(130);
    });
    receiver
}

/// Where the service listens, and its files, as clients reach them.
struct Endpoints {
    management: SocketAddr,
    management_https: Option<SocketAddr>,
    guest: SocketAddr,
    blob: SocketAddr,
    ca_file: Option<PathBuf>,
    data_dir: PathBuf,
}

impl Endpoints {
    fn of(app: &Application, serve: &ServeConfig) -> Endpoints {
        Endpoints {
            management: reachable(app.http_addr()),
            management_https: app.https_addr().map(reachable),
            guest: reachable(app.guest_addr()),
            blob: reachable(app.blob_addr()),
            ca_file: app.tls_ca_file().map(Path::to_owned),
            data_dir: serve.database.data_dir.clone(),
        }
    }

    fn management_url(&self) -> String {
        format!("http://{}", self.management)
    }

    fn credentials_file(&self) -> PathBuf {
        self.data_dir.join(credentials::FILE_NAME)
    }
}

/// A bound address as a client on this machine reaches it (loopback for "any").
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// Sets up the VMs, the vault, the policy and protection, then moves the clock and tells
/// each finished job until `interrupted`; stops the VMs before answering.
async fn show(
    config: &DemoConfig,
    serve: &ServeConfig,
    endpoints: &Endpoints,
    mut interrupted: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let credentials = read_credentials(&endpoints.credentials_file())?;
    let http = client_trusting(endpoints.ca_file.as_deref())?;
    let token = TokenSource::ClientCredentials {
        management_url: endpoints.management_url(),
        credentials: credentials.clone(),
    };
    // The VMs register into the group: it comes first.
    ensure_resource_group(
        &http,
        &endpoints.management_url(),
        &token.token(&http).await?,
        &credentials.subscription_id,
        GROUP,
        LOCATION,
    )
    .await?;
    let fleet = fleet_config(
        config,
        serve,
        endpoints,
        token,
        &credentials.subscription_id,
    )?;
    let names: Vec<String> = (0..fleet.count).map(|i| fleet.vm_name(i)).collect();
    let (stop_fleet, fleet_stopped) = oneshot::channel::<()>();
    // Simulated VMs have no filesystems to freeze, so the helper is never started; its
    // place is beside this binary all the same.
    let safefreeze = std::env::current_exe()
        .context("this binary's path")?
        .with_file_name(FreezeConfig::HELPER_NAME);
    let fleet = tokio::spawn(run_fleet(
        fleet,
        http.clone(),
        safefreeze,
        async {
            let _ = fleet_stopped.await;
        },
        None,
    ));
    let subscription = credentials.subscription_id.clone();
    let arm = ArmClient::sign_in(&endpoints.management_url(), credentials, http).await?;
    let vault = estate::demo_vault(arm, subscription);
    let demo = async {
        estate::set_up(&vault, &names).await?;
        print!("{}", banner(config, endpoints));
        tokio::join!(move_the_clock(&vault, config.speed), tell_jobs(&vault));
        anyhow::Ok(())
    };
    let shown = tokio::select! {
        shown = demo => shown,
        _ = interrupted.wait_for(|stop| *stop) => estate::finish_jobs(&vault, FINISH_LIMIT).await,
    };
    let _ = stop_fleet.send(());
    match tokio::time::timeout(FLEET_STOP_LIMIT, fleet).await {
        Ok(Ok(Err(error))) => tracing::warn!(%error, "the simulated VMs stopped with an error"),
        Ok(Err(error)) => tracing::warn!(%error, "the simulated VMs' task failed"),
        Ok(Ok(Ok(_))) => {}
        Err(_) => tracing::warn!("the simulated VMs did not stop within {FLEET_STOP_LIMIT:?}"),
    }
    shown
}

/// An HTTP client that trusts the service's generated CA, for the HTTPS SAS URIs of its
/// tasks; with a certificate of the user's, the system's roots (or `SSL_CERT_FILE`).
fn client_trusting(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).with_context(|| format!("{}", ca_file.display()))?;
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("the CA certificate {}", ca_file.display()))?,
        );
    }
    builder.build().context("an HTTP client")
}

/// The simulated VMs: an OS disk and a data disk each (page blobs are sparse, so their size
/// costs nothing), the extension's real start delay, and a workload so that every
/// incremental backup has changes to move.
fn fleet_config(
    config: &DemoConfig,
    serve: &ServeConfig,
    endpoints: &Endpoints,
    token: TokenSource,
    subscription_id: &str,
) -> anyhow::Result<FleetConfig> {
    let state_dir = endpoints.data_dir.join("fleet");
    let key = base64::engine::general_purpose::STANDARD
        .decode(serve.account_key.expose_secret().trim())
        .context("the account key is not valid base64")?;
    let account = StorageAccount {
        endpoint: format!("http://{}/{}", endpoints.blob, serve.account_name),
        name: serve.account_name.clone(),
        key: key.into(),
    };
    Ok(FleetConfig {
        count: usize::from(config.vms),
        name_prefix: VM_PREFIX.to_owned(),
        subscription_id: subscription_id.to_owned(),
        resource_group: GROUP.to_owned(),
        location: LOCATION.to_owned(),
        guest_url: format!("http://{}", endpoints.guest),
        token,
        extension: ExtensionConfig {
            start_delay: ExtensionConfig::REAL_START_DELAY,
            unique_machine_id: String::new(),
            quiesce: QuiesceSettings {
                config_dir: state_dir.join("etc-azure"),
                ..QuiesceSettings::default()
            },
        },
        state_dir,
        os_disk_bytes: GIB,
        data_disks: 1,
        data_disk_bytes: GIB,
        workload: Some((
            account,
            WorkloadConfig {
                interval: Duration::from_secs(2),
                write_bytes: 16 << 10,
            },
        )),
    })
}

/// Moves simulated time `speed` times faster than real time, in steps of [`STEP`]; a step
/// that fails is told and the next one tried.
async fn move_the_clock(vault: &VaultClient, speed: f64) {
    let step = speed * STEP.as_secs_f64();
    let by = format!("PT{step:.3}S");
    let settle = Duration::from_secs_f64((step / AWAITING_SPEED - STEP.as_secs_f64()).max(0.0));
    let mut ticks = tokio::time::interval(STEP);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = vault.advance_clock(&by, settle).await {
            tracing::warn!(error = %format!("{error:#}"), "moving the simulated clock failed");
        }
    }
}

/// Prints each job as it finishes.
async fn tell_jobs(vault: &VaultClient) {
    let mut watch = JobWatch::default();
    let mut ticks = tokio::time::interval(JOB_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match vault.jobs(watch.filter().as_deref()).await {
            Ok(listed) => {
                for line in watch.newly_finished(&listed) {
                    println!("  {line}");
                }
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "reading the job list failed");
            }
        }
    }
}

/// What the demo runs and where to look, printed once everything is protected. It names
/// the credentials file, never the secret in it.
fn banner(config: &DemoConfig, endpoints: &Endpoints) -> String {
    let day = Duration::from_secs_f64(86_400.0 / config.speed);
    let credentials = endpoints.credentials_file();
    let mut text = format!(
        "\nvaultsim demo: {vms} simulated VMs ({VM_PREFIX}-0...) in resource group {GROUP}, \
         backed up every {INTERVAL_HOURS} hours by policy {POLICY} of vault {VAULT}.\n\
         Simulated time runs {speed}x real time (a day every {day}), slower while snapshots \
         are taken.\n\n\
         \x20 dashboard    http://{management}/\n",
        vms = config.vms,
        speed = config.speed,
        day = jobs::short(day),
        management = endpoints.management,
    );
    if let Some(https) = endpoints.management_https {
        text.push_str(&format!("  management   https://{https}/\n"));
    }
    text.push_str(&format!(
        "  credentials  {}\n  data         {} (wiped at the next demo start)\n\n",
        credentials.display(),
        endpoints.data_dir.display(),
    ));
    match (endpoints.management_https, &endpoints.ca_file) {
        (Some(https), Some(ca_file)) => text.push_str(&format!(
            "Watch it with az (azure-cli 2.6x or later) from another terminal:\n\
             \x20 export AZURE_CONFIG_DIR='{config_dir}' REQUESTS_CA_BUNDLE='{ca}'\n\
             \x20 creds='{creds}'; field() {{ python3 -c \"import json;print(json.load(open('$creds'))['$1'])\"; }}\n\
             \x20 az cloud register -n vaultsim-demo --endpoint-resource-manager https://{https}/\n\
             \x20 az cloud set -n vaultsim-demo\n\
             \x20 az login --service-principal -u $(field clientId) -p $(field clientSecret) --tenant $(field tenantId)\n\
             \x20 az backup job list -g {GROUP} -v {VAULT} -o table\n\n",
            config_dir = endpoints.data_dir.join("az-config").display(),
            ca = ca_file.display(),
            creds = credentials.display(),
        )),
        _ => text.push_str(
            "az needs the management API over HTTPS with the service's own CA: leave \
             --https-addr on and give no --tls-cert.\n\n",
        ),
    }
    text.push_str("Jobs as they finish (simulated time); Ctrl-C stops the demo:\n");
    text
}
