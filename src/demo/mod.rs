//! `vaultsim demo`: a first run that shows backups happening. The service starts as `serve`
//! starts it (in a data directory of the demo's own, wiped at every start); a fleet of
//! simulated VMs runs in this process, each a real agent that registers over the guest API,
//! runs the built-in VMSnapshot extension and writes to its disks through the blob
//! endpoint; the demo then sets up a vault, a policy and protection over the management API
//! and moves the simulated clock faster than real time, printing each job as it finishes.
//!
//! The clock is pinned and moved in small steps through `/_sim/clock/advance` rather than
//! left running fast: each step stops at every scheduled run, and while snapshots are
//! awaited it waits for them long enough that simulated time runs at most 60 times real
//! time, so the extension's staleness check and the engine's deadlines (both in simulated
//! time) leave a backup minutes of real time, however fast the demo runs.

mod data_dir;
mod estate;
mod jobs;
mod where_to_look;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use secrecy::ExposeSecret;
use tokio::sync::{oneshot, watch};
use vaultsim_agent::extension::ExtensionConfig;
use vaultsim_agent::fleet::{run_fleet, FleetConfig, DEFAULT_RUNS_AT_ONCE};
use vaultsim_agent::management::{ensure_resource_group, read_credentials, ArmClient, TokenSource};
use vaultsim_agent::vault::VaultClient;
use vaultsim_agent::vss::freeze::FreezeConfig;
use vaultsim_agent::vss::requester::QuiesceSettings;
use vaultsim_agent::workload::{StorageAccount, WorkloadConfig};

use self::estate::{GROUP, LOCATION, VM_PREFIX};
use self::jobs::JobWatch;
use self::where_to_look::{banner, Endpoints};
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
        runs_at_once: DEFAULT_RUNS_AT_ONCE,
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
