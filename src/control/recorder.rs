//! Recording finished transfers: each one's recovery point (its expiry by the item's
//! policy as it stands when the point is recorded), its item's last backup and its job's
//! end, many transfers in one transaction (see [`super::group_commit`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::group_commit::Batched;
use super::policies;
use super::progress::{finish_jobs, JobEnding, JobToFinish};
use super::recovery_point_disks::RecoveryPointDisk;
use super::retention::{on_demand_expiry, scheduled_expiry, RecoveryPointExpiry};
use super::tasks::{self, BackupTask, CollectedSnapshot, TaskChange, TaskState, Trigger};
use super::EngineError;
use crate::resources::jobs::{Copied, JobStatus, JobTaskName, JobTaskStatus};
use crate::resources::policy::IaasVmPolicy;
use crate::resources::recovery_points::{
    self, NewRecoveryPoint, RecoveryPointDetails, RecoveryPointStorage, Tier, TierStatus, TierType,
};
use crate::store::statistics::GrowingTable;
use crate::store::{to_micros, value_rows, Backend, Db};

/// A finished transfer to record.
#[derive(Debug)]
pub struct PointToRecord {
    /// The task, its snapshot taken out.
    pub task: BackupTask,
    pub snapshot: CollectedSnapshot,
    /// The point's disks, as copied.
    pub disks: Vec<RecoveryPointDisk>,
    pub copied: Copied,
    /// When the transfer finished: the job's end.
    pub now: DateTime<Utc>,
}

impl PointToRecord {
    pub fn bytes_transferred(&self) -> u64 {
        self.disks.iter().map(|d| d.bytes_transferred).sum()
    }
}

/// Records finished transfers in groups, answering for each whether its point was
/// recorded: false when its task had moved on meanwhile (failed past its deadline, or
/// recorded by another engine).
#[derive(Debug)]
pub struct RecordPoints {
    /// The points this process recorded, for PostgreSQL's statistics: with statistics from
    /// an emptier table, reading each item's previous point (`transfer::previous_disks`)
    /// was planned as a walk through every point.
    points_added: GrowingTable,
}

impl Default for RecordPoints {
    fn default() -> Self {
        Self {
            points_added: GrowingTable::new("recovery_point"),
        }
    }
}

impl Batched for RecordPoints {
    type Request = PointToRecord;
    type Answer = bool;
    const MAX_BATCH: usize = 200;

    async fn execute(&self, db: &Db, points: &[PointToRecord]) -> Result<Vec<bool>, EngineError> {
        let recorded = write(db, points).await?;
        let added = recorded.iter().filter(|recorded| **recorded).count();
        self.points_added.added(db, added as u64).await;
        Ok(recorded)
    }
}

/// Records `points` in one transaction, answering for each whether it was recorded.
async fn write(db: &Db, points: &[PointToRecord]) -> Result<Vec<bool>, EngineError> {
    let mut tx = db.begin_write().await?;
    let changes: Vec<(&str, TaskChange)> = points
        .iter()
        .map(|p| {
            let change = TaskChange {
                bytes_transferred: Some(p.bytes_transferred() as i64),
                ..TaskChange::default()
            };
            (p.task.task_id.as_str(), change)
        })
        .collect();
    let now = points.iter().map(|p| p.now).max().unwrap_or_default();
    let moved = tasks::transition_many(
        &mut tx,
        TaskState::Transferring,
        TaskState::Completed,
        &changes,
        now,
    )
    .await?;
    let recorded: Vec<bool> = points
        .iter()
        .map(|p| moved.contains(&p.task.task_id))
        .collect();
    let to_record: Vec<&PointToRecord> = points
        .iter()
        .zip(&recorded)
        .filter_map(|(point, recorded)| recorded.then_some(point))
        .collect();
    if to_record.is_empty() {
        return Ok(recorded);
    }
    let sources = point_sources(&mut tx, &to_record).await?;
    let mut policies: HashMap<String, Arc<IaasVmPolicy>> = HashMap::new();
    let mut new_points = Vec::with_capacity(to_record.len());
    for point in &to_record {
        let source = sources.get(&point.task.task_id);
        let policy = match source.and_then(|s| s.policy.as_ref()) {
            Some(text) => Some(match policies.get(text) {
                Some(policy) => policy.clone(),
                None => {
                    let policy = Arc::new(policies::parse(text)?);
                    policies.insert(text.clone(), policy.clone());
                    policy
                }
            }),
            None => None,
        };
        let vm = source.and_then(|s| s.vm.clone());
        new_points.push(new_point(point, policy.as_deref(), vm));
    }
    recovery_points::record_many(&mut tx, new_points).await?;
    mark_items_backed_up(&mut tx, &to_record).await?;
    let properties: Vec<[(&str, String); 2]> = to_record
        .iter()
        .map(|p| {
            let bytes = p.bytes_transferred();
            [
                ("Backup Size", format!("{} MB", bytes.div_ceil(1 << 20))),
                ("Bytes Transferred", bytes.to_string()),
            ]
        })
        .collect();
    let endings = to_record
        .iter()
        .zip(&properties)
        .map(|(p, properties)| JobToFinish {
            vault_id: &p.task.vault_id,
            job_id: &p.task.job_id,
            ending: JobEnding {
                properties,
                copied: Some((JobTaskName::TransferToVault, p.copied)),
                ..JobEnding::new(
                    JobStatus::Completed,
                    &[(JobTaskName::TransferToVault, JobTaskStatus::Completed)],
                )
            },
            now: p.now,
        })
        .collect();
    finish_jobs(&mut tx, endings).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// What a point is made from besides its transfer: its item's policy (none once
/// protection stopped) and its VM's OS and size (none once the VM is gone).
#[derive(Debug, Default)]
struct PointSource {
    policy: Option<String>,
    vm: Option<(String, String)>,
}

/// Points whose sources are read per statement (4 parameters each).
const SOURCES_PER_STATEMENT: usize = 100;

/// The sources of `points`, by task id.
async fn point_sources(
    tx: &mut sqlx::AnyConnection,
    points: &[&PointToRecord],
) -> Result<HashMap<String, PointSource>, EngineError> {
    let backend = Backend::of(tx);
    let mut sources = HashMap::with_capacity(points.len());
    for chunk in points.chunks(SOURCES_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "select v.column1, b.properties, m.os_type, m.vm_size from (values {}) as v \
             left join protected_item p on p.vault_id = v.column2 and p.item_key = v.column3 \
             left join backup_policy b on b.vault_id = p.vault_id and b.name_key = p.policy_key \
             left join virtual_machine m on m.vm_id = v.column4",
            value_rows(chunk.len(), 4)
        ));
        let mut query =
            sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(&sql);
        for point in chunk {
            query = query
                .bind(point.task.task_id.clone())
                .bind(point.task.vault_id.clone())
                .bind(point.task.item_key.clone())
                .bind(point.task.vm_id.clone());
        }
        for (task_id, policy, os_type, vm_size) in query.fetch_all(&mut *tx).await? {
            let vm = os_type.zip(vm_size);
            sources.insert(task_id, PointSource { policy, vm });
        }
    }
    Ok(sources)
}

/// The recovery point of a finished transfer.
fn new_point(
    point: &PointToRecord,
    policy: Option<&IaasVmPolicy>,
    vm: Option<(String, String)>,
) -> NewRecoveryPoint {
    let task = &point.task;
    let expiry = expiry_of(policy, task, point.snapshot.taken_at);
    let (os_type, vm_size) = vm.unwrap_or_else(|| ("Linux".to_owned(), String::new()));
    NewRecoveryPoint {
        vault_id: task.vault_id.clone(),
        item_key: task.item_key.clone(),
        time: point.snapshot.taken_at,
        recovery_point_type: point.snapshot.consistency.clone(),
        tiers: vec![
            Tier {
                tier_type: TierType::InstantRP,
                status: TierStatus::Valid,
            },
            Tier {
                tier_type: TierType::HardenedRP,
                status: TierStatus::Valid,
            },
        ],
        details: RecoveryPointDetails {
            os_type,
            virtual_machine_size: vm_size,
            source_vm_storage_type: "NormalStorage".to_owned(),
            is_managed_virtual_machine: true,
            is_source_vm_encrypted: false,
            original_storage_account_option: false,
            zones: Vec::new(),
        },
        storage: Some(RecoveryPointStorage {
            task_id: task.task_id.clone(),
            expires_at: expiry.expires_at,
            instant_expires_at: Some(expiry.instant_expires_at),
            disks: serde_json::to_string(&point.disks).expect("disks serialize"),
        }),
    }
}

/// When the new point expires: by the policy's rules for a scheduled run, at the requested
/// time for an on-demand one.
fn expiry_of(
    policy: Option<&IaasVmPolicy>,
    task: &BackupTask,
    taken_at: DateTime<Utc>,
) -> RecoveryPointExpiry {
    let Some(policy) = policy else {
        // Protection stopped while the backup ran: keep the point until data is deleted.
        return RecoveryPointExpiry {
            expires_at: None,
            instant_expires_at: taken_at + chrono::TimeDelta::days(2),
        };
    };
    match task.trigger {
        Trigger::Scheduled => scheduled_expiry(policy, task.scheduled_at, taken_at),
        Trigger::OnDemand => on_demand_expiry(policy, taken_at, task.rp_expires_at),
    }
}

/// Items updated per statement (3 parameters each).
const ITEMS_PER_STATEMENT: usize = 100;

/// The items of recorded points show a completed backup at their task's creation, and
/// leave `IRPending` once they have a point.
async fn mark_items_backed_up(
    tx: &mut sqlx::AnyConnection,
    points: &[&PointToRecord],
) -> Result<(), EngineError> {
    let backend = Backend::of(tx);
    for chunk in points.chunks(ITEMS_PER_STATEMENT) {
        let sql = backend.bulk_statement(format!(
            "update protected_item set last_backup_status = 'Completed', \
             last_backup_time = v.column3, health_status = 'Passed', \
             protection_state = case when protection_state = 'IRPending' \
             then 'Protected' else protection_state end \
             from (values {}) as v where protected_item.vault_id = v.column1 \
             and protected_item.item_key = v.column2",
            value_rows(chunk.len(), 3)
        ));
        let mut query = sqlx::query(&sql);
        for point in chunk {
            query = query
                .bind(point.task.vault_id.clone())
                .bind(point.task.item_key.clone())
                .bind(to_micros(point.task.created_at));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
