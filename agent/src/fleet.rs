//! Many simulated VMs in one process, for load and for the dev environment: each registers
//! with its own key pair and state, polls its own goal state, runs its own snapshot
//! extension (with the configured simulated writers) and, optionally, writes to its disks.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use vaultsim_protocol::disk::OS_DISK_LUN;

use crate::extension::{ExtensionConfig, RunReport};
use crate::handler::HandlerLayout;
use crate::management::TokenSource;
use crate::os::GuestOs;
use crate::package::PackageHosting;
use crate::vm::{DiskSpec, VmAgent, VmAgentError, VmConfig, VmIdentity};
use crate::vss::freeze::{FreezeConfig, FsFreezer, MountSelection};
use crate::workload::{run_workload, StorageAccount, WorkloadConfig};

/// How many VMs register (and make their keys) at once.
const REGISTRATIONS_IN_FLIGHT: usize = 16;

/// How many extension runs a fleet lets go on at once unless told otherwise: each run
/// holds a few connections and files, and thousands of VMs in one process share one
/// descriptor limit (5,000 VMs' runs at once exhausted 20,000 descriptors and lost final
/// statuses).
pub const DEFAULT_RUNS_AT_ONCE: NonZeroUsize = NonZeroUsize::new(512).unwrap();

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub count: usize,
    /// VM `i` is `<prefix>-<i>`.
    pub name_prefix: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub location: String,
    pub guest_url: String,
    pub token: TokenSource,
    /// VM `i` keeps its keys and handler files in `<state_dir>/<name>`.
    pub state_dir: PathBuf,
    pub os_disk_bytes: u64,
    pub data_disks: usize,
    pub data_disk_bytes: u64,
    /// Every VM's extension, writers and quiesce included.
    pub extension: ExtensionConfig,
    /// Writes to every disk, if the VMs should change their disks between backups.
    pub workload: Option<(StorageAccount, WorkloadConfig)>,
    /// Extension runs going on at once across the fleet; a VM whose run would exceed it
    /// waits for one to end.
    pub runs_at_once: NonZeroUsize,
}

/// What the fleet's runs ended with so far, by final status code (`none` when a run
/// wrote no status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetTally {
    pub by_code: BTreeMap<String, usize>,
}

impl FleetTally {
    pub fn runs(&self) -> usize {
        self.by_code.values().sum()
    }

    fn note(&mut self, report: &RunReport) {
        let code = report
            .status
            .as_ref()
            .map_or_else(|| "none".to_owned(), |s| s.status.code.clone());
        *self.by_code.entry(code).or_default() += 1;
    }
}

impl FleetConfig {
    /// VM `index`'s name.
    pub fn vm_name(&self, index: usize) -> String {
        format!("{}-{index}", self.name_prefix)
    }

    fn vm_config(&self, index: usize, run_slots: &Arc<Semaphore>) -> VmConfig {
        let name = self.vm_name(index);
        let state_dir = self.state_dir.join(&name);
        let mut disks = vec![DiskSpec {
            lun: OS_DISK_LUN,
            name: format!("{name}-os"),
            size_bytes: self.os_disk_bytes,
        }];
        disks.extend((0..self.data_disks).map(|lun| DiskSpec {
            lun: lun as i64,
            name: format!("{name}-data{lun}"),
            size_bytes: self.data_disk_bytes,
        }));
        let mut extension = self.extension.clone();
        extension.unique_machine_id =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
        VmConfig {
            guest_url: self.guest_url.clone(),
            identity: VmIdentity {
                subscription_id: self.subscription_id.clone(),
                resource_group: self.resource_group.clone(),
                name,
                location: self.location.clone(),
                vm_size: None,
            },
            disks,
            layout: HandlerLayout::new(GuestOs::Linux, state_dir.join("waagent")),
            state_dir,
            token: self.token.clone(),
            extension,
            disk_images: Vec::new(),
            storage: None,
            packages: Vec::new(),
            hosting: PackageHosting::default(),
            run_slots: Some(Arc::clone(run_slots)),
        }
    }
}

/// Registers every VM, then runs them all until `shutdown`; `tallies` hears the running
/// tally after every run. Answers the final tally.
pub async fn run_fleet(
    config: FleetConfig,
    http: reqwest::Client,
    safefreeze: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    tallies: Option<mpsc::UnboundedSender<FleetTally>>,
) -> Result<FleetTally, VmAgentError> {
    let (reports, mut finished) = mpsc::unbounded_channel();
    // Simulated VMs have no filesystems of their own to freeze.
    let freezer = FsFreezer::new(FreezeConfig::new(
        MountSelection::Explicit(Vec::new()),
        safefreeze,
    ));
    let permits = Arc::new(Semaphore::new(REGISTRATIONS_IN_FLIGHT));
    let run_slots = Arc::new(Semaphore::new(config.runs_at_once.get()));
    let mut registering = JoinSet::new();
    for index in 0..config.count {
        let (vm, http, freezer, reports, permits) = (
            config.vm_config(index, &run_slots),
            http.clone(),
            freezer.clone(),
            reports.clone(),
            Arc::clone(&permits),
        );
        registering.spawn(async move {
            let _permit = permits.acquire_owned().await;
            std::fs::create_dir_all(&vm.state_dir)?;
            VmAgent::register(vm, http, freezer, Some(reports)).await
        });
    }
    drop(reports);
    let mut agents = Vec::with_capacity(config.count);
    while let Some(joined) = registering.join_next().await {
        agents.push(joined.map_err(std::io::Error::other)??);
    }
    tracing::info!(count = agents.len(), "fleet registered");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = JoinSet::new();
    let mut workloads = JoinSet::new();
    for agent in agents {
        if let Some((account, workload)) = &config.workload {
            workloads.spawn(run_workload(
                http.clone(),
                account.clone(),
                agent.registered().disks.clone(),
                *workload,
            ));
        }
        let mut stopped = stopped.clone();
        running.spawn(agent.run(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
    }
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let mut tally = FleetTally::default();
    loop {
        tokio::select! {
            Some(report) = finished.recv() => {
                tally.note(&report);
                if let Some(tallies) = &tallies {
                    let _ = tallies.send(tally.clone());
                }
            }
            joined = running.join_next() => {
                if joined.is_none() {
                    break;
                }
            }
        }
    }
    while let Ok(report) = finished.try_recv() {
        tally.note(&report);
    }
    workloads.abort_all();
    Ok(tally)
}
