//! Collecting what the snapshot extension reports. The embedded blob store announces every
//! write to a status container; a remote account announces nothing, so the collector
//! polls instead: a conditional GET (`If-None-Match` with the ETag last judged) of each
//! outstanding task's status blob, every second, batched. Either way it reads the status blob, validates it against
//! the extension's schema and against the store (every reported snapshot must exist, be of
//! the task's disks and be newer than the task), and moves the task on: transitioning
//! statuses are noted, a success readies the transfer (which the caller starts: the run
//! loop passes the transfer phase's start, so the collector does not know it), an error
//! fails the job with the Azure error the extension code maps to. Tasks with no final
//! status by their deadline fail too.

use std::collections::{BTreeSet, HashMap};

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use sqlx::AnyConnection;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::engine::{Engine, StartTransfer};
use super::progress::{fail_backup_before_transfer, set_task_status, SNAPSHOT_TAKEN};
use super::tasks::{
    self, BackupTask, CollectedSnapshot, SnapshotDisk, TaskChange, TaskState,
    STATUS_CONTAINER_PREFIX,
};
use super::EngineError;
use crate::storage::{BlobContent, BlobPath, BlobWrite, Timestamp};
use vaultsim_protocol::extension::codes::{
    azure_error_for_extension_code, AzureBackupError, GUEST_AGENT_STATUS_UNAVAILABLE,
    SNAPSHOT_TASK_STATUS_ERROR,
};
use vaultsim_protocol::extension::snapshot_uri::SnapshotUri;
use vaultsim_protocol::extension::status::{parse_status_blob, StatusReport};

/// A status blob larger than this is not a status (the guest agent truncates at 128 KiB).
const MAX_STATUS_BYTES: u64 = 128 * 1024;
const STATUS_SUFFIX: &str = ".status";

/// Subscribes to writes of status blobs, when the storage announces them (`None`: it
/// does not, and the collector polls). Subscribe before sweeping existing blobs, so that
/// no write falls between the sweep and the subscription.
pub fn subscribe(engine: &Engine) -> Option<UnboundedReceiver<BlobWrite>> {
    engine.storage().watch_writes(STATUS_CONTAINER_PREFIX)
}

/// Tasks whose snapshot one collection recorded: they are `Transferring`, and their
/// transfers are to start at once (a transfer no one starts waits for a tick to adopt it).
#[derive(Debug, Default)]
#[must_use = "the transfers of collected snapshots are to start at once"]
pub struct ReadyForTransfer(Vec<String>);

impl ReadyForTransfer {
    pub fn task_ids(&self) -> &[String] {
        &self.0
    }

    pub fn start(self, engine: &Engine, start_transfer: StartTransfer) {
        for task_id in self.0 {
            start_transfer(engine, &task_id);
        }
    }
}

/// Collects status blobs until shutdown: as `writes` announces them, or by polling every
/// outstanding task's status blob when there are no announcements. Each collected
/// snapshot's transfer starts with `start_transfer` right after its status is recorded.
pub async fn run(
    engine: Engine,
    writes: Option<UnboundedReceiver<BlobWrite>>,
    start_transfer: StartTransfer,
    shutdown: watch::Receiver<bool>,
) {
    match writes {
        Some(writes) => follow_announcements(engine, writes, start_transfer, shutdown).await,
        None => poll(engine, start_transfer, shutdown).await,
    }
}

/// How often outstanding status blobs are polled when the storage announces no writes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Polls every task waiting for its snapshot: a conditional GET per status blob, so an
/// unchanged one costs a 304 and no judging.
async fn poll(engine: Engine, start_transfer: StartTransfer, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(error) = sweep(&engine, start_transfer).await {
            tracing::error!(error = %error.report(), "polling status blobs failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Collects the status blobs announced on `writes` until shutdown, in batches of what has
/// arrived: one query and one transaction serve many statuses.
async fn follow_announcements(
    engine: Engine,
    mut writes: UnboundedReceiver<BlobWrite>,
    start_transfer: StartTransfer,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            written = writes.recv() => {
                let Some(written) = written else { return };
                let mut task_ids = BTreeSet::new();
                task_ids.extend(status_task_id(&written));
                while task_ids.len() < COLLECTION_BATCH {
                    match writes.try_recv() {
                        Ok(more) => task_ids.extend(status_task_id(&more)),
                        Err(_) => break,
                    }
                }
                if task_ids.is_empty() {
                    continue;
                }
                let permit = engine.collection_permit().await;
                let engine = engine.clone();
                tokio::spawn(async move {
                    let task_ids: Vec<String> = task_ids.into_iter().collect();
                    match collect_many(&engine, &task_ids).await {
                        Ok(ready) => ready.start(&engine, start_transfer),
                        Err(error) => tracing::error!(error = %error.report(), tasks = task_ids.len(), "collecting status blobs failed"),
                    }
                    drop(permit);
                });
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Most statuses judged and recorded in one transaction.
const COLLECTION_BATCH: usize = 256;

/// The task a written blob reports on, when it is a status blob.
fn status_task_id(written: &BlobWrite) -> Option<String> {
    written.blob.strip_suffix(STATUS_SUFFIX).map(str::to_owned)
}

/// Reads the status blob of every task still waiting for its snapshot (after a restart,
/// writes made while the service was down were announced to no one; without
/// announcements, this is the poll). Each batch's transfers start as soon as it is
/// recorded.
pub async fn sweep(engine: &Engine, start_transfer: StartTransfer) -> Result<(), EngineError> {
    let waiting = tasks::in_state(engine.db(), TaskState::AwaitingSnapshot, i64::MAX).await?;
    let ids: Vec<String> = waiting.into_iter().map(|t| t.task_id).collect();
    // The futures are made first: a stream mapping borrowed items through a closure
    // trips the compiler's Send inference inside spawned tasks.
    let batches: Vec<_> = ids
        .chunks(COLLECTION_BATCH)
        .map(|chunk| async move {
            collect_many(engine, chunk)
                .await?
                .start(engine, start_transfer);
            Ok(())
        })
        .collect();
    let results: Vec<Result<(), EngineError>> = futures_util::stream::iter(batches)
        .buffer_unordered(SWEEP_BATCHES_AT_ONCE)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Batches of a sweep collected at once.
const SWEEP_BATCHES_AT_ONCE: usize = 4;
/// Status blobs read at once within a batch (each a round trip to a remote account).
const CONCURRENT_READS: usize = 32;

/// Reads a task's status blob and acts on it, once per version of the blob.
pub async fn collect(engine: &Engine, task_id: &str) -> Result<ReadyForTransfer, EngineError> {
    collect_many(engine, &[task_id.to_owned()]).await
}

/// [`collect`] for many tasks: their status blobs are judged, then every outcome is
/// recorded in one transaction; the tasks whose snapshot it collected are ready for
/// transfer once it commits.
pub async fn collect_many(
    engine: &Engine,
    task_ids: &[String],
) -> Result<ReadyForTransfer, EngineError> {
    let waiting = tasks::get_many(engine.db(), task_ids).await?;
    let waiting: Vec<BackupTask> = waiting
        .into_iter()
        .filter(|t| t.state == TaskState::AwaitingSnapshot)
        .collect();
    if waiting.is_empty() {
        return Ok(ReadyForTransfer::default());
    }
    // The disks its SAS URIs were minted for, unless one was attached or detached since.
    let disks = {
        let vm_ids: Vec<&str> = waiting.iter().map(|t| t.vm_id.as_str()).collect();
        let mut conn = engine.db().pool().acquire().await?;
        tasks::disks_of_vms(&mut conn, &vm_ids).await?
    };
    let skews = AccountOffsets::measure(engine).await?;
    let reads: Vec<_> = waiting
        .iter()
        .map(|task| read_status(engine, task))
        .collect();
    let reads: Vec<Result<Option<BlobContent>, EngineError>> = futures_util::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
    let mut verdicts = Vec::with_capacity(waiting.len());
    for (task, read) in waiting.into_iter().zip(reads) {
        let Some(BlobContent { etag, content }) = read? else {
            continue;
        };
        if content.is_empty() {
            continue;
        }
        let vm_disks = disks
            .get(&task.vm_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let verdict = judge(engine, &task, &content, vm_disks, &skews).await;
        verdicts.push((task, etag, verdict));
    }
    if verdicts.is_empty() {
        return Ok(ReadyForTransfer::default());
    }
    let now = engine.clock().now();
    let mut tx = engine.db().begin_write().await?;
    let mut etags = Vec::new();
    let mut snapshots = Vec::new();
    let mut failures = Vec::new();
    for (task, etag, verdict) in &verdicts {
        match verdict {
            Verdict::Transitioning => etags.push((
                task.task_id.as_str(),
                TaskChange {
                    status_etag: Some(etag),
                    ..TaskChange::default()
                },
            )),
            Verdict::Snapshot(snapshot) => snapshots.push((
                task.task_id.as_str(),
                TaskChange {
                    status_etag: Some(etag),
                    snapshot: Some(snapshot),
                    ..TaskChange::default()
                },
            )),
            Verdict::Failed { error, detail } => failures.push((task, etag, error, detail)),
        }
    }
    // A transitioning status only notes its ETag, so that it is not judged again.
    tasks::transition_many(
        &mut tx,
        TaskState::AwaitingSnapshot,
        TaskState::AwaitingSnapshot,
        &etags,
        now,
    )
    .await?;
    let moved = tasks::transition_many(
        &mut tx,
        TaskState::AwaitingSnapshot,
        TaskState::Transferring,
        &snapshots,
        now,
    )
    .await?;
    let mut ready = ReadyForTransfer::default();
    let mut jobs = Vec::with_capacity(moved.len());
    for (task, _, verdict) in &verdicts {
        if matches!(verdict, Verdict::Snapshot(_)) && moved.contains(&task.task_id) {
            jobs.push((task.vault_id.as_str(), task.job_id.as_str()));
            ready.0.push(task.task_id.clone());
            count_collected("snapshot");
        }
    }
    if !jobs.is_empty() {
        set_task_status(&mut tx, &jobs, SNAPSHOT_TAKEN, now).await?;
    }
    for (task, etag, error, detail) in failures {
        if fail_in(&mut tx, task, error, Some(detail), Some(etag), now).await? {
            count_collected("failed");
        }
    }
    tx.commit().await?;
    Ok(ready)
}

/// Fails every task still waiting for its snapshot past its deadline; a status written at
/// the last moment still counts, and starts its transfer instead.
pub async fn fail_overdue(
    engine: &Engine,
    now: DateTime<Utc>,
    start_transfer: StartTransfer,
) -> Result<(), EngineError> {
    loop {
        let overdue = tasks::overdue(engine.db(), now, 500).await?;
        if overdue.is_empty() {
            return Ok(());
        }
        for task in overdue {
            collect(engine, &task.task_id)
                .await?
                .start(engine, start_transfer);
            fail(
                engine,
                &task,
                &GUEST_AGENT_STATUS_UNAVAILABLE,
                Some("The snapshot extension reported no final status before the task's deadline."),
                now,
            )
            .await?;
        }
    }
}

/// Counts a task whose final status was collected: `snapshot` (its transfer follows) or
/// `failed` (the extension reported a failure, or the status was refused).
fn count_collected(outcome: &'static str) {
    metrics::counter!("vaultsim_tasks_collected_total", "outcome" => outcome).increment(1);
}

/// Fails a task whose deadline passed without a final status (an expired task).
async fn fail(
    engine: &Engine,
    task: &BackupTask,
    error: &AzureBackupError,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let mut tx = engine.db().begin_write().await?;
    if fail_in(&mut tx, task, error, detail, None, now).await? {
        metrics::counter!("vaultsim_tasks_expired_total").increment(1);
    }
    tx.commit().await?;
    Ok(())
}

/// Fails a task still waiting for its snapshot, its job and the item's last backup, in
/// the caller's transaction; `false`, and nothing done, when the task already moved on.
async fn fail_in(
    tx: &mut AnyConnection,
    task: &BackupTask,
    error: &AzureBackupError,
    detail: Option<&str>,
    etag: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let moved = tasks::transition(
        tx,
        &task.task_id,
        TaskState::AwaitingSnapshot,
        TaskState::Failed,
        TaskChange {
            status_etag: etag,
            ..TaskChange::default()
        },
        now,
    )
    .await?;
    if !moved {
        return Ok(false);
    }
    fail_backup_before_transfer(tx, &task.vault_id, &task.job_id, error, detail, now).await?;
    sqlx::query(
        "update protected_item set last_backup_status = 'Failed', last_backup_time = $3, \
         health_status = 'ActionRequired' where vault_id = $1 and item_key = $2",
    )
    .bind(&task.vault_id)
    .bind(&task.item_key)
    .bind(crate::store::to_micros(task.created_at))
    .execute(&mut *tx)
    .await?;
    tracing::info!(
        task_id = task.task_id,
        code = error.code,
        "backup task failed"
    );
    Ok(true)
}

/// The status blob's ETag and content when it changed since the version last judged;
/// `None` when it did not, or is gone.
async fn read_status(
    engine: &Engine,
    task: &BackupTask,
) -> Result<Option<BlobContent>, EngineError> {
    let at = BlobPath::base(&task.status_container, &task.status_blob);
    match engine
        .storage()
        .read_if_changed(at, task.status_etag.as_deref(), MAX_STATUS_BYTES)
        .await
    {
        Ok(read) => Ok(read),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

enum Verdict {
    Transitioning,
    Snapshot(CollectedSnapshot),
    Failed {
        error: AzureBackupError,
        detail: String,
    },
}

fn invalid(detail: impl Into<String>) -> Verdict {
    Verdict::Failed {
        error: SNAPSHOT_TASK_STATUS_ERROR,
        detail: detail.into(),
    }
}

/// How far each other account's time stands from the primary's, measured once per batch
/// (none with one account). A task keeps the primary's skew from its dispatch; a disk in
/// another account is judged by that plus its account's offset, which does not drift while
/// both keep the same kind of time.
struct AccountOffsets(HashMap<String, TimeDelta>);

impl AccountOffsets {
    async fn measure(engine: &Engine) -> Result<Self, EngineError> {
        Ok(Self(engine.account_offsets().await?))
    }

    /// The skew a task's disk in `account` (`None`: the primary) is judged by.
    fn skew(&self, task: &BackupTask, account: Option<&str>) -> TimeDelta {
        let offset = account
            .and_then(|name| self.0.get(&name.to_ascii_lowercase()))
            .copied()
            .unwrap_or_default();
        task.account_skew() + offset
    }
}

/// What a status blob's content means for its task. Snapshot stamps are the account's
/// time; the task's account skew (the account's time less the service clock's, measured
/// at dispatch) brings them back. A skew measured now would not do: while the simulated
/// clock is pinned, an account that keeps real time moves away from it by every second
/// the VM took, and a snapshot taken after the task would seem older than the task.
async fn judge(
    engine: &Engine,
    task: &BackupTask,
    content: &[u8],
    disks: &[SnapshotDisk],
    skews: &AccountOffsets,
) -> Verdict {
    if content.len() as u64 > MAX_STATUS_BYTES {
        return invalid("The status blob is larger than 128 KiB.");
    }
    // Block blobs written as page blobs are padded with spaces; JSON ignores them.
    let report = match parse_status_blob(content) {
        Ok(report) => report,
        Err(error) => return invalid(format!("The status blob is not a valid status: {error}.")),
    };
    if report.task_id != task.task_id {
        return invalid(format!(
            "The status blob reports task '{}', not this task: it is stale.",
            report.task_id
        ));
    }
    if report.is_transitioning() {
        return Verdict::Transitioning;
    }
    // A final status is judged once (its ETag is then recorded): its frozen time counts
    // once.
    if let Some(frozen) = report.frozen_for() {
        metrics::histogram!("vaultsim_agent_frozen_seconds").record(frozen.as_secs_f64());
    }
    let Some(consistency) = report.consistency() else {
        let code = report.code;
        return Verdict::Failed {
            error: azure_error_for_extension_code(code),
            detail: format!("Extension code {code}: {}", report.message()),
        };
    };
    match verify_snapshots(engine, task, &report, disks, skews).await {
        Ok(disks) => {
            let taken_at = disks
                .iter()
                .map(|d| {
                    Timestamp(d.snapshot).to_datetime() - skews.skew(task, d.account.as_deref())
                })
                .max()
                .unwrap_or(task.created_at);
            Verdict::Snapshot(CollectedSnapshot {
                consistency: tasks::recovery_point_type(consistency).to_owned(),
                disks,
                taken_at,
            })
        }
        Err(detail) => invalid(detail),
    }
}

/// Checks that the report names one successful snapshot per disk of the task, each one
/// existing in the store and taken after the task started.
async fn verify_snapshots(
    engine: &Engine,
    task: &BackupTask,
    report: &StatusReport,
    expected: &[SnapshotDisk],
    skews: &AccountOffsets,
) -> Result<Vec<SnapshotDisk>, String> {
    let mut found = Vec::with_capacity(expected.len());
    for info in &report.snapshots {
        if !info.is_successful {
            return Err("The status reports a failed disk snapshot as a success.".to_owned());
        }
        let uri = info
            .snapshot_uri
            .as_deref()
            .ok_or("A successful snapshot has no snapshotUri.")?;
        let (container, blob, snapshot) = parse_snapshot_uri(uri).ok_or_else(|| {
            format!(
                "The snapshotUri '{}' is not a blob snapshot URL.",
                strip_query(uri)
            )
        })?;
        let disk = expected
            .iter()
            .find(|d| d.container == container && d.blob == blob)
            .ok_or_else(|| {
                format!("The snapshot of '{container}/{blob}' is not of this VM's disks.")
            })?;
        let Ok(storage) = engine.storage_of(disk.account.as_deref()) else {
            return Err(format!(
                "The disk '{container}/{blob}' is in an account this service is not configured with."
            ));
        };
        let account_skew = skews.skew(task, disk.account.as_deref());
        let exists = storage
            .properties(BlobPath {
                container: &container,
                blob: &blob,
                snapshot: Some(snapshot),
            })
            .await
            .is_ok();
        if !exists {
            return Err(format!(
                "The snapshot '{}' of '{container}/{blob}' does not exist.",
                snapshot.to_snapshot_id()
            ));
        }
        if snapshot.to_datetime() - account_skew < task.created_at - skew_tolerance(account_skew) {
            return Err(format!(
                "The snapshot '{}' of '{container}/{blob}' is older than the task: it is stale.",
                snapshot.to_snapshot_id()
            ));
        }
        if found.iter().any(|d: &SnapshotDisk| d.lun == disk.lun) {
            return Err(format!("Disk '{container}/{blob}' is reported twice."));
        }
        found.push(SnapshotDisk {
            lun: disk.lun,
            container,
            blob,
            snapshot: snapshot.0,
            account: disk.account.clone(),
        });
    }
    if found.len() != expected.len() {
        return Err(format!(
            "The status reports {} disk snapshot(s); the VM has {} disk(s).",
            found.len(),
            expected.len()
        ));
    }
    found.sort_by_key(|d| d.lun);
    Ok(found)
}

/// How far a snapshot may seem to predate its task when the account keeps its own time:
/// the skew is known to the `Date` header's whole second. None when there is no skew.
fn skew_tolerance(account_skew: TimeDelta) -> TimeDelta {
    if account_skew.is_zero() {
        TimeDelta::zero()
    } else {
        TimeDelta::seconds(1)
    }
}

fn strip_query(uri: &str) -> &str {
    uri.split('?').next().unwrap_or(uri)
}

/// The container, blob and snapshot a `snapshotUri` names; `None` unless the snapshot id is
/// one the blob store could have given.
fn parse_snapshot_uri(uri: &str) -> Option<(String, String, Timestamp)> {
    let parsed = SnapshotUri::parse(uri)?;
    let snapshot = Timestamp::parse_snapshot_id(&parsed.snapshot)?;
    Some((parsed.container, parsed.blob, snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_uris_name_container_blob_and_snapshot() {
        let (container, blob, snapshot) = parse_snapshot_uri(
            "https://127.0.0.1/devstoreaccount1/vm-abc/datadisk%2D0.vhd?snapshot=2026-11-26T01:02:03.1234567Z",
        )
        .unwrap();
        assert_eq!(container, "vm-abc");
        assert_eq!(blob, "datadisk-0.vhd");
        assert_eq!(snapshot.to_snapshot_id(), "2026-11-26T01:02:03.1234567Z");
        assert!(parse_snapshot_uri("https://h/acct/c/b").is_none());
        assert!(
            parse_snapshot_uri("https://h/acct/c?snapshot=2026-11-26T01:02:03.1234567Z").is_none()
        );
        assert!(parse_snapshot_uri("https://h/acct/c/b?snapshot=yesterday").is_none());
    }
}
