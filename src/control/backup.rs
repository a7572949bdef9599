//! Starting a backup: the Backup job, its task minted for the VM's snapshot extension
//! (status and log blobs pre-created, SAS URIs, protected settings sealed until the agent
//! fetches them) and the extension settings published in the VM's goal state. Tasks are
//! minted first (`prepare_backups`); the rest is written in the caller's transaction
//! (`write_backups`), which mints again any task whose VM changed in between. A VM that
//! is not running gets no task: its disks are snapshotted host-side (`stopped_vms`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyConnection};

use super::engine::Engine;
use super::minting::{
    extension_identity, mint_task, DiskAccount, MintError, MintedTask, TaskDisk, TaskInput,
    SAS_START_BACKDATE,
};
use super::progress::{backup_job_tasks, fail_backup_before_transfer};
use super::tasks::{self, status_container_name, BackupTask, TaskState, Trigger};
use super::EngineError;
use crate::auth::directory::{new_secret, secret_digest};
use crate::guest::{self, ExtensionGoal, SettingsSeal};
use crate::resources::jobs::{self, new_job_id, JobExtendedInfo, JobOperation, JobStatus, NewJob};
use crate::resources::lookup::PowerState;
use crate::resources::protection::names::VmName;
use crate::storage::{AccountAccess, StorageError};
use crate::store::{placeholders, Backend};
use vaultsim_protocol::extension::codes::{
    AzureBackupError, BACKUP_IN_PROGRESS, CONFIG_PARSING, INTERNAL_ERROR, VM_AGENT_NOT_REGISTERED,
    VM_NOT_FOUND,
};
use vaultsim_protocol::extension::host_snapshot::SnapshotMethod;

/// Backups of VMs that are not running: crash-consistent, snapshotted host-side.
mod stopped_vms;

/// The protected item a backup is for.
#[derive(Debug, Clone)]
pub struct BackupTarget {
    pub vault_id: String,
    pub item_key: String,
    pub vm_id: String,
    pub vm: VmName,
}

#[derive(Debug, Clone)]
pub struct BackupRequest {
    pub target: BackupTarget,
    pub trigger: Trigger,
    /// The run's start: the scheduled instant, or now for on-demand backups.
    pub scheduled_at: DateTime<Utc>,
    /// The expiry an on-demand backup asked for.
    pub rp_expires_at: Option<DateTime<Utc>>,
}

/// A started backup: its job, and what to set off once the transaction commits.
#[derive(Debug, Clone)]
pub struct StartedBackup {
    pub job_id: String,
    /// The VM whose goal state changed, to notify.
    pub notify_vm: Option<String>,
    /// The task whose snapshot was taken host-side, whose transfer is to start.
    pub transfer_task: Option<String>,
}

/// Creates the Backup job and dispatches its first attempt; a VM that is not running is
/// snapshotted host-side instead (`stopped_vms`). Some jobs fail at once, each with its
/// Azure error, leaving the other requests of a batch to run: a running VM without a
/// registered agent (which no task can reach, as when Azure's VM agent does not answer), a
/// VM deleted meanwhile, an item whose previous backup still runs, and a task that cannot
/// be prepared (a certificate nothing can be encrypted to). Only a failing database fails
/// the call.
pub async fn start_backup(
    engine: &Engine,
    tx: &mut AnyConnection,
    request: &BackupRequest,
    now: DateTime<Utc>,
) -> Result<StartedBackup, EngineError> {
    let mut started = start_backups(engine, tx, std::slice::from_ref(request), now).await?;
    Ok(started.pop().expect("one backup per request"))
}

/// [`start_backup`] for many items at once, in a few statements per hundred jobs.
pub async fn start_backups(
    engine: &Engine,
    tx: &mut AnyConnection,
    requests: &[BackupRequest],
    now: DateTime<Utc>,
) -> Result<Vec<StartedBackup>, EngineError> {
    let prepared = prepare_backups(engine, tx, requests.to_vec(), now).await?;
    write_backups(engine, tx, prepared, now).await
}

/// Backups made ready before their transaction: each request's job id and, where its VM
/// has an agent, its task minted from the VM as read then (SAS URIs signed, settings
/// serialized, the VM's certificate parsed); done here, the scheduler mints the next batch
/// while the database writes this one.
pub struct PreparedBackups {
    backups: Vec<PreparedBackup>,
    disk_accounts: HashMap<String, Arc<DiskAccount>>,
    /// The account's time less the service clock's (see [`prepare_backups`]).
    account_skew: TimeDelta,
}

impl PreparedBackups {
    /// Keeps only the backups whose request `keep` accepts (the runs a claim won).
    pub fn retain(&mut self, mut keep: impl FnMut(&BackupRequest) -> bool) {
        self.backups.retain(|backup| keep(&backup.request));
    }
}

struct PreparedBackup {
    request: BackupRequest,
    job_id: String,
    /// None when the VM had no registered agent (or was gone) when read.
    task: Option<(PreparedTask, Result<MintedTask, MintError>)>,
}

/// Chooses each request's job id and mints the tasks of those whose VM has an agent,
/// reading the VMs through `conn` (a reader, or the transaction the backups are written in).
pub async fn prepare_backups(
    engine: &Engine,
    conn: &mut AnyConnection,
    requests: Vec<BackupRequest>,
    now: DateTime<Utc>,
) -> Result<PreparedBackups, EngineError> {
    let disk_accounts = disk_accounts(engine).await?;
    let vms = {
        let requests: Vec<&BackupRequest> = requests.iter().collect();
        vms_for_tasks(conn, &requests, &engine.account().name, &disk_accounts).await?
    };
    // SAS windows are checked by the account's own clock, which runs apart from the
    // simulated one when the account is Azurite or Azure Storage; the task keeps the skew
    // to judge its snapshots' stamps by.
    let account_skew = if vms.is_empty() {
        TimeDelta::zero()
    } else {
        engine.account_skew(engine.storage()).await?
    };
    let mut backups = Vec::with_capacity(requests.len());
    let mut to_mint = Vec::with_capacity(requests.len());
    for request in requests {
        let job_id = new_job_id();
        if let Some(vm) = vms.get(&request.target.vm_id) {
            to_mint.push(prepared_task(engine, &request, &job_id, vm.clone(), now));
        }
        backups.push(PreparedBackup {
            request,
            job_id,
            task: None,
        });
    }
    let mut minted = mint_off_the_workers(engine, to_mint, now, account_skew)
        .await?
        .into_iter();
    for backup in &mut backups {
        if vms.contains_key(&backup.request.target.vm_id) {
            backup.task = minted.next();
        }
    }
    Ok(PreparedBackups {
        backups,
        disk_accounts,
        account_skew,
    })
}

/// Mints `tasks` on a blocking thread (two, for enough of them), answering each task with
/// what minting it gave.
async fn mint_off_the_workers(
    engine: &Engine,
    tasks: Vec<PreparedTask>,
    now: DateTime<Utc>,
    account_skew: TimeDelta,
) -> Result<Vec<(PreparedTask, Result<MintedTask, MintError>)>, EngineError> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let (account, method) = (engine.account().clone(), engine.config().snapshot_method);
    Ok(tokio::task::spawn_blocking(move || {
        let minted = mint_all(&account, &tasks, now, account_skew, method);
        tasks.into_iter().zip(minted).collect()
    })
    .await?)
}

/// The task of a request whose VM has an agent.
fn prepared_task(
    engine: &Engine,
    request: &BackupRequest,
    job_id: &str,
    vm: TaskVm,
    now: DateTime<Utc>,
) -> PreparedTask {
    let task_id = task_id(job_id);
    PreparedTask {
        snapshot_task_token: new_secret(),
        request: request.clone(),
        job_id: job_id.to_owned(),
        status_container: status_container_name(&request.target.vault_id),
        status_blob: tasks::status_blob_name(&task_id),
        logs_blob: tasks::logs_blob_name(&task_id),
        task_id,
        deadline_at: snapshot_deadline(engine, request, now),
        vm,
    }
}

/// Creates the prepared backups' jobs and dispatches their first attempts in `tx`. A task
/// whose VM changed since it was read (its agent registered again, or a disk was attached
/// or detached: its task revision grew) is minted again from the VM as `tx` sees it.
pub async fn write_backups(
    engine: &Engine,
    tx: &mut AnyConnection,
    prepared: PreparedBackups,
    now: DateTime<Utc>,
) -> Result<Vec<StartedBackup>, EngineError> {
    let PreparedBackups {
        backups,
        disk_accounts,
        account_skew,
    } = prepared;
    if backups.is_empty() {
        return Ok(Vec::new());
    }
    let jobs: Vec<(String, NewJob)> = backups
        .iter()
        .map(|b| (b.job_id.clone(), new_job(&b.request, now)))
        .collect();
    jobs::create_jobs(tx, &jobs).await?;
    let requests: Vec<&BackupRequest> = backups.iter().map(|b| &b.request).collect();
    let revisions = task_revisions(tx, &requests).await?;
    // Read in the transaction that claimed the runs: the claim's update locked each item's
    // row, so a replica claiming the item's next run, or an on-demand request (which locks
    // the row with `items::lock` before it looks), waits for it to commit and then sees its
    // task; and a claim behind an on-demand request sees that one's.
    let items: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.target.vault_id.as_str(), r.target.item_key.as_str()))
        .collect();
    let backing_up = tasks::items_backing_up(tx, &items).await?;
    let missing: Vec<&str> = requests
        .iter()
        .map(|r| r.target.vm_id.as_str())
        .filter(|vm_id| !revisions.contains_key(*vm_id))
        .collect();
    let power_states = power_states(tx, &missing).await?;
    let mut started = Vec::with_capacity(backups.len());
    let mut ready = Vec::with_capacity(backups.len());
    let mut changed = Vec::new();
    let mut host_side = Vec::new();
    for backup in backups {
        let target = &backup.request.target;
        let in_progress = backing_up.contains(&(target.vault_id.clone(), target.item_key.clone()));
        let power = power_states.get(&target.vm_id).copied();
        match revisions.get(&target.vm_id) {
            Some(&revision) if !in_progress => match backup.task {
                Some(task) if task.0.vm.task_revision == revision => ready.push(task),
                _ => changed.push(backup),
            },
            None if !in_progress && power.is_some_and(|p| p != PowerState::Running) => {
                host_side.push((backup.request, backup.job_id));
            }
            _ => {
                let error = if in_progress {
                    &BACKUP_IN_PROGRESS
                } else if power.is_some() {
                    &VM_AGENT_NOT_REGISTERED
                } else {
                    &VM_NOT_FOUND
                };
                fail_backup_before_transfer(tx, &target.vault_id, &backup.job_id, error, None, now)
                    .await?;
                started.push(StartedBackup {
                    job_id: backup.job_id,
                    notify_vm: None,
                    transfer_task: None,
                });
            }
        }
    }
    started.extend(stopped_vms::back_up(engine, tx, host_side, now).await?);
    ready.extend(mint_again(engine, tx, changed, &disk_accounts, now, account_skew).await?);
    let created: Vec<_> = ready
        .iter()
        .map(|(task, _)| create_task_blobs(engine, task))
        .collect();
    let created: Vec<Result<String, StorageError>> = futures_util::stream::iter(created)
        .buffered(CONCURRENT_BLOB_CREATES)
        .collect()
        .await;
    let seal = SettingsSeal::for_account(engine.account());
    let mut tasks_to_insert = Vec::with_capacity(ready.len());
    let mut goals = Vec::with_capacity(ready.len());
    for ((task, minted), created) in ready.into_iter().zip(created) {
        let target = &task.request.target;
        // What one VM brought (a certificate nothing can be encrypted to) or one task's
        // blobs met fails that job alone: the batch holds other items, other tenants'.
        let prepared = minted
            .map_err(PreparationError::Mint)
            .and_then(|minted| {
                created
                    .map(|status_etag| (minted, status_etag))
                    .map_err(PreparationError::from)
            })
            .and_then(|prepared| match &task.vm.unknown_account {
                Some(name) => Err(StorageError::AccountNotConfigured(name.clone()).into()),
                None => Ok(prepared),
            });
        let (minted, status_etag) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::warn!(
                    job_id = %task.job_id,
                    vm_id = %target.vm_id,
                    %error,
                    "preparing the backup failed; its job fails"
                );
                let detail = format!("The task could not be prepared: {error}.");
                fail_backup_before_transfer(
                    tx,
                    &target.vault_id,
                    &task.job_id,
                    error.azure_error(),
                    Some(&detail),
                    now,
                )
                .await?;
                started.push(StartedBackup {
                    job_id: task.job_id,
                    notify_vm: None,
                    transfer_task: None,
                });
                continue;
            }
        };
        let identity = extension_identity(&task.vm.os_type);
        goals.push((
            target.vm_id.clone(),
            ExtensionGoal {
                name: identity.name.clone(),
                publisher: identity.publisher.to_owned(),
                extension_type: identity.extension_type.to_owned(),
                type_handler_version: identity.type_handler_version.to_owned(),
                handler_settings: minted.sealed_handler_settings(&seal, &target.vm_id),
                public_settings: minted.public_settings_json,
            },
        ));
        started.push(StartedBackup {
            job_id: task.job_id.clone(),
            notify_vm: Some(target.vm_id.clone()),
            transfer_task: None,
        });
        tasks_to_insert.push(BackupTask {
            task_id: task.task_id,
            job_id: task.job_id,
            attempt: i64::from(ATTEMPT),
            vault_id: target.vault_id.clone(),
            item_key: target.item_key.clone(),
            vm_id: target.vm_id.clone(),
            trigger: task.request.trigger,
            scheduled_at: task.request.scheduled_at,
            rp_expires_at: task.request.rp_expires_at,
            state: TaskState::AwaitingSnapshot,
            deadline_at: task.deadline_at,
            status_container: task.status_container,
            status_blob: task.status_blob,
            logs_blob: task.logs_blob,
            // The empty status blob's: the first poll of it is already conditional.
            status_etag: Some(status_etag),
            snapshot: None,
            bytes_transferred: 0,
            created_at: now,
            account_skew_seconds: account_skew.num_seconds(),
            snapshot_task_token_sha256: Some(secret_digest(&task.snapshot_task_token)),
        });
    }
    tasks::insert_many(tx, &tasks_to_insert).await?;
    guest::publish_extensions(tx, &goals, now).await?;
    // Counted as the dispatch is written, before the caller's transaction commits.
    metrics::counter!("vaultsim_tasks_dispatched_total").increment(tasks_to_insert.len() as u64);
    Ok(started)
}

/// Mints again, from the VMs as `tx` sees them, the tasks of `changed`: backups whose VM
/// changed after they were prepared (or gained its agent meanwhile).
async fn mint_again(
    engine: &Engine,
    tx: &mut AnyConnection,
    changed: Vec<PreparedBackup>,
    disk_accounts: &HashMap<String, Arc<DiskAccount>>,
    now: DateTime<Utc>,
    account_skew: TimeDelta,
) -> Result<Vec<(PreparedTask, Result<MintedTask, MintError>)>, EngineError> {
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let requests: Vec<&BackupRequest> = changed.iter().map(|b| &b.request).collect();
    let vms = vms_for_tasks(tx, &requests, &engine.account().name, disk_accounts).await?;
    let tasks = changed
        .iter()
        .filter_map(|backup| {
            let vm = vms.get(&backup.request.target.vm_id)?;
            Some(prepared_task(
                engine,
                &backup.request,
                &backup.job_id,
                vm.clone(),
                now,
            ))
        })
        .collect();
    mint_off_the_workers(engine, tasks, now, account_skew).await
}

/// Every task is a job's first attempt (no retries yet).
const ATTEMPT: u32 = 1;

/// When a task dispatched `now` must have its snapshot: the engine's snapshot timeout
/// after its run's start (or after now, for a run dispatched late).
fn snapshot_deadline(
    engine: &Engine,
    request: &BackupRequest,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    request.scheduled_at.max(now) + engine.config().snapshot_timeout
}

/// The metadata every snapshot of a task carries (the extension's `backupMetadata`).
fn snapshot_metadata(task_id: &str, target: &BackupTarget) -> Vec<(String, String)> {
    vec![
        ("TaskId".to_owned(), task_id.to_owned()),
        ("VaultId".to_owned(), target.vault_id.clone()),
        ("VmId".to_owned(), target.vm_id.clone()),
    ]
}

/// The id of a job's task (its first attempt's).
fn task_id(job_id: &str) -> String {
    format!("{job_id}_{ATTEMPT}")
}
/// Status and log blobs created at once: a remote account answers each in a round trip.
const CONCURRENT_BLOB_CREATES: usize = 32;
/// Below this many tasks, minting stays on one thread.
const PARALLEL_MINT_FROM: usize = 16;

/// Why one backup could not be prepared; its job fails with the Azure error for it.
#[derive(Debug, thiserror::Error)]
enum PreparationError {
    #[error(transparent)]
    Mint(MintError),
    #[error("the task's status and log blobs could not be created: {0}")]
    Storage(#[from] StorageError),
}

impl PreparationError {
    fn azure_error(&self) -> &'static AzureBackupError {
        match self {
            // Azure's error for settings the VM cannot open with its certificates.
            Self::Mint(MintError::Certificate(_)) => &CONFIG_PARSING,
            Self::Mint(_) | Self::Storage(_) => &INTERNAL_ERROR,
        }
    }
}

/// Pre-creates the task's status and log blobs: the real extension writes only to blobs
/// that exist. Answers the empty status blob's ETag.
async fn create_task_blobs(engine: &Engine, task: &PreparedTask) -> Result<String, StorageError> {
    engine
        .ensure_container(engine.storage(), &task.status_container)
        .await?;
    let storage = engine.storage();
    storage
        .put_block_blob(&task.status_container, &task.logs_blob, bytes::Bytes::new())
        .await?;
    storage
        .put_block_blob(
            &task.status_container,
            &task.status_blob,
            bytes::Bytes::new(),
        )
        .await
}

/// A task ready to mint; its blobs are created once it is minted.
struct PreparedTask {
    request: BackupRequest,
    /// Handed to the extension in the public objectStr; only its digest is stored.
    snapshot_task_token: String,
    job_id: String,
    task_id: String,
    status_container: String,
    status_blob: String,
    logs_blob: String,
    deadline_at: DateTime<Utc>,
    vm: TaskVm,
}

/// Mints every task, in order, on two threads when there are enough of them. The SAS
/// windows are moved by `account_skew` (the account's time less the service clock's).
fn mint_all(
    account: &AccountAccess,
    prepared: &[PreparedTask],
    now: DateTime<Utc>,
    account_skew: TimeDelta,
    snapshot_method: SnapshotMethod,
) -> Vec<Result<MintedTask, MintError>> {
    let mint = |task: &PreparedTask| {
        let target = &task.request.target;
        mint_task(&TaskInput {
            job_id: &task.job_id,
            attempt: ATTEMPT,
            command_start: task.request.scheduled_at,
            os_type: &task.vm.os_type,
            disks: &task.vm.disks,
            status_container: &task.status_container,
            status_blob: &task.status_blob,
            logs_blob: &task.logs_blob,
            blob_endpoint: &account.endpoint,
            account_name: &account.name,
            account_key: account.key.expose_secret(),
            sas_start: now + account_skew - SAS_START_BACKDATE,
            sas_expiry: task.deadline_at + account_skew,
            certificate_pem: &task.vm.certificate_pem,
            backup_metadata: snapshot_metadata(&task.task_id, target),
            snapshot_task_token: &task.snapshot_task_token,
            snapshot_method,
        })
    };
    if prepared.len() < PARALLEL_MINT_FROM {
        return prepared.iter().map(mint).collect();
    }
    let (first, second) = prepared.split_at(prepared.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| second.iter().map(mint).collect::<Vec<_>>());
        let mut minted: Vec<_> = first.iter().map(mint).collect();
        minted.extend(other.join().expect("minting does not panic"));
        minted
    })
}

/// The Backup job of a request, running its first task.
fn new_job(request: &BackupRequest, now: DateTime<Utc>) -> NewJob {
    let target = &request.target;
    let mut property_bag = BTreeMap::from([("VM Name".to_owned(), target.vm.vm.clone())]);
    if let Some(expiry) = request.rp_expires_at {
        property_bag.insert(
            "Recovery Point Expiry Time in UTC".to_owned(),
            expiry.format("%-m/%-d/%Y %-I:%M:%S %p").to_string(),
        );
    }
    NewJob {
        vault_id: target.vault_id.clone(),
        item_key: Some(target.item_key.clone()),
        entity_friendly_name: target.vm.vm.clone(),
        container_name: target.vm.native_container_name(),
        operation: JobOperation::Backup,
        status: JobStatus::InProgress,
        start_time: now,
        end_time: None,
        is_user_triggered: request.trigger == Trigger::OnDemand,
        extended_info: JobExtendedInfo {
            tasks_list: backup_job_tasks(now),
            property_bag,
            internal_property_bag: BTreeMap::from([(
                "IsInstantRpJob".to_owned(),
                "True".to_owned(),
            )]),
            ..JobExtendedInfo::default()
        },
    }
}

/// What minting needs of the VM: its OS, its disks and its agent's certificate.
#[derive(Clone)]
struct TaskVm {
    os_type: String,
    certificate_pem: String,
    disks: Vec<TaskDisk>,
    /// A disk's account this service is not configured with: the backup fails.
    unknown_account: Option<String>,
    /// Grows with every change to the disks or the certificate (registration, VM PUT): a
    /// task minted from this VM is the one the VM would give now while the VM's row still
    /// has this revision.
    task_revision: i64,
}

/// The accounts other than the primary, by lower-case name, with their offset from the
/// primary (none with a single account).
async fn disk_accounts(engine: &Engine) -> Result<HashMap<String, Arc<DiskAccount>>, EngineError> {
    let offsets = engine.account_offsets().await?;
    Ok(engine.accounts().all()[1..]
        .iter()
        .map(|storage| {
            let name = storage.account().name.to_ascii_lowercase();
            let account = DiskAccount {
                access: storage.account().clone(),
                skew_from_task: offsets.get(&name).copied().unwrap_or_default(),
            };
            (name, Arc::new(account))
        })
        .collect())
}

/// VMs rows read per statement.
const VMS_PER_STATEMENT: usize = 200;

/// What minting needs of each request's VM, by VM id; VMs without an agent are absent.
async fn vms_for_tasks(
    conn: &mut AnyConnection,
    requests: &[&BackupRequest],
    primary: &str,
    disk_accounts: &HashMap<String, Arc<DiskAccount>>,
) -> Result<HashMap<String, TaskVm>, EngineError> {
    let mut vms = HashMap::with_capacity(requests.len());
    let backend = Backend::of(conn);
    for chunk in requests.chunks(VMS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "select v.vm_id, v.os_type, v.task_revision, g.certificate_pem {}",
            vms_with_agents(chunk.len())
        ));
        let query = sqlx::query_as::<_, (String, String, i64, String)>(&sql);
        for (vm_id, os_type, task_revision, certificate_pem) in
            bind_vm_ids(query, chunk).fetch_all(&mut *conn).await?
        {
            vms.insert(
                vm_id,
                TaskVm {
                    os_type,
                    certificate_pem,
                    disks: Vec::new(),
                    unknown_account: None,
                    task_revision,
                },
            );
        }
        let vm_ids: Vec<&str> = chunk.iter().map(|r| r.target.vm_id.as_str()).collect();
        for (vm_id, disks) in tasks::disks_of_vms(conn, &vm_ids).await? {
            let Some(vm) = vms.get_mut(&vm_id) else {
                continue;
            };
            for disk in disks {
                let account = match disk.account {
                    Some(name) if !name.eq_ignore_ascii_case(primary) => {
                        let found = disk_accounts.get(&name.to_ascii_lowercase()).cloned();
                        if found.is_none() {
                            vm.unknown_account = Some(name);
                        }
                        found
                    }
                    _ => None,
                };
                vm.disks.push(TaskDisk {
                    lun: disk.lun,
                    container: disk.container,
                    blob: disk.blob,
                    account,
                });
            }
        }
    }
    Ok(vms)
}

/// The task revision of each request's VM, by VM id; VMs without an agent are absent.
async fn task_revisions(
    tx: &mut AnyConnection,
    requests: &[&BackupRequest],
) -> Result<HashMap<String, i64>, EngineError> {
    let mut revisions = HashMap::with_capacity(requests.len());
    let backend = Backend::of(tx);
    for chunk in requests.chunks(VMS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "select v.vm_id, v.task_revision {}",
            vms_with_agents(chunk.len())
        ));
        let query = sqlx::query_as::<_, (String, i64)>(&sql);
        revisions.extend(bind_vm_ids(query, chunk).fetch_all(&mut *tx).await?);
    }
    Ok(revisions)
}

/// The `from` and `where` clauses over `count` VMs (bound twice, `count` ids each time)
/// that run with a registered agent: the VMs a task can reach.
fn vms_with_agents(count: usize) -> String {
    // Both sides name the ids, so each is read by its primary key (PostgreSQL, on young
    // statistics, otherwise scanned every agent's certificate for each batch).
    format!(
        "from virtual_machine v join vm_guest g on g.vm_id = v.vm_id \
         where v.power_state = 'running' and v.vm_id in ({}) and g.vm_id in ({})",
        placeholders(1, count),
        placeholders(count + 1, count)
    )
}

/// `query` (over [`vms_with_agents`]) with the ids of `chunk`'s VMs bound for both sides.
fn bind_vm_ids<'q, O>(
    mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    chunk: &'q [&BackupRequest],
) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
    for _side in 0..2 {
        for request in chunk {
            query = query.bind(request.target.vm_id.as_str());
        }
    }
    query
}

/// The power state of each of `vm_ids` that exists.
async fn power_states(
    tx: &mut AnyConnection,
    vm_ids: &[&str],
) -> Result<HashMap<String, PowerState>, EngineError> {
    let mut states = HashMap::new();
    let backend = Backend::of(tx);
    for chunk in vm_ids.chunks(VMS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "select vm_id, power_state from virtual_machine where vm_id in ({})",
            placeholders(1, chunk.len())
        ));
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for vm_id in chunk {
            query = query.bind(*vm_id);
        }
        for (vm_id, state) in query.fetch_all(&mut *tx).await? {
            let state = state
                .parse()
                .map_err(|_| EngineError::corrupt("virtual_machine", "an unknown power state"))?;
            states.insert(vm_id, state);
        }
    }
    Ok(states)
}
